package devidp

import (
	"net/http"
)

// oauthError is an RFC 6749 §5.2 (and RFC 7591 §3.2.2) error response.
type oauthError struct {
	Code        string `json:"error"`
	Description string `json:"error_description,omitempty"`
	// Status is the HTTP status; zero means 400.
	Status int `json:"-"`
	// Challenge, when set, is sent as WWW-Authenticate (invalid_client with HTTP Basic).
	Challenge string `json:"-"`
}

func (e *oauthError) Error() string { return e.Code + ": " + e.Description }

// errBodyTooLarge answers a request body over maxBodyBytes.
func errBodyTooLarge() *oauthError {
	return &oauthError{Code: "invalid_request", Description: "body: must not exceed 64 KiB", Status: http.StatusRequestEntityTooLarge}
}

func writeOAuthError(w http.ResponseWriter, e *oauthError) {
	status := e.Status
	if status == 0 {
		status = http.StatusBadRequest
	}
	if e.Challenge != "" {
		w.Header().Set("WWW-Authenticate", e.Challenge)
	}
	writeJSON(w, status, e)
}
