package authserver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"

	"go.opentelemetry.io/otel/attribute"
)

// maxRegistration bounds a registration request's body.
const maxRegistration = 16 << 10

// registrationResponse is RFC 7591 §3.2.1's.
type registrationResponse struct {
	ClientMetadata
	ClientIDIssuedAt      int64  `json:"client_id_issued_at"`
	ClientSecret          string `json:"client_secret,omitempty"`
	ClientSecretExpiresAt *int64 `json:"client_secret_expires_at,omitempty"`
}

// serveRegister is RFC 7591 dynamic registration. Every registration is a
// decision of the Granter (phase register); a client not used for 90 days
// is forgotten.
func (s *Server) serveRegister(w http.ResponseWriter, r *http.Request) {
	ctx, span := s.tracer.Start(r.Context(), "oauth.register")
	defer span.End()
	if !s.registrations.allow(remoteAddr(r)) {
		tooMany(w)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeOAuthError(w, &oauthError{Code: "invalid_request", Description: "use POST", status: http.StatusMethodNotAllowed})
		return
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		writeOAuthError(w, &oauthError{Code: "invalid_client_metadata", Description: "the body must be application/json"})
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxRegistration))
	if err != nil {
		writeOAuthError(w, &oauthError{Code: "invalid_client_metadata", Description: "the body could not be read (at most 16 KiB)", status: http.StatusRequestEntityTooLarge})
		return
	}
	var md ClientMetadata
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&md); err != nil || dec.More() {
		writeOAuthError(w, &oauthError{Code: "invalid_client_metadata", Description: "the body is not one JSON object of client metadata"})
		return
	}
	if md.ClientID != "" {
		writeOAuthError(w, &oauthError{Code: "invalid_client_metadata", Description: "client_id is assigned by the server"})
		return
	}
	if err := md.normalize(); err != nil {
		var me *metadataError
		if errors.As(err, &me) {
			writeOAuthError(w, &oauthError{Code: me.Code, Description: me.Description})
			return
		}
		writeOAuthError(w, &oauthError{Code: "invalid_client_metadata", Description: err.Error()})
		return
	}
	span.SetAttributes(attribute.String("oauth.client_name", md.ClientName))
	if err := s.decideRegistration(ctx, MethodDynamic, &md, remoteAddr(r)); err != nil {
		s.log.Info("authserver: dynamic registration refused", "client_name", md.ClientName, "err", err)
		writeOAuthError(w, &oauthError{Code: "invalid_client_metadata", Description: err.Error(), status: http.StatusForbidden})
		return
	}
	now := s.now()
	md.ClientID = dynamicClientPrefix + randomToken(18)
	rc := registeredClient{Metadata: md, IssuedAt: now}
	resp := registrationResponse{ClientMetadata: md, ClientIDIssuedAt: now.Unix()}
	if md.TokenEndpointAuthMethod != "none" {
		secret := randomToken(32)
		rc.SecretHash = hashBytes(secret)
		resp.ClientSecret = secret
		never := int64(0)
		resp.ClientSecretExpiresAt = &never
	}
	created, err := s.opts.Store.Create(ctx, nsClient, md.ClientID, mustJSON(&rc), now.Add(unusedRegistrationTTL))
	if err != nil || !created {
		s.log.Error("authserver: store a registration", "err", err)
		writeOAuthError(w, errTemporarilyUnavailable())
		return
	}
	s.log.Info("authserver: client registered", "client_id", md.ClientID, "client_name", truncate(md.ClientName, 100),
		"redirect_uris", len(md.RedirectURIs), "first_redirect_host", redirectHost(md.RedirectURIs[0]))
	writeJSON(w, http.StatusCreated, &resp)
}

// touchRegistration extends a dynamic registration that is in use.
func (s *Server) touchRegistration(ctx context.Context, c *client) {
	if c.kind != kindDynamic {
		return
	}
	rc := registeredClient{Metadata: c.metadata, SecretHash: c.secretHash, IssuedAt: c.issuedAt}
	if err := s.opts.Store.Put(ctx, nsClient, c.id(), mustJSON(&rc), s.now().Add(registrationTTL)); err != nil {
		s.log.Warn("authserver: extend a registration", "client_id", c.id(), "err", err)
	}
}

func mustJSON(v any) []byte {
	b, err := marshalRecord(v)
	if err != nil {
		panic(err) // records are plain structs
	}
	return b
}
