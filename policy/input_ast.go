package policy

import (
	"fmt"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
)

// Object keys, built once; terms are immutable and safe to share.
var (
	kPhase, kMethod, kUser, kToken       = ast.StringTerm("phase"), ast.StringTerm("method"), ast.StringTerm("user"), ast.StringTerm("token")
	kClient, kServer, kTool, kPrompt     = ast.StringTerm("client"), ast.StringTerm("server"), ast.StringTerm("tool"), ast.StringTerm("prompt")
	kResource, kArguments, kRequest      = ast.StringTerm("resource"), ast.StringTerm("arguments"), ast.StringTerm("request")
	kSub, kIss, kEmail, kName            = ast.StringTerm("sub"), ast.StringTerm("iss"), ast.StringTerm("email"), ast.StringTerm("name")
	kGroups, kClaims, kScopes, kClientID = ast.StringTerm("groups"), ast.StringTerm("claims"), ast.StringTerm("scopes"), ast.StringTerm("client_id")
	kAud, kVersion, kLabels              = ast.StringTerm("aud"), ast.StringTerm("version"), ast.StringTerm("labels")
	kUpstreamName, kDescription          = ast.StringTerm("upstream_name"), ast.StringTerm("description")
	kApproval                            = ast.StringTerm("approval")
	kAnnotations, kTitle                 = ast.StringTerm("annotations"), ast.StringTerm("title")
	kReadOnly, kDestructive              = ast.StringTerm("readOnlyHint"), ast.StringTerm("destructiveHint")
	kIdempotent, kOpenWorld              = ast.StringTerm("idempotentHint"), ast.StringTerm("openWorldHint")
	kURI, kURITemplate, kMIMEType        = ast.StringTerm("uri"), ast.StringTerm("uri_template"), ast.StringTerm("mime_type")
	kSessionID, kProtocolVersion         = ast.StringTerm("session_id"), ast.StringTerm("protocol_version")
	kRemoteAddr, kTime                   = ast.StringTerm("remote_addr"), ast.StringTerm("time")
	kCatalogue, kGrant, kRegistration    = ast.StringTerm("catalogue"), ast.StringTerm("grant"), ast.StringTerm("registration")
	kID, kLevel, kReason                 = ast.StringTerm("id"), ast.StringTerm("level"), ast.StringTerm("reason")
	kRequested, kCurrent                 = ast.StringTerm("requested"), ast.StringTerm("current")
	kClientName, kClientURI              = ast.StringTerm("client_name"), ast.StringTerm("client_uri")
	kRedirectURIs, kRedirectHosts        = ast.StringTerm("redirect_uris"), ast.StringTerm("redirect_hosts")
	kGrantTypes, kTokenAuthMethod        = ast.StringTerm("grant_types"), ast.StringTerm("token_endpoint_auth_method")
	kScope, kSoftwareID, kSoftwareVer    = ast.StringTerm("scope"), ast.StringTerm("software_id"), ast.StringTerm("software_version")
	kUpstreamScopes, kEmployee           = ast.StringTerm("upstream_scopes"), ast.StringTerm("employee")
)

// ASTValue returns the input as the OPA value a policy sees, built directly
// from the struct (no JSON round trip). It is equal to the value of the
// input's JSON encoding: the same keys, with omitempty fields left out and
// nil slices and maps as null.
func (in *Input) ASTValue() (ast.Value, error) {
	b := fields(13)
	b.str(kPhase, in.Phase)
	b.str(kMethod, in.Method)
	if !in.User.isZero() {
		user, err := in.User.astValue()
		if err != nil {
			return nil, fmt.Errorf("user: %w", err)
		}
		b.add(kUser, user)
	}
	if !in.Token.isZero() {
		b.add(kToken, in.Token.astValue())
	}
	if in.Client != nil {
		b.add(kClient, in.Client.astValue())
	}
	if in.Server != nil {
		b.add(kServer, in.Server.astValue())
	}
	in.addTargets(&b)
	if len(in.Arguments) > 0 {
		args, err := ast.InterfaceToValue(in.Arguments)
		if err != nil {
			return nil, fmt.Errorf("arguments: %w", err)
		}
		b.add(kArguments, args)
	}
	in.addAuthorization(&b)
	b.add(kRequest, in.Request.astValue())
	return b.object(), nil
}

