package main

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/mcpgate/mcpgate/authn/authserver"
	"github.com/mcpgate/mcpgate/authn/devidp"
	"github.com/mcpgate/mcpgate/authn/websession"
	"github.com/mcpgate/mcpgate/config"
	"github.com/mcpgate/mcpgate/connections"
	"github.com/mcpgate/mcpgate/demo"
	"github.com/mcpgate/mcpgate/gateway"
	"github.com/mcpgate/mcpgate/internal/authrule"
)

const devAbout = `Run a gateway for local development, with no setup: it starts the demo
upstream servers "notes", "hr" and "calendar" (which needs each employee's
own OAuth authorization) on loopback, an embedded development OIDC
provider with the demo users alice, bob, carol and mallory, and the shipped
policy library (rego/) with its demo data, and serves them on --addr, which
must be a loopback address. Decisions are logged to stderr. MCP clients sign in through the
provider by themselves; scripts get a token with "mcpgate dev token NAME".
Not for production: the provider is insecure by design and the data is demo
data. Logs go to stderr.`

// devIssuerPath is where the development identity provider is mounted.
const devIssuerPath = "/dev/idp"

// Dev mode settings.
const (
	devSettleTimeout   = 10 * time.Second // wait for the demo upstreams before the banner
	devUpstreamTimeout = config.Duration(30 * time.Second)
	// devPolicyTimeout is generous: a laptop busy compiling (or a test run
	// under the race detector, beside every other test package, on two
	// cores) must not turn the demo into denials.
	devPolicyTimeout = config.Duration(2 * time.Second)
)

func runDev(ctx context.Context, args []string, e *env) int {
	if len(args) > 0 && args[0] == "token" {
		return runDevToken(ctx, args[1:], e)
	}
	fs := newFlagSet("dev", "[flags] | dev token NAME", devAbout, e)
	addr := fs.String("addr", config.DefaultListen, "`host:port` to listen on: 127.0.0.1, ::1 or localhost; port 0 picks a free port")
	var lf logFlags
	lf.register(fs, formatText)
	if code, ok := fs.parse(args); !ok {
		return code
	}
	if err := checkLoopback(*addr); err != nil {
		code, _ := fs.usageError(err.Error())
		return code
	}
	log := lf.logger(e.stderr)
	gc, err := tuneGC(e.getenv, "/sys/fs/cgroup", "/proc/self/cgroup")
	logGC(log, gc, err)
	return serveDev(ctx, *addr, log, e)
}

