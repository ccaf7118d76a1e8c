package gateway

import (
	"context"
	"log/slog"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate/config"
	"github.com/mcpgate/mcpgate/internal/testtools"
	"github.com/mcpgate/mcpgate/internal/testtools/zitadel"
	"github.com/mcpgate/mcpgate/telemetry"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// employeeToken is the Authorization the test client sends the gateway; it
// must never reach an upstream.
const employeeToken = "Bearer employee-token-4f1c"

// verifyingUpstream is an MCP server on loopback that asks the
// authorization server about every bearer token it receives (401 unless
// valid) and records every raw Authorization header.
type verifyingUpstream struct {
	URL string

	mu         sync.Mutex
	seen       []string // raw Authorization headers, in order
	rejectNext bool     // refuse the next valid token once, as if revoked
	rejected   []string
}

func startVerifyingUpstream(t *testing.T, as *zitadel.Server) *verifyingUpstream {
	t.Helper()
	return startCheckingUpstream(t, func(ctx context.Context, token string) bool {
		sub, err := as.Verify(ctx, token)
		return err == nil && sub == zitadel.ClientID
	})
}

// startCheckingUpstream is startVerifyingUpstream with valid deciding
// whether a token is valid (asking its authorization server).
func startCheckingUpstream(t *testing.T, valid func(ctx context.Context, token string) bool) *verifyingUpstream {
	t.Helper()
	u := &verifyingUpstream{}
	mcpHandler := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return echoServer("echo", nil, nil) }, nil)
	hs := newLoopbackServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw := r.Header.Get("Authorization")
		token, ok := strings.CutPrefix(raw, "Bearer ")
		u.mu.Lock()
		u.seen = append(u.seen, raw)
		reject := ok && u.rejectNext
		u.mu.Unlock()
		if !ok {
			http.Error(w, "no bearer token", http.StatusUnauthorized)
			return
		}
		if !valid(r.Context(), token) {
			http.Error(w, "invalid token", http.StatusUnauthorized)
			return
		}
		if reject {
			u.mu.Lock()
			u.rejectNext, u.rejected = false, append(u.rejected, raw)
			u.mu.Unlock()
			http.Error(w, "revoked", http.StatusUnauthorized)
			return
		}
		mcpHandler.ServeHTTP(w, r)
	}))
	u.URL = hs.URL + "/mcp"
	return u
}

// noEmployeeToken fails t if an employee's own token is among the
// Authorization headers an upstream received.
func noEmployeeToken(t *testing.T, headers []string) {
	t.Helper()
	for _, h := range headers {
		if strings.Contains(h, "employee-token") {
			t.Errorf("an employee's own token reached the upstream: %q", h)
		}
	}
}

// headers returns the Authorization headers received so far.
func (u *verifyingUpstream) headers() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return slices.Clone(u.seen)
}

// distinct returns the distinct Authorization headers received so far.
func (u *verifyingUpstream) distinct() []string {
	h := u.headers()
	slices.Sort(h)
	return slices.Compact(h)
}

// ccServer is the configuration of an upstream authenticated with client
// credentials from as, its secret in secretFile.
func ccServer(u *verifyingUpstream, as *zitadel.Server, secretFile string) config.Server {
	s := upstreamConfig("echo", u.URL)
	s.Auth = &config.UpstreamAuth{Kind: config.AuthClientCredentials, TokenURL: as.TokenURL(), AllowInsecureHTTP: true,
		ClientID: zitadel.ClientID, ClientSecret: &config.Secret{ValueFromFile: secretFile},
		// openid: the example server's userinfo endpoint, which the
		// upstream verifies tokens with, names the subject only then.
		Scopes: []config.UpstreamScope{{Name: "openid", Level: config.ScopeLevelRead}, {Name: "echo.read", Level: config.ScopeLevelRead}}}
	return s
}

// startClientCredentials starts the authorization server and a verifying
// upstream, and writes clientSecret to the returned secret file.
func startClientCredentials(t *testing.T, clientSecret string) (*zitadel.Server, *verifyingUpstream, string) {
	t.Helper()
	as := zitadel.Start(t)
	secret := filepath.Join(t.TempDir(), "secret")
	writeSecret(t, secret, clientSecret)
	return as, startVerifyingUpstream(t, as), secret
}

func writeSecret(t *testing.T, path, secret string) {
	t.Helper()
	if err := osWriteFile(path, []byte(secret+"\n")); err != nil {
		t.Fatal(err)
	}
}