// addAuthorization adds the fields of the authorization-server phases, the
// call phase's catalogue, the upstream phase's upstream scopes and the
// console phase's employee.
func (in *Input) addAuthorization(b *objectFields) {
	if len(in.Catalogue) > 0 {
		terms := make([]*ast.Term, len(in.Catalogue))
		for i := range in.Catalogue {
			terms[i] = ast.NewTerm(in.Catalogue[i].astValue())
		}
		b.add(kCatalogue, ast.NewArray(terms...))
	}
	if in.Grant != nil {
		b.add(kGrant, in.Grant.astValue())
	}
	if in.Registration != nil {
		b.add(kRegistration, in.Registration.astValue())
	}
	if len(in.UpstreamScopes) > 0 {
		terms := make([]*ast.Term, len(in.UpstreamScopes))
		for i := range in.UpstreamScopes {
			terms[i] = ast.NewTerm(in.UpstreamScopes[i].astValue())
		}
		b.add(kUpstreamScopes, ast.NewArray(terms...))
	}
	if in.Employee != nil {
		e := fields(1)
		e.str(kSub, in.Employee.Sub)
		b.add(kEmployee, e.object())
	}
}

func (in *Input) addTargets(b *objectFields) {
	if in.Tool != nil {
		b.add(kTool, in.Tool.astValue())
	}
	if in.Prompt != nil {
		b.add(kPrompt, in.Prompt.astValue())
	}
	if in.Resource != nil {
		b.add(kResource, in.Resource.astValue())
	}
}

// isZero is what encoding/json's omitzero omits: every field zero.
func (u *User) isZero() bool {
	return u.Sub == "" && u.Iss == "" && u.Email == "" && u.Name == "" && u.Groups == nil && u.Claims == nil
}

func (u *User) astValue() (ast.Value, error) {
	if m := u.Memo; m != nil {
		m.once.Do(func() { m.v, m.err = u.convert() })
		return m.v, m.err
	}
	return u.convert()
}

func (u *User) convert() (ast.Value, error) {
	b := fields(6)
	b.str(kSub, u.Sub)
	b.str(kIss, u.Iss)
	b.strOmit(kEmail, u.Email)
	b.strOmit(kName, u.Name)
	b.add(kGroups, stringArray(u.Groups))
	claims := ast.Value(ast.Null{})
	if u.Claims != nil {
		var err error
		if claims, err = ast.InterfaceToValue(u.Claims); err != nil {
			return nil, fmt.Errorf("claims: %w", err)
		}
	}
	b.add(kClaims, claims)
	return b.object(), nil
}

func (t *Token) isZero() bool { return t.Scopes == nil && t.ClientID == "" && t.Aud == nil }

func (t *Token) astValue() ast.Value {
	b := fields(3)
	b.add(kScopes, stringArray(t.Scopes))
	b.strOmit(kClientID, t.ClientID)
	b.add(kAud, stringArray(t.Aud))
	return b.object()
}

func (c *Client) astValue() ast.Value {
	b := fields(3)
	b.strOmit(kID, c.ID)
	b.str(kName, c.Name)
	b.strOmit(kVersion, c.Version)
	return b.object()
}

func (s *Server) astValue() ast.Value {
	b := fields(2)
	b.str(kName, s.Name)
	labels := ast.Value(ast.Null{})
	if s.Labels != nil {
		labels = ast.MapToObject(s.Labels, nil, ast.InternedTerm[string])
	}
	b.add(kLabels, labels)
	return b.object()
}

func (t *Tool) astValue() ast.Value {
	b := fields(6)
	b.str(kName, t.Name)
	b.str(kUpstreamName, t.UpstreamName)
	b.str(kServer, t.Server)
	b.strOmit(kDescription, t.Description)
	if t.Annotations != nil {
		b.add(kAnnotations, t.Annotations.astValue())
	}
	b.strOmit(kApproval, t.Approval)
	return b.object()
}

