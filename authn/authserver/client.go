package authserver

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// clientKind says where a client's registration comes from.
type clientKind int

const (
	kindStatic clientKind = iota
	kindDynamic
	kindMetadataDocument
)

// client is a resolved client.
type client struct {
	kind     clientKind
	metadata ClientMetadata
	// secret (static) or secretHash (dynamic): a confidential client.
	secret     string
	secretHash []byte
	issuedAt   time.Time // dynamic registrations
}

func (c *client) id() string { return c.metadata.ClientID }

// name is the client's name as it gives it (unverified unless the
// organisation configured the client): the consent page shows it beside
// the client's provenance, never merged with it.
func (c *client) name() string {
	if c.metadata.ClientName == "" {
		return c.id()
	}
	return c.metadata.ClientName
}

// origin is the host that vouches for a metadata-document client: its
// document's URL's.
func (c *client) origin() string {
	if c.kind != kindMetadataDocument {
		return ""
	}
	if u, err := url.Parse(c.id()); err == nil {
		return u.Host
	}
	return ""
}

func (c *client) confidential() bool { return c.secret != "" || len(c.secretHash) > 0 }

// checkSecret compares a presented secret in constant time.
func (c *client) checkSecret(secret string) bool {
	if c.secret != "" {
		return subtle.ConstantTimeCompare([]byte(c.secret), []byte(secret)) == 1
	}
	return len(c.secretHash) > 0 && subtle.ConstantTimeCompare(c.secretHash, hashBytes(secret)) == 1
}

var (
	errUnknownClient = errors.New("unknown client")
	// errStore is a registration that could not be read: the store failed.
	errStore = errors.New("the store is unavailable")
)

// lookupClient resolves a client id: a configured client, a dynamic
// registration, or a Client ID Metadata Document (fetched, checked, and
// decided by the Granter as a registration each time it is fetched).
func (s *Server) lookupClient(ctx context.Context, id, remote string) (*client, error) {
	if c, ok := s.static[id]; ok {
		return &client{kind: kindStatic, secret: c.Secret,
			metadata: ClientMetadata{ClientID: c.ID, ClientName: c.Name, RedirectURIs: c.RedirectURIs}}, nil
	}
	if isCIMDClientID(id, s.opts.MetadataDocumentsAllowPrivate) {
		if s.cimd == nil {
			return nil, fmt.Errorf("client %s: client id metadata documents are switched off", id)
		}
		if !s.cimd.cached(id) {
			// Asked before anything is fetched, with the client id alone,
			// so that a policy restricting the hosts of metadata documents
			// keeps the gateway from fetching any other URL.
			if err := s.decideRegistration(ctx, MethodMetadataDocument, &ClientMetadata{ClientID: id, RedirectURIs: []string{}}, remote); err != nil {
				return nil, err
			}
		}
		md, err := s.cimd.fetch(ctx, id)
		if err != nil {
			return nil, err
		}
		if err := s.decideRegistration(ctx, MethodMetadataDocument, md, remote); err != nil {
			return nil, err
		}
		return &client{kind: kindMetadataDocument, metadata: *md}, nil
	}
	if !isDynamicClientID(id) || !s.opts.DynamicRegistration {
		// With dynamic registration switched off, the clients it
		// registered before are refused too.
		return nil, errUnknownClient
	}
	var rc registeredClient
	ok, err := s.rec.get(ctx, nsClient, id, &rc)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errStore, err)
	}
	if !ok {
		return nil, errUnknownClient
	}
	return &client{kind: kindDynamic, metadata: rc.Metadata, secretHash: rc.SecretHash, issuedAt: rc.IssuedAt}, nil
}

// dynamicClientPrefix begins the client id of a dynamic registration,
// followed by a randomToken(18).
const dynamicClientPrefix = "mcpgate-"

func isDynamicClientID(id string) bool {
	rest, ok := strings.CutPrefix(id, dynamicClientPrefix)
	return ok && isBase64URL(rest, 24, 24)
}

// errRegistrationRefused is a registration the policy refused.
type errRegistrationRefused struct{ reasons []string }

func (e *errRegistrationRefused) Error() string {
	if len(e.reasons) == 0 {
		return "registration refused by policy"
	}
	return "registration refused by policy: " + strings.Join(e.reasons, "; ")
}

func (s *Server) decideRegistration(ctx context.Context, method string, md *ClientMetadata, remote string) error {
	ctx, span := s.tracer.Start(ctx, "oauth.register.decide")
	defer span.End()
	allowed, reasons, err := s.opts.Granter.Register(ctx, &RegistrationRequest{Method: method, Metadata: *md, RemoteAddr: remote})
	if err != nil {
		s.log.Error("authserver: registration decision failed; refused", "client_id", md.ClientID, "err", err)
		return &errRegistrationRefused{reasons: []string{"the policy could not decide"}}
	}
	if !allowed {
		return &errRegistrationRefused{reasons: reasons}
	}
	return nil
}

// authenticateClient authenticates the client of a token or revocation
// request: client_secret_basic, client_secret_post, or a public client
// naming itself with client_id.
func (s *Server) authenticateClient(r *http.Request, form url.Values) (*client, *oauthError) {
	id, secret, basic := r.BasicAuth()
	if basic {
		var err1, err2 error
		id, err1 = url.QueryUnescape(id)
		secret, err2 = url.QueryUnescape(secret)
		if err1 != nil || err2 != nil {
			return nil, errInvalidClient("malformed client credentials")
		}
		if form.Has("client_secret") {
			return nil, errInvalidRequest("use one client authentication method, not two")
		}
		if fid := form.Get("client_id"); fid != "" && fid != id {
			return nil, errInvalidClient("client_id differs from the authenticated client")
		}
	} else {
		id, secret = form.Get("client_id"), form.Get("client_secret")
	}
	if id == "" {
		return nil, errInvalidClient("client authentication is required (client_id)")
	}
	ctx, cancel := context.WithTimeout(r.Context(), 15*time.Second)
	defer cancel()
	c, err := s.lookupClient(ctx, id, remoteAddr(r))
	if errors.Is(err, errStore) {
		s.log.Error("authserver: store failed", "err", err)
		return nil, errTemporarilyUnavailable()
	}
	if err != nil {
		return nil, errInvalidClient("unknown client")
	}
	switch {
	case c.confidential() && !c.checkSecret(secret):
		return nil, errInvalidClient("client authentication failed")
	case !c.confidential() && secret != "":
		return nil, errInvalidClient("this client is public: it has no secret")
	}
	return c, nil
}
