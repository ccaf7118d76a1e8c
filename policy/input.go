package policy

import (
	"sync"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
)

// Phases of a decision. The phase tells a policy what is being decided.
const (
	// PhaseList decides whether a feature appears in the caller's lists
	// (tools/list, prompts/list, resources/list, resources/templates/list).
	// Arguments are never present in this phase.
	PhaseList = "list"
	// PhaseCall decides one request: tools/call (with arguments),
	// prompts/get, resources/read, completion/complete, resources/subscribe.
	PhaseCall = "call"
	// PhaseInitialize decides whether a caller may open a session at all.
	PhaseInitialize = "initialize"
	// PhaseGrant decides which scopes an OAuth client gets for a user, in
	// authorization-server mode: at the first authorization, at a step-up
	// and at every refresh. It is evaluated with [Engine.Grant]
	// (data.mcpgate.authz.grant), not Decide.
	PhaseGrant = "grant"
	// PhaseRegister decides whether an OAuth client may register, by
	// dynamic registration (RFC 7591) or with a client ID metadata
	// document, in authorization-server mode. No user is signed in yet.
	PhaseRegister = "register"
	// PhaseUpstream decides which scopes the gateway asks an upstream's own
	// authorization server for when it obtains an upstream credential
	// (client_credentials, token_exchange, or the oauth connect page where
	// the user authorizes the upstream once). It is evaluated with
	// [Engine.UpstreamScopes] (data.mcpgate.authz.upstream_scopes), not
	// Decide. The gateway asks for the intersection of what the policy
	// grants and the server's upstream scope catalogue.
	PhaseUpstream = "upstream"
	// PhaseConsole decides whether a signed-in employee may view a page
	// of the web console (method console/<page>) or revoke there
	// (MethodConsoleRevoke). It is decided by Decide.
	PhaseConsole = "console"
)

// Methods of the console phase (Input.Method).
const (
	MethodConsoleServers   = "console/servers"
	MethodConsoleExplorer  = "console/explorer"
	MethodConsoleDecisions = "console/decisions"
	MethodConsolePolicy    = "console/policy"
	// MethodConsoleRevoke revokes a grant of the authorization server
	// (Input.Client names the OAuth client) or an employee's upstream
	// connection (Input.Server names the upstream).
	MethodConsoleRevoke = "console/revoke"
)

// Methods of the authorization-server phases (Input.Method).
const (
	MethodAuthorize = "oauth/authorize" // a grant at the authorization endpoint (first grant, step-up)
	MethodToken     = "oauth/token"     // a grant at the token endpoint (refresh)
	MethodRegister  = "oauth/register"  // a registration, dynamic or by metadata document
)

// Methods of the upstream phase (Input.Method): why an upstream credential
// is obtained.
const (
	// MethodUpstreamToken is a credential for one MCP request (its target
	// is in the input), by client_credentials or token_exchange.
	MethodUpstreamToken = "upstream/token"
	// MethodUpstreamConnect is the oauth connect page, where the user
	// authorizes the upstream once, for every call to come (no target).
	MethodUpstreamConnect = "upstream/connect"
)

// Why a grant is decided (Grant.Reason).
const (
	// GrantAuthorize is the first grant of a client for the user.
	GrantAuthorize = "authorize"
	// GrantStepUp is a client asking for more than it was granted before.
	GrantStepUp = "step_up"
	// GrantRefresh is a refresh: the grant is decided again, and may shrink.
	GrantRefresh = "refresh"
)

// How a client registers (Registration.Method).
const (
	// RegistrationDynamic is RFC 7591 dynamic client registration.
	RegistrationDynamic = "dynamic"
	// RegistrationMetadataDocument is a client whose id is the https URL
	// of its client ID metadata document.
	RegistrationMetadataDocument = "metadata_document"
)