func (a *Annotations) astValue() ast.Value {
	b := fields(5)
	b.boolOmit(kReadOnly, a.ReadOnlyHint)
	b.boolOmit(kDestructive, a.DestructiveHint)
	b.boolOmit(kIdempotent, a.IdempotentHint)
	b.boolOmit(kOpenWorld, a.OpenWorldHint)
	b.strOmit(kTitle, a.Title)
	return b.object()
}

func (p *Prompt) astValue() ast.Value {
	b := fields(5)
	b.str(kName, p.Name)
	b.str(kUpstreamName, p.UpstreamName)
	b.str(kServer, p.Server)
	b.strOmit(kDescription, p.Description)
	b.strOmit(kApproval, p.Approval)
	return b.object()
}

func (r *Resource) astValue() ast.Value {
	b := fields(7)
	b.strOmit(kURI, r.URI)
	b.strOmit(kURITemplate, r.URITemplate)
	b.strOmit(kName, r.Name)
	b.str(kServer, r.Server)
	b.strOmit(kMIMEType, r.MIMEType)
	b.strOmit(kDescription, r.Description)
	b.strOmit(kApproval, r.Approval)
	return b.object()
}

func (r *Request) astValue() ast.Value {
	b := fields(4)
	b.strOmit(kSessionID, r.SessionID)
	b.strOmit(kProtocolVersion, r.ProtocolVersion)
	b.strOmit(kRemoteAddr, r.RemoteAddr)
	b.str(kTime, r.Time.Format(time.RFC3339Nano))
	return b.object()
}

func (s *Scope) astValue() ast.Value {
	b := fields(4)
	b.str(kName, s.Name)
	b.strOmit(kDescription, s.Description)
	b.str(kServer, s.Server)
	b.str(kLevel, s.Level)
	return b.object()
}

func (s *UpstreamScope) astValue() ast.Value {
	b := fields(3)
	b.str(kName, s.Name)
	b.strOmit(kDescription, s.Description)
	b.str(kLevel, s.Level)
	return b.object()
}

func (g *Grant) astValue() ast.Value {
	b := fields(3)
	b.add(kRequested, stringArray(g.Requested))
	b.add(kCurrent, stringArray(g.Current))
	b.str(kReason, g.Reason)
	return b.object()
}

func (r *Registration) astValue() ast.Value {
	b := fields(11)
	b.str(kMethod, r.Method)
	b.strOmit(kClientID, r.ClientID)
	b.strOmit(kClientName, r.ClientName)
	b.strOmit(kClientURI, r.ClientURI)
	b.add(kRedirectURIs, stringArray(r.RedirectURIs))
	b.add(kRedirectHosts, stringArray(r.RedirectHosts))
	b.add(kGrantTypes, stringArray(r.GrantTypes))
	b.strOmit(kTokenAuthMethod, r.TokenEndpointAuthMethod)
	b.strOmit(kScope, r.Scope)
	b.strOmit(kSoftwareID, r.SoftwareID)
	b.strOmit(kSoftwareVer, r.SoftwareVersion)
	return b.object()
}

// objectFields collects the items of one object.
type objectFields struct{ items [][2]*ast.Term }

func fields(n int) objectFields { return objectFields{items: make([][2]*ast.Term, 0, n)} }

func (b *objectFields) add(k *ast.Term, v ast.Value) {
	b.items = append(b.items, [2]*ast.Term{k, ast.NewTerm(v)})
}

func (b *objectFields) str(k *ast.Term, v string) {
	b.items = append(b.items, [2]*ast.Term{k, ast.InternedTerm(v)})
}

func (b *objectFields) strOmit(k *ast.Term, v string) {
	if v != "" {
		b.str(k, v)
	}
}

func (b *objectFields) boolOmit(k *ast.Term, v *bool) {
	if v != nil {
		b.items = append(b.items, [2]*ast.Term{k, ast.InternedTerm(*v)})
	}
}

func (b *objectFields) object() ast.Object { return ast.NewObject(b.items...) }

// stringArray is a []string as JSON encodes it: nil is null.
func stringArray(ss []string) ast.Value {
	if ss == nil {
		return ast.Null{}
	}
	terms := make([]*ast.Term, len(ss))
	for i, s := range ss {
		terms[i] = ast.InternedTerm(s)
	}
	return ast.NewArray(terms...)
}
