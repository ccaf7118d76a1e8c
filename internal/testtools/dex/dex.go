package dex

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate/internal/testtools"
)

// DexVersion is the Dex release scripts/install-tools.sh builds into
// testtools.ToolsBin()/dex.
const DexVersion = "v2.45.1"

// DexBin returns the path of the Dex OIDC provider (testtools.ToolsBin()/dex).
func DexBin(t testing.TB) string {
	t.Helper()
	p := filepath.Join(testtools.ToolsBin(), "dex")
	if err := testtools.IsExecutable(p); err != nil {
		testtools.Missing(t, "dex "+DexVersion+" (OIDC provider)", err.Error())
	}
	return p
}

// DexClient is an OAuth2 client registered in Dex (a static client).
type DexClient struct {
	ID, Secret string
	// RedirectURIs defaults to DexRedirectURI.
	RedirectURIs []string
	// TrustedPeers are the clients that may request tokens with this
	// client in their audience (scope "audience:server:client_id:<ID>").
	TrustedPeers []string
}

// DexRedirectURI is the redirect URI of a DexClient that sets none. Nothing
// listens there: the tests use the password grant, which needs none.
const DexRedirectURI = "http://127.0.0.1/callback"

// DexUser is a user of Dex's password database (a static password of the
// "local" connector). Dex logs users in by email: the password grant's
// username is the Email.
type DexUser struct {
	Email, Username, Password string
	// Name is the "name" claim (scope profile); Dex defaults it to Username.
	Name string
	// PreferredUsername is the "preferred_username" claim (scope profile);
	// empty omits it.
	PreferredUsername string
	// Groups is the "groups" claim (scope groups).
	Groups []string
	// UserID is Dex's user ID (encoded, with the connector ID "local", into
	// the "sub" claim); it defaults to Username, or Email.
	UserID string
	// Hash is the bcrypt hash of Password (cost 10 to 16, as Dex requires).
	// If empty, it is looked up in DexPasswordHashes, and a Password not
	// listed there fails the test.
	Hash string
}

// DexPasswordHashes maps fixed test passwords to bcrypt hashes of them (cost
// 10). They are precomputed because golang.org/x/crypto is not in mcpgate's
// module graph, and adding it for tests alone is not worth a go.mod change.
// To add one, hash it with bcrypt.GenerateFromPassword(pw, bcrypt.DefaultCost)
// (any Go module that requires golang.org/x/crypto), or set DexUser.Hash.
var DexPasswordHashes = map[string]string{
	"password":       "$2a$10$Py7TX/tsv8n2WxECd/snCeOZbT7CAm.Dnr8S25hKGvmLq3e9OpTQS",
	"alice-password": "$2a$10$FpN/XsbgJgLLf.gFV1CJYuUSPY5oBPfMfuwXPBUfgkwT5qH4lY.ay",
	"bob-password":   "$2a$10$.zfasjp9m7xMEZrugTerd.6/pIfCSqVFnbLe57b76/2Vi.czX5Rpm",
	"carol-password": "$2a$10$NX/8fW7DZ9C6SsA.rHD/peukJU8/A30viYHhmhRVnjf61DpGbST/S",
	"dave-password":  "$2a$10$90ytEib55SK7o8Az6qNVve5qP0H9jgtyEhaF0fhtdFnQDvF/dx.Ey",
}

// DefaultDexClient and DefaultDexUser are what StartDex registers when it is
// given no client or no user.
var (
	DefaultDexClient = DexClient{ID: "mcpgate", Secret: "mcpgate-secret"}
	DefaultDexUser   = DexUser{Email: "alice@example.com", Username: "alice", Password: "alice-password",
		Groups: []string{"mcp-users"}}
)

// DexGrantTypes are the OAuth2 grant types StartDex enables.
//
// Dex advertises token exchange, but it exchanges only tokens of upstream
// connectors that support it (OIDC, ...), not of the local password database.
var DexGrantTypes = []string{
	"authorization_code",
	"password",
	"refresh_token",
	"urn:ietf:params:oauth:grant-type:token-exchange",
}

// DexDefaultScopes are the scopes PasswordToken requests when given none:
// all the user claims Dex knows.
var DexDefaultScopes = []string{"openid", "email", "profile", "groups"}