// Input is the document a policy sees as `input`. It is a public API for
// the security team: docs/policy.md specifies it with a JSON Schema
// (docs/policy-input.schema.json), and a test validates inputs the gateway
// builds against that schema. Change it only deliberately, with the docs.
type Input struct {
	Phase  string `json:"phase"`
	Method string `json:"method"`

	// User is the signed-in user. It is left out when zero, as in the
	// register phase, where nobody is signed in; the gateway always sets
	// it in the other phases.
	User User `json:"user,omitzero"`
	// Token is the access token of an MCP request. It is left out when
	// zero, as in the grant and register phases, which have none.
	Token Token `json:"token,omitzero"`
	// Client is, in the MCP phases, the MCP client as it named itself
	// (initialize clientInfo, or the 2026-07-28 per-request clientInfo),
	// when known; in the grant and register phases, the OAuth client.
	Client *Client `json:"client,omitempty"`
	// Server is the upstream the target belongs to (absent for initialize);
	// in the upstream phase, the upstream the credential is for.
	Server *Server `json:"server,omitempty"`

	// Exactly one target is present in the list and call phases; at most
	// one in the upstream phase (none on the connect page).
	Tool     *Tool     `json:"tool,omitempty"`
	Prompt   *Prompt   `json:"prompt,omitempty"`
	Resource *Resource `json:"resource,omitempty"`

	// Arguments are the tool's arguments (tools/call), the prompt's
	// arguments (prompts/get) or the completion argument
	// (completion/complete), in the call phase only.
	Arguments map[string]any `json:"arguments,omitempty"`
	// ArgumentsSize is the size in bytes of the arguments as the client
	// sent them (not part of the input): the decision log bounds large
	// ones at once rather than queueing them whole (settle).
	ArgumentsSize int `json:"-"`

	// Catalogue is, in the grant phase, the whole scope catalogue of the
	// configuration; in the call phase, only its entries for the target's
	// server and for "*" (nil when none applies).
	Catalogue []Scope `json:"catalogue,omitempty"`
	// Grant is what is asked for, in the grant phase only.
	Grant *Grant `json:"grant,omitempty"`
	// Registration is the client's registration, in the register phase
	// only.
	Registration *Registration `json:"registration,omitempty"`
	// UpstreamScopes is, in the upstream phase only, the upstream scope
	// catalogue of Server: the scopes its authorization server knows, each
	// with the level of tools it covers (nil when none is configured).
	UpstreamScopes []UpstreamScope `json:"upstream_scopes,omitempty"`
	// Employee is, in the console phase's console/revoke only, the
	// employee whose grant or connection the signed-in operator (User)
	// revokes.
	Employee *Employee `json:"employee,omitempty"`

	Request Request `json:"request"`
}

// Employee names an employee who is not the one signed in.
type Employee struct {
	Sub string `json:"sub"`
}

// User is the signed-in person or workload.
type User struct {
	Sub    string         `json:"sub"`
	Iss    string         `json:"iss"`
	Email  string         `json:"email,omitempty"`
	Name   string         `json:"name,omitempty"`
	Groups []string       `json:"groups"`
	Claims map[string]any `json:"claims"`
	// Memo, when set, keeps the user's Rego value once converted, for a
	// caller that builds the same User for many requests (the gateway,
	// once per verified token): the claims are converted once, not per
	// decision. The fields must not change once the memo is used.
	Memo *UserMemo `json:"-"`
}

// UserMemo holds a User's converted value (User.Memo). The zero value is
// ready to use.
type UserMemo struct {
	once sync.Once
	v    ast.Value
	err  error
}

// Token describes the access token the request carried.
type Token struct {
	Scopes   []string `json:"scopes"`
	ClientID string   `json:"client_id,omitempty"`
	Aud      []string `json:"aud"`
}

// Client is an MCP client's self-description (not authenticated), or, in
// the grant and register phases, the OAuth client.
type Client struct {
	// ID is the OAuth client id, in the grant and register phases (in the
	// register phase, only when the client has one: the URL of a client ID
	// metadata document).
	ID      string `json:"id,omitempty"`
	Name    string `json:"name"`
	Version string `json:"version,omitempty"`
}

// Server is an approved upstream server as configured.
type Server struct {
	Name   string            `json:"name"`
	Labels map[string]string `json:"labels"`
}

// Annotations are a tool's behaviour hints, as the upstream declares them
// (untrusted: an upstream can claim anything; approval pins them, see
// docs/approval.md).
type Annotations struct {
	ReadOnlyHint    *bool  `json:"readOnlyHint,omitempty"`
	DestructiveHint *bool  `json:"destructiveHint,omitempty"`
	IdempotentHint  *bool  `json:"idempotentHint,omitempty"`
	OpenWorldHint   *bool  `json:"openWorldHint,omitempty"`
	Title           string `json:"title,omitempty"`
}

