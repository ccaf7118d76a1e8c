package config

import (
	"net"
	"strings"
	"time"
)

// Default values, applied to keys that are omitted from the file.
const (
	DefaultListen                      = "127.0.0.1:8080"
	DefaultMaxRequestBytes    ByteSize = 4 << 20
	DefaultShutdownGrace               = Duration(30 * time.Second)
	DefaultSessionIdleTimeout          = Duration(30 * time.Minute)
	DefaultSeparator                   = "__"
	DefaultServerTimeout               = Duration(60 * time.Second)
	DefaultTransport                   = TransportStreamableHTTP
)

// Upstream transports.
const (
	// TransportStreamableHTTP is the MCP Streamable HTTP transport.
	TransportStreamableHTTP = "streamable-http"
	// TransportSSE is the legacy MCP HTTP+SSE transport.
	TransportSSE = "sse"
)

// MaxFileSize is the largest configuration file accepted, in bytes.
const MaxFileSize = 1 << 20

// mcpPath is appended to the public URL to form the MCP endpoint.
const mcpPath = "/mcp"

// Config is the raw configuration of the gateway, as written in YAML.
type Config struct {
	// Listen is the host:port the gateway listens on.
	// If omitted, defaults to "127.0.0.1:8080".
	Listen string `yaml:"listen"`

	// PublicURL is the absolute http(s) base URL clients use to reach the
	// gateway; the MCP endpoint is PublicURL + "/mcp". It must not have a
	// query or fragment, and a trailing slash is removed.
	// If empty, defaults to "http://" + Listen (with "localhost" standing
	// in for an empty or unspecified listen host).
	PublicURL string `yaml:"public_url,omitempty"`

	// MaxRequestBytes is the largest request body accepted from a client.
	// It is a byte count or a size such as "512KiB" or "4MiB" and must be
	// greater than zero. If omitted, defaults to 4MiB.
	MaxRequestBytes ByteSize `yaml:"max_request_bytes"`

	// ShutdownGrace is how long in-flight requests may run after a
	// shutdown signal. It must not be negative; zero stops at once.
	// If omitted, defaults to 30s.
	ShutdownGrace Duration `yaml:"shutdown_grace"`

	// SessionIdleTimeout closes client sessions idle for this long; zero
	// means sessions never expire. It must not be negative.
	// If omitted, defaults to 30m.
	SessionIdleTimeout Duration `yaml:"session_idle_timeout"`

	// SessionKeyFile is the path of a file holding the keys that seal a
	// stateful session's state into its session id, so that every replica
	// sharing the keys can serve the session: one base64-encoded 32-byte
	// key per line, the first seals, every key opens; empty lines and lines
	// starting with '#' are ignored. It is read once, when the configuration
	// is provisioned ([Config.Provision]). If omitted, sessions live only on the replica that created
	// them (see docs/deployment.md).
	SessionKeyFile string `yaml:"session_key_file,omitempty"`

	// ReadyzDetail makes /readyz list every upstream's state and last
	// error (which can name its URL), name collisions and the policy's
	// status. /readyz answers whoever reaches the listener, without
	// sign-in, so by default it says only {"ready": true|false}; the same
	// detail is in the logs and metrics (mcpgate.upstream.up). Turn it on
	// where only operators reach the listener. If omitted, defaults to
	// false.
	ReadyzDetail bool `yaml:"readyz_detail,omitempty"`

	// TrustedProxies are the addresses (IPs or CIDR prefixes, e.g.
	// "10.0.0.0/8") of the reverse proxies and load balancers in front of
	// the gateway. The client address policies see (input.request.
	// remote_addr) is the connection's peer, unless the peer is one of
	// these: then it is the nearest address in X-Forwarded-For that is not.
	// If omitted, X-Forwarded-For is never trusted.
	TrustedProxies []string `yaml:"trusted_proxies,omitempty"`

	// Naming controls how upstream tool and prompt names are exposed.
	Naming Naming `yaml:"naming"`

	// Servers are the approved upstream MCP servers. At least one is
	// required.
	Servers []Server `yaml:"servers"`

	// Scopes is the scope catalogue: the OAuth scopes clients may ask for,
	// each naming a server (or "*") and a level. When the catalogue has
	// entries for a server, a call to it needs a token carrying one of
	// them that covers the call (the policy library's rule; otherwise the
	// answer is HTTP 403 insufficient_scope naming the scope to ask for),
	// and every grant of a scope is a policy decision. If omitted, no
	// scope is required by the catalogue.
	Scopes []Scope `yaml:"scopes,omitempty"`

	// Auth configures sign-in through the organisation's OIDC provider.
	Auth Auth `yaml:"auth"`

	// AuthorizationServer makes the gateway the OAuth authorization server
	// MCP clients see, federating sign-in to the corporate IdP.
	AuthorizationServer AuthorizationServer `yaml:"authorization_server"`

	// WebSignIn signs employees in, in a browser, to the gateway's own
	// pages.
	WebSignIn WebSignIn `yaml:"web_sign_in"`

	// IdentityAssertions holds the keys of the identity assertions the
	// gateway signs for upstreams of auth kind identity_assertion.
	IdentityAssertions IdentityAssertions `yaml:"identity_assertions"`

	// Limits bound what one caller can make the gateway hold.
	Limits Limits `yaml:"limits"`

	// Policy says where the Rego policies come from.
	Policy Policy `yaml:"policy"`

	// Telemetry configures traces, metrics and what spans say about callers.
	Telemetry Telemetry `yaml:"telemetry"`

	// Approval pins the definitions the security team approved of each
	// server's tools, prompts and resources (docs/approval.md).
	Approval Approval `yaml:"approval"`

	// Store keeps the state that must survive restarts and be shared by
	// replicas. If omitted, there is none, which only a gateway without
	// session_key_file may run with.
	Store Store `yaml:"store"`

	// Console is the security team's web console (docs/console.md).
	Console Console `yaml:"console"`
}

