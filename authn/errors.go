package authn

import "errors"

// ErrInvalidToken is the sentinel for a token that was refused: malformed,
// badly signed, expired, for another audience, from an unknown issuer, …
// Errors returned by Verify wrap it with the detail, e.g.
// "authn: verify token: expired".
var ErrInvalidToken = errors.New("authn: invalid token")

// ErrUnavailable is the sentinel for a token that could not be checked
// because its issuer's discovery document or key set could not be fetched.
// The client still gets a 401 (fail closed); the operator gets a distinct
// log line.
var ErrUnavailable = errors.New("authn: identity provider unavailable")

// Reasons are short, stable and free of token contents: they are safe to log
// and to use as metric labels.
const (
	reasonMalformed     = "malformed"
	reasonUnknownIssuer = "unknown issuer"
	reasonSignature     = "signature not verified"
	reasonExpired       = "expired"
	reasonNotYetValid   = "not yet valid"
	reasonIssuedFuture  = "issued in the future"
	reasonMissingExp    = "missing exp"
	reasonAudience      = "wrong audience"
	reasonSubject       = "missing subject"
	reasonTokenType     = "wrong token type"
	reasonDiscovery     = "discovery failed"
	reasonKeys          = "key set unavailable"
)

// tokenError carries a sentinel (ErrInvalidToken or ErrUnavailable), a
// reason from the list above and, optionally, the underlying library error.
type tokenError struct {
	sentinel error
	reason   string
	err      error
}

func invalid(reason string, err error) error {
	return &tokenError{sentinel: ErrInvalidToken, reason: reason, err: err}
}

func unavailable(reason string, err error) error {
	return &tokenError{sentinel: ErrUnavailable, reason: reason, err: err}
}

func (e *tokenError) Error() string {
	msg := "authn: verify token: " + e.reason
	if e.err != nil {
		msg += ": " + e.err.Error()
	}
	return msg
}

func (e *tokenError) Is(target error) bool { return target == e.sentinel }

func (e *tokenError) Unwrap() error { return e.err }

// reasonOf returns the short reason of an error from Verify, for logs.
func reasonOf(err error) string {
	var te *tokenError
	if errors.As(err, &te) {
		return te.reason
	}
	return "error"
}
