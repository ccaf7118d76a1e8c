package oidcprovider

import (
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/mcpgate/mcpgate/internal/testtools"
	"github.com/mcpgate/mcpgate/internal/testtools/node"
)

// Version is the release scripts/install-tools.sh installs (its
// OIDC_PROVIDER_VERSION); Package, the npm prefix under testtools.NPMDir.
const (
	Version = "9.13.3"
	Package = "oidc-provider-" + Version
)

// The resource server client that may introspect tokens.
const (
	introspectorID     = "resource-server"
	introspectorSecret = "resource-server-secret"
)

// SubjectClientID and SubjectClientSecret are a client of
// client_secret_basic with the client credentials grant, whose access
// tokens are subject tokens the server accepts in a token exchange.
const (
	SubjectClientID     = "employee-app"
	SubjectClientSecret = "employee-app-secret"
)

//go:embed provider.mjs
var script []byte

// Client is the one client of private_key_jwt the server knows.
type Client struct {
	// ID is its client id.
	ID string
	// Keys are its registered public keys; a key's KeyID, if set, is
	// published as its kid.
	Keys []jose.JSONWebKey
	// Scopes are the scopes it may ask for.
	Scopes []string
}

// Server is a running oidc-provider.
type Server struct {
	// Issuer is "http://127.0.0.1:PORT", also the base of its endpoints.
	Issuer string
}

// TokenURL is the token endpoint.
func (s *Server) TokenURL() string { return s.Issuer + "/token" }

// Start starts oidc-provider on a free loopback port with client c, whose
// access tokens live tokenTTL seconds. It is stopped in t.Cleanup; its log
// (why a client was refused) is shown when the test fails.
func Start(t testing.TB, c Client, tokenTTL int) *Server {
	t.Helper()
	nodeBin := node.Node22(t)
	modules := node.NPMModules(t, Package, "oidc-provider")
	dir := t.TempDir()
	src := filepath.Join(dir, "provider.mjs")
	if err := os.WriteFile(src, script, 0o600); err != nil {
		t.Fatal(err)
	}
	path := node.ScriptWithModules(t, src, modules)
	addr := testtools.StartListening(t, "oidc-provider", func(addr string) *exec.Cmd {
		_, port, _ := net.SplitHostPort(addr)
		cfg := filepath.Join(dir, "config-"+port+".json")
		writeConfig(t, cfg, port, c, tokenTTL)
		cmd := exec.Command(nodeBin, path, cfg)
		cmd.Dir = dir
		cmd.Env = node.Env(t, nodeBin)
		return cmd
	})
	return &Server{Issuer: "http://" + addr}
}

func writeConfig(t testing.TB, path, port string, c Client, tokenTTL int) {
	t.Helper()
	p, err := strconv.Atoi(port)
	if err != nil {
		t.Fatal(err)
	}
	data, err := json.Marshal(map[string]any{
		"port": p, "client_id": c.ID, "jwks": jose.JSONWebKeySet{Keys: c.Keys}, "scopes": c.Scopes,
		"introspector_id": introspectorID, "introspector_secret": introspectorSecret, "token_ttl": tokenTTL,
		"subject_client_id": SubjectClientID, "subject_client_secret": SubjectClientSecret,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// Introspection is what the server says of a token (RFC 7662).
type Introspection struct {
	Active   bool   `json:"active"`
	ClientID string `json:"client_id"`
	Scope    string `json:"scope"`
}

// Introspect asks the server about token, as a resource server would. An
// unknown, forged or expired token is answered inactive.
func (s *Server) Introspect(ctx context.Context, token string) (Introspection, error) {
	form := url.Values{"token": {token}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.Issuer+"/token/introspection", strings.NewReader(form.Encode()))
	if err != nil {
		return Introspection{}, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(introspectorID, introspectorSecret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return Introspection{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return Introspection{}, err
	}
	if resp.StatusCode != http.StatusOK {
		return Introspection{}, fmt.Errorf("introspection: %s: %s", resp.Status, body)
	}
	var in Introspection
	if err := json.Unmarshal(body, &in); err != nil {
		return Introspection{}, fmt.Errorf("introspection: %w", err)
	}
	return in, nil
}

// SubjectToken returns a fresh access token of SubjectClientID with scope,
// a subject token the server accepts in a token exchange.
func (s *Server) SubjectToken(ctx context.Context, scope string) (string, error) {
	cc := clientcredentials.Config{ClientID: SubjectClientID, ClientSecret: SubjectClientSecret, TokenURL: s.TokenURL(),
		Scopes: strings.Fields(scope), AuthStyle: oauth2.AuthStyleInHeader}
	tok, err := cc.Token(ctx)
	if err != nil {
		return "", fmt.Errorf("subject token: %w", err)
	}
	return tok.AccessToken, nil
}