// Dex is a running Dex OIDC provider started by StartDex.
type Dex struct {
	// Issuer is "http://127.0.0.1:PORT/dex", also the base of every endpoint.
	Issuer string
	// ClientID and ClientSecret are those of Clients[0].
	ClientID, ClientSecret string
	Clients                []DexClient
	Users                  []DexUser
	// ConfigFile is the configuration Dex runs with (JSON, which Dex reads
	// as YAML).
	ConfigFile string
	// Pid is the process ID of Dex (leader of its process group).
	Pid int
}

// TokenURL is Dex's token endpoint.
func (d *Dex) TokenURL() string { return d.Issuer + "/token" }

// AuthURL is Dex's authorization endpoint.
func (d *Dex) AuthURL() string { return d.Issuer + "/auth" }

// KeysURL is Dex's JWKS endpoint.
func (d *Dex) KeysURL() string { return d.Issuer + "/keys" }

// DexStartTimeout bounds how long Dex may take to serve its discovery document.
const DexStartTimeout = testtools.StartTimeout

// dexConfig builds Dex's configuration. Only the web.http listener is
// configured: without telemetry.http and grpc.addr Dex opens no other
// socket.
func dexConfig(issuer, addr string, opts DexOptions) map[string]any {
	clients, users := opts.Clients, opts.Users
	var sc []map[string]any
	for _, c := range clients {
		redirects := c.RedirectURIs
		if len(redirects) == 0 {
			redirects = []string{DexRedirectURI}
		}
		m := map[string]any{"id": c.ID, "secret": c.Secret, "name": c.ID, "redirectURIs": redirects}
		if len(c.TrustedPeers) > 0 {
			m["trustedPeers"] = c.TrustedPeers
		}
		sc = append(sc, m)
	}
	var sp []map[string]any
	for _, u := range users {
		m := map[string]any{"email": u.Email, "hash": u.Hash, "username": u.Username, "userID": u.UserID}
		if u.Name != "" {
			m["name"] = u.Name
		}
		if u.PreferredUsername != "" {
			m["preferredUsername"] = u.PreferredUsername
		}
		if len(u.Groups) > 0 {
			m["groups"] = u.Groups
		}
		sp = append(sp, m)
	}
	cfg := map[string]any{
		"issuer":  issuer,
		"storage": map[string]any{"type": "memory"},
		"web":     map[string]any{"http": addr},
		"logger":  map[string]any{"level": "debug", "format": "text"},
		"oauth2": map[string]any{
			"passwordConnector":  "local",
			"skipApprovalScreen": true,
			"grantTypes":         DexGrantTypes,
			"responseTypes":      []string{"code"},
		},
		"enablePasswordDB": true,
		"staticClients":    sc,
		"staticPasswords":  sp,
	}
	if len(opts.Connectors) > 0 {
		var conns []map[string]any
		for _, c := range opts.Connectors {
			conns = append(conns, map[string]any{"type": c.Type, "id": c.ID, "name": c.ID, "config": c.Config})
		}
		cfg["connectors"] = conns
	}
	return cfg
}

// DexOptions configure StartDexWith.
type DexOptions struct {
	// Clients are the static clients; if none, DefaultDexClient.
	Clients []DexClient
	// Users are the password database's users; if none, DefaultDexUser.
	Users []DexUser
	// Connectors are connectors besides the password database ("local"),
	// e.g. OIDCConnector for token exchange.
	Connectors []DexConnector
}

// DexConnector is an entry of Dex's "connectors".
type DexConnector struct {
	Type, ID string
	// Config is the connector's configuration, as Dex documents it.
	Config map[string]any
}

// OIDCConnector is a connector of type oidc, with id, to d (another Dex
// playing the employees' identity provider), for RFC 8693 token exchange:
// Dex verifies a subject access token by calling d's userinfo endpoint
// with it (getUserInfo), and takes the user's groups from d
// (insecureEnableGroups). client is the connector's client at d, whose
// redirect URI it must list (DexRedirectURI by default); a token exchange
// never redirects.
func (d *Dex) OIDCConnector(id string, client DexClient) DexConnector {
	redirect := DexRedirectURI
	if len(client.RedirectURIs) > 0 {
		redirect = client.RedirectURIs[0]
	}
	return DexConnector{Type: "oidc", ID: id, Config: map[string]any{
		"issuer": d.Issuer, "clientID": client.ID, "clientSecret": client.Secret, "redirectURI": redirect,
		"getUserInfo": true, "insecureEnableGroups": true, "scopes": []string{"openid", "profile", "email", "groups"},
	}}
}

