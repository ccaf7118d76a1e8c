package authn

import "context"

// Verifications is the number of tokens verified without the cache.
func (v *Verifier) Verifications() int64 { return v.verifications.Load() }

// CacheLen is the number of cached verified tokens.
func (v *Verifier) CacheLen() int { return v.cache.len() }

// VerifyUncached verifies raw without reading or filling the cache.
func (v *Verifier) VerifyUncached(ctx context.Context, raw string) (*Identity, error) {
	if err := checkTokenSyntax(raw); err != nil {
		return nil, err
	}
	vt, err := v.verifyUncached(ctx, raw, v.now())
	if err != nil {
		return nil, err
	}
	return vt.id, nil
}
