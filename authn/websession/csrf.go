package websession

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
)

// ErrCSRF is a state-changing request that is cross-origin or lacks the
// session's CSRF token; answer 403.
var ErrCSRF = errors.New("websession: cross-site request refused")

// Where a request carries the CSRF token.
const (
	// CSRFField is the form field.
	CSRFField = "csrf"
	// CSRFHeader is the header, for scripts.
	CSRFHeader = "X-CSRF-Token"
	// maxFormBytes bounds the form read to find the token.
	maxFormBytes = 64 << 10
)

// CSRFToken returns the token a page puts into its forms (field
// CSRFField) for the request's session, or "" without one. It is random
// per session and lives in the sealed cookie, so it changes at every
// sign-in and only this browser's session accepts it.
func (m *Manager) CSRFToken(r *http.Request) string {
	s, ok := m.session(r)
	if !ok {
		return ""
	}
	return s.CSRF
}

// CheckCSRF reports, as an error wrapping ErrCSRF, a request that is
// cross-origin (Sec-Fetch-Site, or Origin against BaseURL and Host), has
// no session, or does not carry the session's CSRF token in the form field
// CSRFField (a url-encoded body of at most 64 KiB) or the header
// CSRFHeader. [Manager.Require] runs it for every method but GET, HEAD and
// OPTIONS.
func (m *Manager) CheckCSRF(r *http.Request) error {
	s, ok := m.session(r)
	if !ok {
		return fmt.Errorf("%w: not signed in", ErrCSRF)
	}
	return m.checkCSRF(r, s)
}

func (m *Manager) checkCSRF(r *http.Request, s *session) error {
	if err := m.origin.Check(r); err != nil {
		return fmt.Errorf("%w: %w", ErrCSRF, err)
	}
	token := r.Header.Get(CSRFHeader)
	if token == "" {
		if r.PostForm == nil {
			r.Body = http.MaxBytesReader(nil, r.Body, maxFormBytes)
			if err := r.ParseForm(); err != nil {
				return fmt.Errorf("%w: read the form: %w", ErrCSRF, err)
			}
		}
		token = r.PostForm.Get(CSRFField)
	}
	if token == "" {
		return fmt.Errorf("%w: no CSRF token", ErrCSRF)
	}
	if subtle.ConstantTimeCompare([]byte(token), []byte(s.CSRF)) != 1 {
		return fmt.Errorf("%w: CSRF token of another session", ErrCSRF)
	}
	return nil
}