// Tool is the target tool.
type Tool struct {
	Name         string       `json:"name"`          // as the client sees it: "notes__read_note"
	UpstreamName string       `json:"upstream_name"` // as the upstream calls it: "read_note"
	Server       string       `json:"server"`
	Description  string       `json:"description,omitempty"`
	Annotations  *Annotations `json:"annotations,omitempty"`
	// Approval is the target's standing against the lock file (the
	// Approval constants; docs/approval.md); empty, and left out, when
	// approval is off for its server.
	Approval string `json:"approval,omitempty"`
}

// The standings of a target against the lock file (Tool.Approval,
// Prompt.Approval, Resource.Approval).
const (
	ApprovalApproved = "approved" // pinned, unchanged
	ApprovalModified = "modified" // pinned with another definition
	ApprovalNew      = "new"      // not in the lock
)

// Prompt is the target prompt.
type Prompt struct {
	Name         string `json:"name"`
	UpstreamName string `json:"upstream_name"`
	Server       string `json:"server"`
	Description  string `json:"description,omitempty"`
	Approval     string `json:"approval,omitempty"`
}

// Resource is the target resource or resource template.
type Resource struct {
	URI         string `json:"uri,omitempty"`          // resources/read, resources/subscribe, list of a resource
	URITemplate string `json:"uri_template,omitempty"` // list of a template, completion of a template
	Name        string `json:"name,omitempty"`
	Server      string `json:"server"`
	MIMEType    string `json:"mime_type,omitempty"`
	Description string `json:"description,omitempty"`
	Approval    string `json:"approval,omitempty"`
}

// Request is about the HTTP/MCP request itself.
type Request struct {
	SessionID       string    `json:"session_id,omitempty"`
	ProtocolVersion string    `json:"protocol_version,omitempty"`
	RemoteAddr      string    `json:"remote_addr,omitempty"`
	Time            time.Time `json:"time"`
}

// Scope is an entry of the scope catalogue (config scopes): an OAuth scope
// that names a server and the level of its tools it covers.
type Scope struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	// Server is a configured server's name, or "*" for every server.
	Server string `json:"server"`
	// Level is "read", "write" or "all" (the policy library's tool levels);
	// always set (the configuration's default is "all").
	Level string `json:"level"`
}

// UpstreamScope is an entry of a server's upstream scope catalogue: a scope
// of the upstream's own authorization server and the level of the
// upstream's tools it covers.
type UpstreamScope struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	// Level is "read", "write" or "all", as for Scope.Level.
	Level string `json:"level"`
}

// Grant is what a client asks for in the grant phase.
type Grant struct {
	// Requested are the scopes the client asks for.
	Requested []string `json:"requested"`
	// Current are the scopes the client was granted before for this user
	// (null at the first authorization).
	Current []string `json:"current"`
	// Reason is GrantAuthorize, GrantStepUp or GrantRefresh.
	Reason string `json:"reason"`
}

// Registration is an OAuth client's registration, in the register phase:
// its RFC 7591 metadata, or that of its client ID metadata document. All of
// it is the client's claim.
type Registration struct {
	// Method is RegistrationDynamic or RegistrationMetadataDocument.
	Method string `json:"method"`
	// ClientID is the URL of the metadata document; empty for a dynamic
	// registration, whose id is assigned after the decision.
	ClientID     string   `json:"client_id,omitempty"`
	ClientName   string   `json:"client_name,omitempty"`
	ClientURI    string   `json:"client_uri,omitempty"`
	RedirectURIs []string `json:"redirect_uris"`
	// RedirectHosts are the hosts of RedirectURIs, once each, as
	// url.URL.Hostname gives them (no port, no brackets), in lower case.
	RedirectHosts           []string `json:"redirect_hosts"`
	GrantTypes              []string `json:"grant_types"`
	TokenEndpointAuthMethod string   `json:"token_endpoint_auth_method,omitempty"`
	// Scope is the space-separated scope the client registers with.
	Scope           string `json:"scope,omitempty"`
	SoftwareID      string `json:"software_id,omitempty"`
	SoftwareVersion string `json:"software_version,omitempty"`
}
