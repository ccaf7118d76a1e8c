package zitadel

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/mcpgate/mcpgate/internal/testtools"
)

// Version is the release scripts/install-tools.sh installs.
const Version = "v3.52.0"

// The example server's service client (storage.NewStorage's serviceUsers),
// the only client allowed the client credentials grant. Its tokens have
// ClientID as subject and audience.
const (
	ClientID     = "sid1"
	ClientSecret = "verysecret"
)

// TokenLifetime is the lifetime of the example server's access tokens.
const TokenLifetime = 300 // seconds

// Bin returns the path of the example server, skipping (or failing, with
// MCPGATE_E2E_REQUIRED=1) when it is not installed.
func Bin(t testing.TB) string {
	t.Helper()
	p := filepath.Join(testtools.ToolsBin(), "zitadel-oidc-server")
	if err := testtools.IsExecutable(p); err != nil {
		testtools.Missing(t, "zitadel/oidc example server "+Version, err.Error())
	}
	return p
}

// Server is a running example server.
type Server struct {
	// Base is "http://127.0.0.1:PORT". The server's issuer is
	// "http://localhost:PORT/"; its endpoints answer on either name.
	Base string
}

// TokenURL is the token endpoint.
func (s *Server) TokenURL() string { return s.Base + "/oauth/token" }

// UserinfoURL is the userinfo endpoint.
func (s *Server) UserinfoURL() string { return s.Base + "/userinfo" }

// Start starts the example server on a free loopback port, with a user
// database holding only a user for ClientID's subject, so that the
// userinfo endpoint answers for its client credentials tokens (see
// Server.Verify). It is stopped in t.Cleanup.
func Start(t testing.TB) *Server {
	t.Helper()
	bin := Bin(t)
	dir := t.TempDir()
	users := filepath.Join(dir, "users.json")
	// storage.User, keyed by ID; PreferredLanguage is a BCP 47 tag.
	data := `{"` + ClientID + `": {"ID": "` + ClientID + `", "Username": "` + ClientID +
		`", "Email": "` + ClientID + `@example.com", "EmailVerified": true, "PreferredLanguage": "en"}}`
	if err := os.WriteFile(users, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := testtools.StartListening(t, "zitadel-oidc-server", func(addr string) *exec.Cmd {
		_, port, _ := net.SplitHostPort(addr)
		cmd := exec.Command(bin)
		cmd.Dir = dir
		cmd.Env = []string{"HOME=" + dir, "PORT=" + port, "USERS_FILE=" + users}
		return cmd
	})
	return &Server{Base: "http://" + addr}
}

// Verify asks the server who token belongs to, at its userinfo endpoint,
// and returns the subject. The server decrypts the opaque token, finds it
// in its store and checks its expiry: an unknown, forged or expired token
// is refused. The token must carry the scope "openid": without it the
// example server answers an empty object, which Verify refuses.
//
// Introspection is not used: the example server answers it only for
// tokens whose audience includes the introspecting client, and the
// audience of a client credentials token is the service client, which
// cannot authenticate at the introspection endpoint.
func (s *Server) Verify(ctx context.Context, token string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.UserinfoURL(), nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("userinfo: %s: %s", resp.Status, body)
	}
	var info struct {
		Sub string `json:"sub"`
	}
	if err := json.Unmarshal(body, &info); err != nil || info.Sub == "" {
		return "", fmt.Errorf("userinfo: no subject in %s", body)
	}
	return info.Sub, nil
}