// serveDev starts the demo upstreams and a gateway for them on addr, prints
// the banner and serves until ctx ends. The gateway is the authorization
// server MCP clients see, federating sign-in to the development identity
// provider, with its store in a temporary directory.
func serveDev(ctx context.Context, addr string, log *slog.Logger, e *env) int {
	// The demo servers outlive ctx so that calls in flight can drain.
	demos, err := demo.StartAll(context.WithoutCancel(ctx))
	if err != nil {
		return fail(log, err)
	}
	defer func() { closeDemos(demos, log) }()
	cal, err := demo.StartCalendar(context.WithoutCancel(ctx), "127.0.0.1:0", &demo.CalendarOptions{Logger: log})
	if err != nil {
		return fail(log, err)
	}
	demos = append(demos, cal.Server)
	dir, err := os.MkdirTemp("", "mcpgate-dev-")
	if err != nil {
		return fail(log, err)
	}
	defer os.RemoveAll(dir)
	files, err := writeDevFiles(dir)
	if err != nil {
		return fail(log, err)
	}
	ln, err := listenLoopback(ctx, addr, e)
	if err != nil {
		return fail(log, err)
	}
	cfg := devConfig(ln.Addr().String(), demos, files)
	prov, err := devProvision(cfg)
	if err != nil {
		ln.Close()
		return fail(log, err)
	}
	st, err := openStore(ctx, cfg, prov)
	if err != nil {
		ln.Close()
		return fail(log, err)
	}
	defer st.Close()
	var as *authserver.Server // set before the listener serves
	idp, err := devidp.New(devidp.Options{Issuer: cfg.AuthorizationServer.IdP.Issuer, Audience: cfg.MCPURL(), Logger: log,
		Clients: []devidp.StaticClient{{ID: cfg.AuthorizationServer.IdP.ClientID, Secret: prov.AuthorizationServer.IdPClientSecret,
			RedirectURIs: []string{cfg.PublicURL + authserver.PathCallback, cfg.PublicURL + websession.PathCallback}, Name: "mcpgate dev"}},
		DevTokenMinter: func(ctx context.Context, u devidp.User) (string, time.Duration, error) {
			tok, _, ttl, err := as.IssueDirect(ctx, authserver.Subject{Sub: u.Name, Email: u.Email, Name: u.Name,
				Groups: u.Groups, IdP: cfg.AuthorizationServer.IdP.Issuer}, devTokenClient, nil)
			return tok, ttl, err
		}})
	if err != nil {
		ln.Close()
		return fail(log, err)
	}
	authz, closeLog, err := devAuthorizer(log, e.stderr)
	if err != nil {
		ln.Close()
		return fail(log, err)
	}
	defer closeLog()
	gw, asrv, stop, err := newGateway(ctx, cfg, prov, log, ln.Addr(), &gateway.Options{Routes: devRoutes(idp), Authorizer: authz, Store: st}, authz)
	if err != nil {
		ln.Close()
		return fail(log, err)
	}
	defer stop()
	as = asrv
	gw.Start(ctx)
	settle(ctx, gw, log)
	log.Warn("development identity provider enabled: insecure by design, loopback only", "issuer", idp.Issuer())
	printBanner(e.stdout, cfg, gw.Status(), idp)
	return serveGateway(ctx, gw, ln, cfg, log, e)
}

// devGenerated names the dev configuration's secrets, which are generated
// for each run and never read from the environment.
const devGenerated = "MCPGATE_DEV_GENERATED"

// devTokenClient is the client id of the tokens POST /dev/token issues.
const devTokenClient = "mcpgate-dev-token"

// devProvision provisions the dev configuration (it names no file) and
// adds what would come from Secrets in production: the IdP client's
// secret and the signing key, both made up for this run.
func devProvision(cfg *config.Config) (*config.Provisioned, error) {
	rest := *cfg
	rest.AuthorizationServer.Enabled = false // its secrets are made up below, not read
	prov, err := rest.Provision()
	if err != nil {
		return nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	prov.AuthorizationServer = &config.ProvisionedAuthorizationServer{IdPClientSecret: rand.Text(), SigningKeys: []crypto.Signer{key}}
	return prov, nil
}

// checkLoopback accepts host:port addresses whose host is a loopback IP or
// "localhost".
func checkLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("--addr %q is not host:port (e.g. 127.0.0.1:8080)", addr)
	}
	if !authrule.IsLoopbackHost(host) {
		return fmt.Errorf("dev mode serves only loopback addresses (127.0.0.1 or ::1, or localhost); got %s", addr)
	}
	return nil
}

// listenLoopback listens on addr and checks that the bound address is
// loopback too, in case "localhost" resolves elsewhere.
func listenLoopback(ctx context.Context, addr string, e *env) (net.Listener, error) {
	ln, err := e.listenOn(ctx, addr)
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	if tcp, ok := ln.Addr().(*net.TCPAddr); !ok || !tcp.IP.IsLoopback() {
		ln.Close()
		return nil, fmt.Errorf("listen: %s resolved to %s, which is not a loopback address", addr, ln.Addr())
	}
	return ln, nil
}

