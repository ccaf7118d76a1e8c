package gateway

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate/authn"
	"github.com/mcpgate/mcpgate/policy"
	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// groupsFromToken signs a request in as user u with the groups its bearer
// token names ("Bearer a,b"), and the scopes after a semicolon, if any
// ("Bearer a;notes:read,notes:write").
func groupsFromToken(next http.Handler) http.Handler {
	verify := func(_ context.Context, token string, _ *http.Request) (*auth.TokenInfo, error) {
		return authn.NewTokenInfo(tokenIdentity(token)), nil
	}
	inner := auth.RequireBearerToken(verify, nil)(next)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		inner.ServeHTTP(w, r.WithContext(authn.NewContext(r.Context(), tokenIdentity(token))))
	})
}

func tokenIdentity(token string) *authn.Identity {
	groups, scope, _ := strings.Cut(token, ";")
	id := &authn.Identity{Issuer: "https://idp.test", Subject: "u", Groups: strings.Split(groups, ","),
		Expiry: time.Now().Add(time.Hour), Claims: map[string]any{"sub": "u"}}
	if scope != "" {
		id.Scopes = strings.Split(scope, ",")
		id.Claims["scope"] = strings.Join(id.Scopes, " ")
	}
	return id
}

type swappableBearer struct{ token atomic.Value }

func (b *swappableBearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token.Load().(string))
	return http.DefaultTransport.RoundTrip(r)
}

// A 2025 session's lists follow the identity of each request: when the same
// user's token carries other groups, the session is gone (404) and a new
// one lists what the new groups may see.
func TestSessionListsFollowTheIdentity(t *testing.T) {
	t.Parallel()
	engine := groupsEngine(t)
	gw, bearer := groupsGateway(t, engine)
	hc := &http.Client{Transport: bearer}
	cs := connectWith(t, gw.URL, legacy, nil, hc)
	if got := toolNames(t, cs); !slices.Equal(got, []string{"up__a"}) {
		t.Fatalf("group a lists %v, want [up__a]", got)
	}
	// The same token again (a refresh with the same claims) keeps the session.
	if got := toolNames(t, cs); !slices.Equal(got, []string{"up__a"}) {
		t.Fatalf("same identity lists %v", got)
	}
	bearer.token.Store("a,b")
	_, err := cs.ListTools(ctxTimeout(t), nil)
	if !errors.Is(err, mcp.ErrSessionMissing) {
		t.Fatalf("list with other groups in the old session: %v, want ErrSessionMissing (HTTP 404)", err)
	}
	if got := toolNames(t, connectWith(t, gw.URL, legacy, nil, hc)); !slices.Equal(got, []string{"up__a", "up__b"}) {
		t.Errorf("a new session with groups a,b lists %v, want [up__a up__b]", got)
	}
}

// A step-up gives the client a token with more scopes, and the client
// retries in its session (the MCP step-up flow): the session goes on.
func TestSessionSurvivesAStepUp(t *testing.T) {
	t.Parallel()
	gw, bearer := groupsGateway(t, groupsEngine(t))
	bearer.token.Store("a;notes:read")
	cs := connectWith(t, gw.URL, legacy, nil, &http.Client{Transport: bearer})
	id := cs.ID()
	toolNames(t, cs)
	bearer.token.Store("a;notes:read,notes:write")
	if _, err := cs.ListTools(ctxTimeout(t), nil); err != nil {
		t.Fatalf("list in the session after a step-up: %v, want the session to go on", err)
	}
	if cs.ID() != id {
		t.Errorf("session %s became %s", id, cs.ID())
	}
}

// groupsEngine is a policy engine with groupsPolicy.
func groupsEngine(t *testing.T) *policy.Engine {
	t.Helper()
	engine := policy.NewEngine(policy.Options{})
	if err := engine.LoadModules(map[string]string{"p.rego": groupsPolicy}, nil); err != nil {
		t.Fatal(err)
	}
	return engine
}

// groupsGateway runs a gateway deciding with authz in front of an upstream
// with tools a and b, signing requests in with the groups their bearer
// token names; the returned transport sends the token it holds (first
// "a").
func groupsGateway(t *testing.T, authz Authorizer) (*testGateway, *swappableBearer) {
	t.Helper()
	opts := testOptions()
	opts.Authorizer = authz
	opts.HTTPMiddleware = []func(http.Handler) http.Handler{groupsFromToken}
	srv := mcp.NewServer(&mcp.Implementation{Name: "up"}, nil)
	for _, name := range []string{"a", "b"} {
		srv.AddTool(&mcp.Tool{Name: name, InputSchema: emptyObject}, func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			return &mcp.CallToolResult{}, nil
		})
	}
	up := startUpstream(t, srv)
	bearer := &swappableBearer{}
	bearer.token.Store("a")
	return startGateway(t, opts, upstreamConfig("up", up.URL)), bearer
}
