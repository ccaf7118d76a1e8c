package policy

import "time"

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
)

// Input is the document a policy sees as `input`. It is a public API for
// the security team: docs/policy.md specifies it with a JSON Schema
// (docs/policy-input.schema.json), and a test validates inputs the gateway
// builds against that schema. Change it only deliberately, with the docs.
type Input struct {
	Phase  string `json:"phase"`
	Method string `json:"method"`

	User  User  `json:"user"`
	Token Token `json:"token"`
	// Client is the MCP client as it named itself (initialize clientInfo, or
	// the 2026-07-28 per-request clientInfo), when known.
	Client *Client `json:"client,omitempty"`
	// Server is the upstream the target belongs to (absent for initialize).
	Server *Server `json:"server,omitempty"`

	// Exactly one target is present in the list and call phases.
	Tool     *Tool     `json:"tool,omitempty"`
	Prompt   *Prompt   `json:"prompt,omitempty"`
	Resource *Resource `json:"resource,omitempty"`

	// Arguments are the tool's arguments (tools/call), the prompt's
	// arguments (prompts/get) or the completion argument
	// (completion/complete), in the call phase only.
	Arguments map[string]any `json:"arguments,omitempty"`

	Request Request `json:"request"`
}

// User is the signed-in person or workload.
type User struct {
	Sub    string         `json:"sub"`
	Iss    string         `json:"iss"`
	Email  string         `json:"email,omitempty"`
	Name   string         `json:"name,omitempty"`
	Groups []string       `json:"groups"`
	Claims map[string]any `json:"claims"`
}

// Token describes the access token the request carried.
type Token struct {
	Scopes   []string `json:"scopes"`
	ClientID string   `json:"client_id,omitempty"`
	Aud      []string `json:"aud"`
}

// Client is an MCP client's self-description (not authenticated).
type Client struct {
	Name    string `json:"name"`
	Version string `json:"version,omitempty"`
}

// Server is an approved upstream server as configured.
type Server struct {
	Name   string            `json:"name"`
	Labels map[string]string `json:"labels"`
}

// Annotations are a tool's behaviour hints, as the upstream declares them
// (untrusted: an upstream can claim anything; pinning issues come later).
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
}

// Prompt is the target prompt.
type Prompt struct {
	Name         string `json:"name"`
	UpstreamName string `json:"upstream_name"`
	Server       string `json:"server"`
	Description  string `json:"description,omitempty"`
}

// Resource is the target resource or resource template.
type Resource struct {
	URI         string `json:"uri,omitempty"`          // resources/read, resources/subscribe, list of a resource
	URITemplate string `json:"uri_template,omitempty"` // list of a template, completion of a template
	Name        string `json:"name,omitempty"`
	Server      string `json:"server"`
	MIMEType    string `json:"mime_type,omitempty"`
}

// Request is about the HTTP/MCP request itself.
type Request struct {
	SessionID       string    `json:"session_id,omitempty"`
	ProtocolVersion string    `json:"protocol_version,omitempty"`
	RemoteAddr      string    `json:"remote_addr,omitempty"`
	Time            time.Time `json:"time"`
}
