package authrule

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Defaults and limits of access-token verification.
const (
	// DefaultLeeway is the clock skew tolerated on exp, nbf and iat.
	DefaultLeeway = 30 * time.Second
	// MaxLeeway is the largest leeway accepted.
	MaxLeeway = 5 * time.Minute
	// DefaultTokenCacheSize is the number of verified tokens kept.
	DefaultTokenCacheSize = 10000
)

// DefaultAlgorithms returns the JWS algorithms accepted from an issuer
// without a shared secret when none are configured.
func DefaultAlgorithms() []string { return []string{"RS256", "ES256", "PS256", "EdDSA"} }

// AsymmetricAlgorithms returns the supported public-key JWS algorithms.
func AsymmetricAlgorithms() []string {
	return []string{"RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "PS256", "PS384", "PS512", "EdDSA"}
}

// HMACKeySize returns the least shared-secret length in bytes for an HMAC
// algorithm (HS256, HS384, HS512), or 0 when alg is not one: a key at
// least as long as the hash output (RFC 7518 §3.2). HMAC tokens are
// accepted only from an issuer configured with a shared secret.
func HMACKeySize(alg string) int {
	switch alg {
	case "HS256":
		return 32
	case "HS384":
		return 48
	case "HS512":
		return 64
	}
	return 0
}

// CheckAlgorithm reports an algorithm that is never accepted ("none") or
// not supported; nil means an asymmetric or an HMAC algorithm.
func CheckAlgorithm(alg string) error {
	switch {
	case strings.EqualFold(alg, "none"):
		return errors.New(`"none" is never accepted: tokens must be signed`)
	case HMACKeySize(alg) == 0 && !slices.Contains(AsymmetricAlgorithms(), alg):
		return fmt.Errorf("%q is not supported: use one of %s, HS256, HS384, HS512", alg, strings.Join(AsymmetricAlgorithms(), ", "))
	}
	return nil
}