// employeeClient sends the employee's own token to the gateway.
func employeeClient() *http.Client {
	return &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		r = r.Clone(r.Context())
		r.Header.Set("Authorization", employeeToken)
		return http.DefaultTransport.RoundTrip(r)
	})}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func callEcho(t *testing.T, cs *mcp.ClientSession) {
	t.Helper()
	res, err := cs.CallTool(ctxTimeout(t), &mcp.CallToolParams{Name: "echo__echo", Arguments: map[string]any{"text": "hi"}})
	if err != nil || res.IsError {
		t.Fatalf("call: %v, %+v", err, res)
	}
}

// The upstream receives the gateway's client credentials token, verified by
// the authorization server, on every request (connect, lists, calls), one
// token reused throughout, and never the employee's token.
func TestClientCredentialsReachUpstream(t *testing.T) {
	t.Parallel()
	as, up, secret := startClientCredentials(t, zitadel.ClientSecret)
	gw := startGateway(t, nil, ccServer(up, as, secret))
	if st := upstreamState(gw.Gateway, "echo"); st != StateReady {
		t.Fatalf("upstream is %s: %+v", st, gw.Status())
	}
	for _, era := range []string{legacy, modern} {
		cs := connectWith(t, gw.URL, era, nil, employeeClient())
		callEcho(t, cs)
	}
	tokens := up.distinct()
	if len(tokens) != 1 || !strings.HasPrefix(tokens[0], "Bearer ") {
		t.Fatalf("upstream saw Authorization %q, want one bearer token reused", tokens)
	}
	noEmployeeToken(t, up.headers())
}

// A token is reused until it is within the margin of its expiry, then
// replaced: with the example server's five-minute tokens and a margin of
// five minutes less two seconds, a token lives two seconds.
func TestClientCredentialsRefreshBeforeExpiry(t *testing.T) {
	t.Parallel()
	as, up, secret := startClientCredentials(t, zitadel.ClientSecret)
	opts := testOptions()
	opts.ProbeInterval = time.Hour // only the test's calls carry tokens
	opts.UpstreamTokenMargin = zitadel.TokenLifetime*time.Second - 2*time.Second
	gw := startGateway(t, opts, ccServer(up, as, secret))
	cs := connect(t, gw.URL, legacy, nil)
	start := time.Now()
	callEcho(t, cs)
	callEcho(t, cs)
	if n := len(up.distinct()); n != 1 && time.Since(start) < time.Second {
		t.Fatalf("%d tokens within a second, want one reused", n)
	}
	// Waiting for time to pass, not for an event: the token's age is the
	// condition.
	eventually(t, "a second token", func() bool {
		callEcho(t, cs)
		return len(up.distinct()) >= 2
	})
}

// A wrong client secret makes the upstream unavailable, with an error
// naming the server and the token URL (in /readyz's detail and the log),
// never the secret; the secret file rotated to the right one is picked up
// at the next attempt.
func TestClientCredentialsWrongSecretThenRotated(t *testing.T) {
	t.Parallel()
	const wrong = "not-the-secret-9d2e"
	as, up, secret := startClientCredentials(t, wrong)
	gw, st, logs := startRefusedGateway(t, ccServer(up, as, secret))
	if strings.Contains(st.Error+logs.String(), wrong) {
		t.Errorf("the secret is in /readyz or the log")
	}
	if len(up.headers()) != 0 {
		t.Errorf("the upstream was called without a token: %q", up.headers())
	}
	writeSecret(t, secret, zitadel.ClientSecret)
	eventually(t, "the upstream ready after the secret's rotation", func() bool {
		return upstreamState(gw.Gateway, "echo") == StateReady
	})
	callEcho(t, connect(t, gw.URL, legacy, nil))
}

// startRefusedGateway starts a gateway for s, whose authorization server
// refuses the gateway's client, and checks that the upstream is down with
// an error naming the server, the token URL and the refusal, in /readyz's
// detail and the log. It returns the gateway, the upstream's state and the
// log.
func startRefusedGateway(t *testing.T, s config.Server) (*testGateway, UpstreamStatus, *testtools.SyncBuffer) {
	t.Helper()
	logs := &testtools.SyncBuffer{}
	opts := testOptions()
	opts.Logger = slog.New(slog.NewTextHandler(logs, nil))
	gw := startGateway(t, opts, s)
	st := gw.Status().Upstreams[0]
	if st.State != StateDown || st.Credential != "client_credentials" {
		t.Fatalf("upstream is %s with credential %q, want down with client_credentials", st.State, st.Credential)
	}
	for _, want := range []string{`server "echo"`, s.Auth.TokenURL, "invalid_client"} {
		if !strings.Contains(st.Error, want) {
			t.Errorf("/readyz error %q does not contain %q", st.Error, want)
		}
	}
	// The state changes before the line is logged.
	eventually(t, "the upstream unavailable log line", func() bool {
		return strings.Contains(logs.String(), "upstream unavailable")
	})
	for _, want := range []string{"upstream=echo", `server \"echo\"`, s.Auth.TokenURL, "invalid_client"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log does not contain %q:\n%s", want, logs)
		}
	}
	return gw, st, logs
}