// devRoutes mounts the development identity provider on the gateway's
// listener: its issuer path, the root well-known paths MCP clients try, and
// POST /dev/token for scripts.
//
// Every route needs a loopback Host, as /mcp does: a web page that rebinds
// its own name to 127.0.0.1 cannot mint or read a demo token.
func devRoutes(idp *devidp.Provider) map[string]http.Handler {
	routes := map[string]http.Handler{
		devIssuerPath + "/": http.StripPrefix(devIssuerPath, idp.Handler()),
		"/dev/token":        idp.DevTokenHandler(),
	}
	for _, p := range idp.WellKnownPaths() {
		routes[p] = idp.Handler()
	}
	for p, h := range routes {
		routes[p] = loopbackHostOnly(h)
	}
	return routes
}

func loopbackHostOnly(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !authrule.IsLoopbackHostPort(r.Host) {
			http.Error(w, "the development identity provider answers only to a loopback Host", http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// devFiles are the files of a dev run: the store, and the keys of the
// vault and of web sign-in's cookies, generated for the run.
type devFiles struct {
	store, vaultKeys, cookieKeys string
}

// writeDevFiles generates the dev run's keys into dir.
func writeDevFiles(dir string) (devFiles, error) {
	f := devFiles{store: filepath.Join(dir, "store.db"), vaultKeys: filepath.Join(dir, "vault.keys"), cookieKeys: filepath.Join(dir, "cookie.keys")}
	for _, path := range []string{f.vaultKeys, f.cookieKeys} {
		key := make([]byte, 32)
		_, _ = rand.Read(key)
		if err := os.WriteFile(path, []byte("# generated for this mcpgate dev run\n"+base64.StdEncoding.EncodeToString(key)+"\n"), 0o600); err != nil {
			return f, fmt.Errorf("dev keys: %w", err)
		}
	}
	return f, nil
}

// devConfig returns the configuration of the dev gateway: the defaults,
// listening on listen, with every demo server as an upstream (the
// calendar with each employee's own OAuth token), the gateway as the
// authorization server federating to the development identity provider,
// web sign-in through it, the demo scope catalogue, and the store and keys
// of files.
func devConfig(listen string, demos []*demo.Server, files devFiles) *config.Config {
	cfg := config.Default()
	cfg.Listen = listen
	cfg.PublicURL = "http://" + listen
	cfg.AuthorizationServer.Enabled = true
	// The IdP client's secret and the signing key are made up for each run
	// (devProvision): the references only make the configuration complete.
	cfg.AuthorizationServer.IdP = config.IdP{Issuer: cfg.PublicURL + devIssuerPath, ClientID: "mcpgate",
		ClientSecret: &config.Secret{ValueFromEnv: devGenerated}}
	cfg.AuthorizationServer.SigningKeys = []config.Secret{{ValueFromEnv: devGenerated}}
	cfg.Scopes = devScopes()
	cfg.Store.Path = files.store
	cfg.Store.VaultKeyFile = files.vaultKeys
	cfg.WebSignIn = config.WebSignIn{Enabled: true, CookieKeyFile: files.cookieKeys, TTL: config.Duration(8 * time.Hour)}
	cfg.Console.Enabled = true // carol (admin) may use it, mallory may not
	cfg.Policy.Timeout = devPolicyTimeout
	cfg.ReadyzDetail = true // loopback only
	for _, d := range demos {
		s := config.Server{
			Name:              d.Name,
			URL:               d.URL,
			Transport:         config.TransportStreamableHTTP,
			AllowInsecureHTTP: true,
			Timeout:           devUpstreamTimeout,
			Labels:            map[string]string{"env": "demo"},
		}
		if d.Name == demo.CalendarName {
			// Its authorization server is discovered from its metadata,
			// and the gateway registers itself there.
			s.Auth = &config.UpstreamAuth{Kind: config.AuthOAuth, AllowInsecureHTTP: true, Scopes: []config.UpstreamScope{
				{Name: demo.ScopeCalendarRead, Level: config.ScopeLevelRead, Description: "Read your calendar"},
				{Name: demo.ScopeCalendarWrite, Level: config.ScopeLevelWrite, Description: "Create events in your calendar"},
			}}
		}
		cfg.Servers = append(cfg.Servers, s)
	}
	return cfg
}

// devScopes is the demo scope catalogue: what the consent page offers and
// the shipped policy grants by group (alice: notes:read and notes:write;
// bob: notes:read and hr; carol: all; mallory: none).
func devScopes() []config.Scope {
	return []config.Scope{
		{Name: "notes:read", Description: "Read your notes", Server: "notes", Level: "read"},
		{Name: "notes:write", Description: "Create and change notes", Server: "notes", Level: "write"},
		{Name: "notes:delete", Description: "Delete notes", Server: "notes", Level: "all"},
		{Name: "hr", Description: "Look up employees and salary reports", Server: "hr", Level: "all"},
	}
}

// settle waits, for a bounded time, until every upstream has been tried, so
// that the banner and the first tools/list show the demo tools.
func settle(ctx context.Context, gw *gateway.Gateway, log *slog.Logger) {
	sctx, cancel := context.WithTimeout(ctx, devSettleTimeout)
	defer cancel()
	if err := gw.WaitSettled(sctx); err != nil && ctx.Err() == nil {
		log.Warn("upstreams still connecting; serving what is available", "waited", devSettleTimeout)
	}
}

func closeDemos(demos []*demo.Server, log *slog.Logger) {
	for _, d := range demos {
		if err := d.Close(); err != nil {
			log.Warn("close demo server", "err", err)
		}
	}
}

// printBanner tells the developer where the gateway is and how to connect
// the usual clients to it.
func printBanner(w io.Writer, cfg *config.Config, st gateway.Status, idp *devidp.Provider) {
	url := cfg.MCPURL()
	fmt.Fprintln(w, "mcpgate dev — development mode (NOT for production: insecure demo sign-in, demo data only)")
	fmt.Fprintf(w, "  MCP endpoint:  %s\n", url)
	fmt.Fprintf(w, "  upstreams:     %s\n", describeUpstreams(cfg, st))
	fmt.Fprintf(w, "  sign-in:       %s/.well-known/oauth-authorization-server, federated to %s (demo users: %s)\n", cfg.PublicURL, idp.Issuer(), strings.Join(idp.Users(), ", "))
	fmt.Fprintf(w, "  your grants:   %s%s\n", cfg.PublicURL, authserver.PathGrants)
	fmt.Fprintf(w, "  connections:   %s%s (servers that need your own authorization, such as calendar)\n", cfg.PublicURL, connections.PathConnections)
	fmt.Fprintf(w, "  console:       %s/console (sign in as carol; mallory is refused)\n", cfg.PublicURL)
	fmt.Fprintf(w, "  token:         mcpgate dev token alice   or   curl -d user=alice %s/dev/token\n", cfg.PublicURL)
	fmt.Fprintf(w, "  Claude Code:   claude mcp add --transport http mcpgate %s\n", url)
	fmt.Fprintf(w, "  VS Code:       .vscode/mcp.json  {\"servers\": {\"mcpgate\": {\"type\": \"http\", \"url\": %q}}}\n", url)
	fmt.Fprintf(w, "  Cursor:        ~/.cursor/mcp.json {\"mcpServers\": {\"mcpgate\": {\"url\": %q}}}\n", url)
}

// describeUpstreams returns e.g. "notes (4 tools) http://…, hr (down: …) http://…".
func describeUpstreams(cfg *config.Config, st gateway.Status) string {
	urls := make(map[string]string, len(cfg.Servers))
	for _, s := range cfg.Servers {
		urls[s.Name] = s.URL
	}
	parts := make([]string, len(st.Upstreams))
	for i, u := range st.Upstreams {
		state := fmt.Sprintf("%d tools", u.Tools)
		if u.State != gateway.StateReady {
			state = string(u.State)
			if u.Error != "" {
				state += ": " + u.Error
			}
		}
		parts[i] = fmt.Sprintf("%s (%s) %s", u.Name, state, urls[u.Name])
	}
	return strings.Join(parts, ", ")
}