// Naming controls how upstream names are exposed to clients.
type Naming struct {
	// Separator joins a server prefix and an upstream name, as in
	// "notes__search". It is 1-4 characters from A-Z, a-z, 0-9, '_', '-'
	// and '.'. If omitted, defaults to "__".
	Separator string `yaml:"separator"`
}

// Server is one approved upstream MCP server.
type Server struct {
	// Name identifies the server in logs and policy. It is required,
	// unique, 1-32 characters of lowercase letters, digits, '-' and '_',
	// starts and ends with a letter or digit, and must not contain the
	// naming separator.
	Name string `yaml:"name"`

	// URL is the absolute URL of the upstream MCP endpoint. It is
	// required and must use https, unless AllowInsecureHTTP is set.
	URL string `yaml:"url"`

	// Transport is the upstream transport, "streamable-http" or "sse".
	// If omitted, defaults to "streamable-http".
	Transport string `yaml:"transport"`

	// AllowInsecureHTTP permits an http:// URL. If omitted, defaults to
	// false.
	AllowInsecureHTTP bool `yaml:"allow_insecure_http,omitempty"`

	// Timeout bounds each call to the upstream and must be greater than
	// zero. If omitted, defaults to 60s.
	Timeout Duration `yaml:"timeout"`

	// Prefix is prepended, with the naming separator, to the names of the
	// server's tools and prompts. If nil (omitted), the server name is
	// used; if it points to "", names pass through unprefixed. A non-empty
	// prefix follows the same rules as Name. Use [Server.EffectivePrefix].
	Prefix *string `yaml:"prefix,omitempty"`

	// Labels are free-form key/value pairs for policy. Keys must not be
	// empty. If omitted, there are no labels.
	Labels map[string]string `yaml:"labels,omitempty"`

	// Headers are extra HTTP headers sent only to this upstream. If
	// omitted, none are sent.
	//
	// Deprecated: write auth: {kind: headers, headers: [...]}. Setting both
	// headers and auth is a validation error.
	Headers []Header `yaml:"headers,omitempty"`

	// Auth is how the gateway authenticates itself to the upstream
	// (docs/upstreams.md). If omitted, it sends only Headers.
	Auth *UpstreamAuth `yaml:"auth,omitempty"`

	// Approval overrides approval.mode for this server: "enforce", "warn"
	// or "off". If omitted, approval.mode applies.
	Approval string `yaml:"approval,omitempty"`
}

// Default returns a configuration holding every default and no servers.
func Default() *Config {
	return &Config{
		Listen:             DefaultListen,
		MaxRequestBytes:    DefaultMaxRequestBytes,
		ShutdownGrace:      DefaultShutdownGrace,
		SessionIdleTimeout: DefaultSessionIdleTimeout,
		Naming:             Naming{Separator: DefaultSeparator},
		Auth:               Auth{Leeway: DefaultLeeway, TokenCacheSize: DefaultTokenCacheSize},
		AuthorizationServer: AuthorizationServer{AccessTokenTTL: DefaultAccessTokenTTL, RefreshTokenTTL: DefaultRefreshTokenTTL,
			RefreshMaxLifetime: DefaultRefreshMaxLifetime, ConsentTTL: DefaultConsentTTL},
		WebSignIn: WebSignIn{TTL: DefaultWebSessionTTL},
		Policy:    Policy{Library: DefaultPolicyLibrary, Timeout: DefaultPolicyTimeout, DecisionLogBuffer: DefaultDecisionLogBuffer},
		Limits: Limits{MaxInitializeBytes: DefaultMaxInitializeBytes, SessionsPerUser: DefaultSessionsPerUser,
			MaxConnections: DefaultMaxConnections, IdleTimeout: DefaultIdleTimeout, BodyReadTimeout: DefaultBodyReadTimeout,
			MaxUpstreamMessageBytes: DefaultMaxUpstreamMessageBytes},
		Store: Store{Kind: DefaultStoreKind},
	}
}

// setDefaults fills the defaults of a server before its YAML is decoded
// over it, so omitted keys keep them and explicit values are kept as is.
func (s *Server) setDefaults() {
	*s = Server{Transport: DefaultTransport, Timeout: DefaultServerTimeout}
}

// MCPURL returns the public URL of the MCP endpoint.
func (c *Config) MCPURL() string {
	base := c.PublicURL
	if base == "" {
		base = defaultPublicURL(c.Listen)
	}
	return strings.TrimRight(base, "/") + mcpPath
}

// EffectivePrefix returns the prefix used for the server's names: the
// server name when Prefix is nil, otherwise *Prefix (possibly empty).
func (s *Server) EffectivePrefix() string {
	if s.Prefix == nil {
		return s.Name
	}
	return *s.Prefix
}

// normalize derives values that depend on other keys after decoding.
func (c *Config) normalize() {
	if c.PublicURL == "" {
		c.PublicURL = defaultPublicURL(c.Listen)
	}
	c.PublicURL = trimSlash(c.PublicURL)
}

func trimSlash(s string) string { return strings.TrimRight(s, "/") }

// defaultPublicURL returns "http://" + listen, or "" when listen is not a
// valid host:port (validation reports that on listen).
func defaultPublicURL(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return ""
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port)
}