// An upstream that refuses a token before its expiry (revoked) gets the
// request again, once, with a new token.
func TestClientCredentialsRetryAfter401(t *testing.T) {
	t.Parallel()
	as, up, secret := startClientCredentials(t, zitadel.ClientSecret)
	opts := testOptions()
	opts.ProbeInterval = time.Hour
	gw := startGateway(t, opts, ccServer(up, as, secret))
	cs := connect(t, gw.URL, legacy, nil)
	up.mu.Lock()
	up.rejectNext = true
	up.mu.Unlock()
	callEcho(t, cs)
	up.mu.Lock()
	rejected := slices.Clone(up.rejected)
	up.mu.Unlock()
	tokens := up.distinct()
	if len(rejected) != 1 || len(tokens) != 2 || !slices.Contains(tokens, rejected[0]) {
		t.Errorf("rejected %q, tokens seen %q: want the call retried with a second token", rejected, tokens)
	}
}

// The credentials an upstream needs are observable per server: a span per
// token fetch (never per cached use, never the secret or the token), and
// mcpgate.upstream.token.requests by outcome.
func TestClientCredentialsObserved(t *testing.T) {
	t.Parallel()
	as, up, secret := startClientCredentials(t, zitadel.ClientSecret)
	opts, rec, reader := observedOptions(t)
	gw := startGateway(t, opts, ccServer(up, as, secret))
	cs := connectWith(t, gw.URL, modern, nil, employeeClient())
	callEcho(t, cs)
	callEcho(t, cs)

	var fetches []sdktrace.ReadOnlySpan
	for _, s := range rec.Ended() {
		if s.Name() == "upstream.token" {
			fetches = append(fetches, s)
		}
	}
	if len(fetches) != 1 {
		t.Fatalf("%d upstream.token spans, want 1 (one fetch, then the cache)", len(fetches))
	}
	for _, a := range fetches[0].Attributes() {
		if v := a.Value.Emit(); strings.Contains(v, zitadel.ClientSecret) || strings.Contains(strings.ToLower(v), "bearer") {
			t.Errorf("span attribute %s = %q carries a credential", a.Key, v)
		}
	}
	if got := fetches[0].Attributes(); !slices.Contains(got, telemetry.AttrServer.String("echo")) {
		t.Errorf("span attributes %v lack server=echo", got)
	}

	counts := tokenCounts(t, reader, "echo")
	if counts[telemetry.UpstreamTokenFetched] != 1 || counts[telemetry.UpstreamTokenCached] < 2 || counts[telemetry.UpstreamTokenFailed] != 0 {
		t.Errorf("mcpgate.upstream.token.requests for echo: %v, want 1 fetched, at least 2 cached, none failed", counts)
	}
}

// observedOptions are testOptions recording spans and metrics.
func observedOptions(t *testing.T) (*Options, *tracetest.SpanRecorder, *sdkmetric.ManualReader) {
	t.Helper()
	rec := tracetest.NewSpanRecorder()
	reader := sdkmetric.NewManualReader()
	metrics, err := telemetry.NewMetrics(sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader)))
	if err != nil {
		t.Fatal(err)
	}
	opts := testOptions()
	opts.TracerProvider = sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	opts.Metrics = metrics
	return opts, rec, reader
}

// tokenCounts returns mcpgate.upstream.token.requests of server by
// outcome, as reader collects them.
func tokenCounts(t *testing.T, reader *sdkmetric.ManualReader, server string) map[string]int64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(t.Context(), &rm); err != nil {
		t.Fatal(err)
	}
	counts := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != "mcpgate.upstream.token.requests" {
				continue
			}
			for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
				s, _ := dp.Attributes.Value(telemetry.AttrServer)
				outcome, _ := dp.Attributes.Value(telemetry.AttrOutcome)
				if s.AsString() == server {
					counts[outcome.AsString()] += dp.Value
				}
			}
		}
	}
	return counts
}
