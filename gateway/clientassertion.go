package gateway

import (
	"fmt"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/mcpgate/mcpgate/config"
	"github.com/mcpgate/mcpgate/internal/jwtkeys"
)

// clientAssertionType is the client_assertion_type of a JWT client
// assertion (RFC 7523 §2.2).
const clientAssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// clientAssertionTTL is the lifetime of a client assertion. It is sent at
// once and used once; the margin covers clock skew with the authorization
// server, well within the five minutes servers commonly allow.
const clientAssertionTTL = time.Minute

// signClientAssertion signs the client assertion of auth_style
// private_key_jwt (RFC 7523 §2.2, OpenID Connect Core §9) with client_key,
// read now so that a rotated key takes effect: iss and sub the client id,
// aud the token endpoint (or client_assertion_audience), a random jti,
// iat and exp. The assertion is a credential: it goes only into the token
// request, never into a log, an error or a span.
func signClientAssertion(a *config.UpstreamAuth, now time.Time) (string, error) {
	key, err := a.ResolveClientKey()
	if err != nil {
		return "", err
	}
	alg, err := jwtkeys.Algorithm(key)
	if err != nil {
		return "", fmt.Errorf("client key (%s): %w", a.ClientKey, err)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: jose.JSONWebKey{Key: key, KeyID: a.ClientKeyID}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return "", fmt.Errorf("client key (%s): %w", a.ClientKey, err)
	}
	claims := jwt.Claims{
		Issuer: a.ClientID, Subject: a.ClientID, Audience: jwt.Audience{a.ClientAssertionAud()},
		ID: randomID(), IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(clientAssertionTTL)),
	}
	token, err := jwt.Signed(signer).Claims(claims).Serialize()
	if err != nil {
		return "", fmt.Errorf("sign client assertion: %w", err)
	}
	return token, nil
}
