package telemetry

import (
	"crypto/sha256"
	"encoding/hex"

	"go.opentelemetry.io/otel/attribute"
	semconv "go.opentelemetry.io/otel/semconv/v1.41.0"
)

// IdentityMode says whether and how the caller's identity goes on spans.
// It never goes on metrics.
type IdentityMode string

const (
	// IdentityOff puts no identity on spans. It is the default.
	IdentityOff IdentityMode = "off"
	// IdentityHashed puts enduser.pseudo.id: the first 16 hex characters of
	// SHA-256(issuer NUL subject). It correlates one user's spans without
	// naming them; it is pseudonymous, not anonymous, since a guessable
	// subject can be confirmed by hashing it.
	IdentityHashed IdentityMode = "hashed"
	// IdentitySubject puts the token's subject as enduser.id.
	IdentitySubject IdentityMode = "subject"
)

// Valid reports whether m is one of the defined modes; "" counts as off.
func (m IdentityMode) Valid() bool {
	switch m {
	case "", IdentityOff, IdentityHashed, IdentitySubject:
		return true
	}
	return false
}

// IdentityAttr returns the span attribute for a caller under mode, and false
// when nothing should be recorded: mode off, empty or unknown (fail closed,
// nothing leaks), or an empty subject.
func IdentityAttr(mode IdentityMode, issuer, subject string) (attribute.KeyValue, bool) {
	if subject == "" {
		return attribute.KeyValue{}, false
	}
	switch mode {
	case IdentityHashed:
		return semconv.EnduserPseudoIDKey.String(hashIdentity(issuer, subject)), true
	case IdentitySubject:
		return semconv.EnduserIDKey.String(subject), true
	}
	return attribute.KeyValue{}, false
}

func hashIdentity(issuer, subject string) string {
	h := sha256.New()
	h.Write([]byte(issuer))
	h.Write([]byte{0}) // so ("ab","c") and ("a","bc") differ
	h.Write([]byte(subject))
	return hex.EncodeToString(h.Sum(nil)[:8])
}
