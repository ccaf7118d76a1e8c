package zitadel

import (
	"context"
	"testing"

	"golang.org/x/oauth2/clientcredentials"
)

func TestClientCredentialsTokenVerifies(t *testing.T) {
	t.Parallel()
	s := Start(t)
	ctx := context.Background()
	cc := clientcredentials.Config{ClientID: ClientID, ClientSecret: ClientSecret, TokenURL: s.TokenURL(), Scopes: []string{"openid"}}
	tok, err := cc.Token(ctx)
	if err != nil {
		t.Fatalf("token: %v", err)
	}
	if sub, err := s.Verify(ctx, tok.AccessToken); err != nil || sub != ClientID {
		t.Errorf("Verify = %q, %v; want %q", sub, err, ClientID)
	}
	if _, err := s.Verify(ctx, tok.AccessToken+"x"); err == nil {
		t.Error("a forged token verifies")
	}
	cc.ClientSecret = "wrong"
	if _, err := cc.Token(ctx); err == nil {
		t.Error("a wrong secret gets a token")
	}
}