// DexSubject is the "sub" Dex gives the user userID of connector
// connectorID: the base64url (unpadded) protobuf message {1: userID, 2:
// connectorID} (Dex's internal.IDTokenSubject), for IDs under 128 bytes.
func DexSubject(userID, connectorID string) string {
	b := []byte{0x0a, byte(len(userID))}
	b = append(b, userID...)
	b = append(b, 0x12, byte(len(connectorID)))
	b = append(b, connectorID...)
	return base64.RawURLEncoding.EncodeToString(b)
}

// StartDex starts Dex (DexBin) on a free loopback port with memory storage,
// the password database holding users (the "local" connector, also the
// connector of the password grant), clients as static clients, no approval
// screen, and the grant types DexGrantTypes. No clients or no users register
// DefaultDexClient or DefaultDexUser. It returns once
// {Issuer}/.well-known/openid-configuration answers 200 with the expected
// issuer. Dex logs at debug level; its output goes to the test log when the
// test ends. Its process group is killed in t.Cleanup.
func StartDex(t testing.TB, clients []DexClient, users []DexUser) *Dex {
	t.Helper()
	return StartDexWith(t, DexOptions{Clients: clients, Users: users})
}

// StartDexWith is StartDex with options: connectors besides the password
// database, too.
func StartDexWith(t testing.TB, opts DexOptions) *Dex {
	t.Helper()
	bin := DexBin(t)
	clients, users := opts.Clients, opts.Users
	if len(clients) == 0 {
		clients = []DexClient{DefaultDexClient}
	}
	if len(users) == 0 {
		users = []DexUser{DefaultDexUser}
	}
	clients = append([]DexClient(nil), clients...)
	users = append([]DexUser(nil), users...)
	opts.Clients, opts.Users = clients, users
	for i, c := range clients {
		if c.ID == "" {
			t.Fatalf("StartDex: client %d has no ID", i)
		}
	}
	for i := range users {
		u := &users[i]
		if u.Email == "" || u.Username == "" {
			t.Fatalf("StartDex: user %d (%+v) needs Email and Username", i, *u)
		}
		if u.UserID == "" {
			u.UserID = u.Username
		}
		if u.Hash == "" {
			h, ok := DexPasswordHashes[u.Password]
			if !ok {
				known := make([]string, 0, len(DexPasswordHashes))
				for pw := range DexPasswordHashes {
					known = append(known, pw)
				}
				sort.Strings(known)
				t.Fatalf("StartDex: user %s: no bcrypt hash for password %q: set DexUser.Hash or use one of %q",
					u.Email, u.Password, known)
			}
			u.Hash = h
		}
	}

	dir := t.TempDir()
	var last *testtools.Proc
	// Registered before the processes start, so it runs after their
	// cleanups stopped them: the output is complete. startProc already
	// logs it when the test failed.
	t.Cleanup(func() {
		if last != nil && !t.Failed() {
			t.Logf("output of dex (%s):\n%s", last.Name(), last.Output())
		}
	})
	var errs []error
	for attempt := range 3 {
		addr := testtools.FreeAddr(t)
		d := &Dex{
			Issuer:       "http://" + addr + "/dex",
			ClientID:     clients[0].ID,
			ClientSecret: clients[0].Secret,
			Clients:      clients,
			Users:        users,
			ConfigFile:   filepath.Join(dir, fmt.Sprintf("config-%d.yaml", attempt)),
		}
		data, err := json.MarshalIndent(dexConfig(d.Issuer, addr, opts), "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(d.ConfigFile, data, 0o600); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(bin, "serve", d.ConfigFile)
		cmd.Dir = dir
		// Nothing of the test's environment: Dex reads DEX_* variables
		// (feature flags, DEX_FRONTEND_DIR).
		cmd.Env = []string{"HOME=" + dir}
		p, err := testtools.StartProc(t, "dex "+addr, cmd)
		if err != nil {
			t.Fatal(err)
		}
		last = p
		d.Pid = cmd.Process.Pid
		if err = waitDexReady(p, d.Issuer); err == nil {
			return d
		}
		p.Stop()
		errs = append(errs, err)
		select {
		case <-p.Done():
			if strings.Contains(p.Output(), "address already in use") {
				continue // the port was taken: try another one
			}
		default:
		}
		break
	}
	t.Fatal(errors.Join(errs...))
	return nil
}

// waitDexReady polls the discovery document until it answers 200 with the
// expected issuer, the process exits, or DexStartTimeout passes.
func waitDexReady(p *testtools.Proc, issuer string) error {
	deadline := time.Now().Add(DexStartTimeout)
	client := &http.Client{Timeout: time.Second}
	u := issuer + "/.well-known/openid-configuration"
	var lastErr error
	for {
		lastErr = checkDiscovery(client, u, issuer)
		if lastErr == nil {
			return nil
		}
		select {
		case <-p.Done():
			return fmt.Errorf("%s exited before serving %s: %v\noutput:\n%s", p.Name(), u, p.Err(), p.Output())
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: %s not ready after %v: %v\noutput:\n%s", p.Name(), u, DexStartTimeout, lastErr, p.Output())
		}
		select {
		case <-p.Done():
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func checkDiscovery(client *http.Client, u, issuer string) error {
	resp, err := client.Get(u)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	var doc struct {
		Issuer string `json:"issuer"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return fmt.Errorf("GET %s: %v", u, err)
	}
	if doc.Issuer != issuer {
		return fmt.Errorf("GET %s: issuer %q, want %q", u, doc.Issuer, issuer)
	}
	return nil
}

// DexTokenResponse is the token endpoint's answer.
type DexTokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int    `json:"expires_in"`
	RefreshToken string `json:"refresh_token,omitempty"`
	IDToken      string `json:"id_token,omitempty"`
	Scope        string `json:"scope,omitempty"`
}

// DexTokenError is an OAuth2 error answer of the token endpoint.
type DexTokenError struct {
	Status      int
	Code        string `json:"error"`
	Description string `json:"error_description"`
}

func (e *DexTokenError) Error() string {
	return fmt.Sprintf("dex token endpoint: HTTP %d: %s: %s", e.Status, e.Code, e.Description)
}

// PasswordGrant runs the OAuth2 resource owner password grant for username
// (Dex matches it against the users' Email) with client's credentials
// (HTTP basic authentication) and scopes (DexDefaultScopes if none; Dex
// requires "openid"). An OAuth2 error answer is returned as *DexTokenError.
func (d *Dex) PasswordGrant(ctx context.Context, client DexClient, username, password string, scopes ...string) (*DexTokenResponse, error) {
	if len(scopes) == 0 {
		scopes = DexDefaultScopes
	}
	form := url.Values{
		"grant_type": {"password"},
		"username":   {username},
		"password":   {password},
		"scope":      {strings.Join(scopes, " ")},
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.TokenURL(), strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	// RFC 6749 section 2.3.1: the credentials are form-encoded first.
	req.SetBasicAuth(url.QueryEscape(client.ID), url.QueryEscape(client.Secret))
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		e := &DexTokenError{Status: resp.StatusCode}
		if json.Unmarshal(body, e) != nil || e.Code == "" {
			e.Description = strings.TrimSpace(string(body))
		}
		return nil, e
	}
	var tr DexTokenResponse
	if err := json.Unmarshal(body, &tr); err != nil {
		return nil, fmt.Errorf("dex token endpoint: %v: %s", err, body)
	}
	if tr.AccessToken == "" {
		return nil, fmt.Errorf("dex token endpoint: no access_token in %s", body)
	}
	return &tr, nil
}

// PasswordToken is PasswordGrant that returns the raw access token, a JWT
// signed by Dex whose aud is client.ID, and fails the test on any error.
func (d *Dex) PasswordToken(t testing.TB, client DexClient, username, password string, scopes ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tr, err := d.PasswordGrant(ctx, client, username, password, scopes...)
	if err != nil {
		t.Fatalf("password grant for %s with client %s: %v", username, client.ID, err)
	}
	return tr.AccessToken
}
