package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate/authn"
	"github.com/mcpgate/mcpgate/config"
	"github.com/mcpgate/mcpgate/internal/testtools"
	"github.com/mcpgate/mcpgate/telemetry"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// exchangeEndpoint is a token endpoint written for the cases no real
// authorization server here produces: answers that are wrong or hostile.
// Its requests are checked against RFC 8693 §2.1 and recorded; answer
// writes the answer.
type exchangeEndpoint struct {
	URL    string
	answer func(w http.ResponseWriter, r *http.Request)

	mu       sync.Mutex
	requests []url.Values
	problems []string
}

func startExchangeEndpoint(t *testing.T, answer func(w http.ResponseWriter, r *http.Request)) *exchangeEndpoint {
	t.Helper()
	e := &exchangeEndpoint{answer: answer}
	hs := newLoopbackServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, secret, basic := r.BasicAuth()
		err := r.ParseForm()
		e.mu.Lock()
		e.requests = append(e.requests, r.PostForm)
		if err != nil || r.Method != http.MethodPost || !basic || id != "gw" || secret != "gw-secret" {
			e.problems = append(e.problems, fmt.Sprintf("%s with client %q: %v", r.Method, id, err))
		}
		e.mu.Unlock()
		e.answer(w, r)
	}))
	e.URL = hs.URL + "/token"
	t.Cleanup(func() {
		e.mu.Lock()
		defer e.mu.Unlock()
		for _, p := range e.problems {
			t.Errorf("token request: %s", p)
		}
	})
	return e
}

func (e *exchangeEndpoint) forms() []url.Values {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]url.Values(nil), e.requests...)
}

// answerJSON answers status with body as JSON.
func answerJSON(status int, body any) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(body)
	}
}

// issued is a correct RFC 8693 §2.2.1 answer carrying token.
func issued(token string) map[string]any {
	return map[string]any{"access_token": token, "issued_token_type": "urn:ietf:params:oauth:token-type:access_token",
		"token_type": "Bearer", "expires_in": 300}
}

// hostileServer is upstream "echo" (which takes anonymous requests, and
// records every header) of auth kind token_exchange at endpoint e.
func hostileServer(t *testing.T, e *exchangeEndpoint) (config.Server, *testUpstream) {
	t.Helper()
	up := startUpstream(t, echoServer("echo", nil, nil))
	secret := filepath.Join(t.TempDir(), "secret")
	writeSecret(t, secret, "gw-secret")
	s := upstreamConfig("echo", up.URL)
	s.Auth = &config.UpstreamAuth{Kind: config.AuthTokenExchange, TokenURL: e.URL, AllowInsecureHTTP: true,
		ClientID: "gw", ClientSecret: &config.Secret{ValueFromFile: secret}, Audience: "echo-api", Resource: up.URL,
		Scopes:      []config.UpstreamScope{{Name: "echo.read", Level: config.ScopeLevelRead}, {Name: "echo.write", Level: config.ScopeLevelWrite}},
		TokenParams: map[string]string{"connector_id": "corp"}}
	return s, up
}

// The exchange request is RFC 8693's, with the caller's own token as the
// subject, the configured audience, resource and extra parameters, and
// the scopes policy granted; the issued token, not the caller's, goes
// upstream.
func TestTokenExchangeRequest(t *testing.T) {
	t.Parallel()
	e := startExchangeEndpoint(t, answerJSON(http.StatusOK, issued("exchanged-token-1")))
	s, up := hostileServer(t, e)
	opts, rec, reader := observedOptions(t)
	gw := startGateway(t, opts, s)
	cs := connectWith(t, gw.URL, legacy, nil, employeeClient())
	callEcho(t, cs)
	callEcho(t, cs)
	checkExchangeObserved(t, rec, reader)
	forms := e.forms()
	if len(forms) == 0 {
		t.Fatal("no token request")
	}
	want := url.Values{
		"grant_type":           {"urn:ietf:params:oauth:grant-type:token-exchange"},
		"subject_token":        {strings.TrimPrefix(employeeToken, "Bearer ")},
		"subject_token_type":   {"urn:ietf:params:oauth:token-type:access_token"},
		"requested_token_type": {"urn:ietf:params:oauth:token-type:access_token"},
		"audience":             {"echo-api"},
		"resource":             {up.URL},
		"connector_id":         {"corp"},
		"scope":                {"echo.read"}, // AllowAll grants every scope; the session's own requests ask read
	}
	for k, v := range want {
		if got := forms[0][k]; strings.Join(got, ",") != strings.Join(v, ",") {
			t.Errorf("token request %s = %q, want %q", k, got, v)
		}
	}
	var sent []string
	for _, h := range up.seenHeaders() {
		sent = append(sent, h.Get("Authorization"))
	}
	for _, h := range sent {
		if strings.Contains(h, "employee-token") {
			t.Fatalf("the employee's token reached the upstream: %q", h)
		}
	}
	if !strings.Contains(strings.Join(sent, " "), "Bearer exchanged-token-1") {
		t.Errorf("upstream Authorization headers %q lack the exchanged token", sent)
	}
}

// checkExchangeObserved checks that the exchanges were observed: a span
// per exchange naming the server and the kind, never a token; counts by
// server and outcome.
func checkExchangeObserved(t *testing.T, rec *tracetest.SpanRecorder, reader *sdkmetric.ManualReader) {
	t.Helper()
	n := 0
	for _, s := range rec.Ended() {
		if s.Name() != "upstream.token" {
			continue
		}
		n++
		attrs := s.Attributes()
		if !slices.Contains(attrs, attribute.String("mcpgate.upstream.credential", "token_exchange")) || !slices.Contains(attrs, telemetry.AttrServer.String("echo")) {
			t.Errorf("span attributes %v lack the kind and the server", attrs)
		}
		for _, a := range attrs {
			if v := a.Value.Emit(); strings.Contains(v, "employee-token") || strings.Contains(v, "exchanged-token") {
				t.Errorf("span attribute %s carries a token", a.Key)
			}
		}
	}
	counts := tokenCounts(t, reader, "echo")
	// One exchange for the session's own requests (read scopes), one for
	// the calls (every scope, AllowAll); the second call's token is cached.
	if n != 2 || counts[telemetry.UpstreamTokenFetched] != 2 || counts[telemetry.UpstreamTokenCached] < 1 {
		t.Errorf("%d upstream.token spans, counts %v; want 2 exchanges, then the cache", n, counts)
	}
}

// A token endpoint that answers wrongly or with hostility fails the call
// closed: nothing reaches the upstream with a token, the caller is told
// that no credential could be obtained, and the log says why, never with
// the caller's token.
func TestTokenExchangeHostileEndpoint(t *testing.T) {
	t.Parallel()
	html := func(status int) func(http.ResponseWriter, *http.Request) {
		return func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(status)
			fmt.Fprint(w, "<html><body><h1>Sign in</h1><form>secret-page-content</form></body></html>")
		}
	}
	wrongType := issued("t")
	wrongType["issued_token_type"] = "urn:ietf:params:oauth:token-type:id_token"
	noIssuedType := issued("t")
	delete(noIssuedType, "issued_token_type")
	notBearer := issued("t")
	notBearer["token_type"] = "N_A"
	noToken := issued("")
	delete(noToken, "access_token")
	for name, tc := range map[string]struct {
		answer func(http.ResponseWriter, *http.Request)
		log    string
	}{
		"oversized body": {func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"access_token":"%s","issued_token_type":"urn:ietf:params:oauth:token-type:access_token","token_type":"Bearer"}`, strings.Repeat("a", 2<<20))
		}, "cannot parse json"},
		"wrong issued_token_type": {answerJSON(http.StatusOK, wrongType), `issued_token_type \"urn:ietf:params:oauth:token-type:id_token\" is not the access token asked for`},
		"no issued_token_type":    {answerJSON(http.StatusOK, noIssuedType), "has no issued_token_type"},
		"not a bearer token":      {answerJSON(http.StatusOK, notBearer), `token type \"N_A\" is not supported`},
		"missing access_token":    {answerJSON(http.StatusOK, noToken), "missing access_token"},
		"html error page":         {html(http.StatusBadGateway), "token endpoint answered 502 Bad Gateway"},
		"html page with 200":      {html(http.StatusOK), "cannot parse json"},
		"refused subject":         {answerJSON(http.StatusBadRequest, map[string]string{"error": "invalid_grant", "error_description": strings.Repeat("x", 5000)}), "token endpoint answered 400 Bad Request: invalid_grant (xxx"},
		"redirect to another host": {func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "http://localhost:1/token", http.StatusTemporaryRedirect)
		}, "redirect to http://localhost:1/token refused"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := startExchangeEndpoint(t, tc.answer)
			s, up := hostileServer(t, e)
			logs := &testtools.SyncBuffer{}
			opts := testOptions()
			opts.Logger = slog.New(slog.NewTextHandler(logs, nil))
			gw := startGateway(t, opts, s)
			cs := connectWith(t, gw.URL, legacy, nil, employeeClient())
			_, err := cs.CallTool(ctxTimeout(t), &mcp.CallToolParams{Name: "echo__echo", Arguments: map[string]any{"text": "hi"}})
			if rpcErr := rpcError(t, err); !strings.Contains(rpcErr.Message, `server "echo": the gateway could not obtain a credential for you`) {
				t.Errorf("caller told %q, want that no credential could be obtained", rpcErr.Message)
			}
			for _, h := range up.seenHeaders() {
				if a := h.Get("Authorization"); a != "" {
					t.Errorf("the upstream received Authorization %q", a)
				}
			}
			for _, want := range []string{`server \"echo\": token exchange at ` + e.URL, tc.log} {
				if !strings.Contains(logs.String(), want) {
					t.Errorf("log lacks %q:\n%s", want, truncate(logs.String(), 4000))
				}
			}
			for _, leak := range []string{"employee-token", "gw-secret", "secret-page-content", strings.Repeat("x", 300)} {
				if strings.Contains(logs.String(), leak) || strings.Contains(err.Error(), leak) {
					t.Errorf("log or error contains %q", truncate(leak, 20))
				}
			}
		})
	}
}

// An exchange that fails for a call over a session already open (here:
// the wider scopes of a call are refused) fails that call with the same
// clear answer, and the upstream never sees the call.
func TestTokenExchangeRefusedForACall(t *testing.T) {
	t.Parallel()
	e := startExchangeEndpoint(t, func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.PostForm.Get("scope"), "echo.write") {
			answerJSON(http.StatusBadRequest, map[string]string{"error": "invalid_scope"})(w, r)
			return
		}
		answerJSON(http.StatusOK, issued("read-token"))(w, r)
	})
	s, up := hostileServer(t, e)
	logs := &testtools.SyncBuffer{}
	opts := testOptions()
	opts.Logger = slog.New(slog.NewTextHandler(logs, nil))
	var calls atomic.Int32
	up.server.AddReceivingMiddleware(func(next mcp.MethodHandler) mcp.MethodHandler {
		return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
			if method == "tools/call" {
				calls.Add(1)
			}
			return next(ctx, method, req)
		}
	})
	gw := startGateway(t, opts, s)
	cs := connectWith(t, gw.URL, legacy, nil, employeeClient())
	// The employee's session opens with read scopes (its own requests);
	// the call, which AllowAll grants every scope, is refused them.
	_, err := cs.CallTool(ctxTimeout(t), &mcp.CallToolParams{Name: "echo__echo", Arguments: map[string]any{"text": "hi"}})
	if rpcErr := rpcError(t, err); !strings.Contains(rpcErr.Message, `server "echo": the gateway could not obtain a credential for you`) {
		t.Errorf("caller told %q, want that no credential could be obtained", rpcErr.Message)
	}
	if !strings.Contains(logs.String(), "invalid_scope") {
		t.Errorf("the log does not say why:\n%s", logs)
	}
	if n := calls.Load(); n != 0 {
		t.Errorf("the upstream received %d tools/call", n)
	}
	sessionOpened := false
	for _, h := range up.seenHeaders() {
		a := h.Get("Authorization")
		sessionOpened = sessionOpened || a == "Bearer read-token"
		if strings.Contains(a, "employee-token") {
			t.Errorf("the upstream received the employee's token")
		}
	}
	if !sessionOpened {
		t.Errorf("the employee's session never opened with its read-scoped token: the test did not reach the call")
	}
}

// An employee's token source exchanges the freshest subject token it was
// given for that employee, never one verified for someone else, and none
// at all when it has none.
func TestTokenExchangeSubjectToken(t *testing.T) {
	t.Parallel()
	e := startExchangeEndpoint(t, answerJSON(http.StatusOK, issued("exchanged")))
	s, _ := hostileServer(t, e)
	x := newTokenExchange(s, http.DefaultTransport, time.Second, nil, nil)
	subject := func(id *authn.Identity, token string) context.Context {
		h := http.Header{"Authorization": {"Bearer " + token}}
		return withSubjectToken(t.Context(), id, h)
	}
	scoped := func(ctx context.Context, scope string) context.Context {
		return withUpstreamScopes(ctx, []string{scope})
	}
	src := x.forEmployee(subject(alice, "alice-1"), alice)
	steps := []struct {
		ctx  context.Context
		want string // the subject token exchanged
	}{
		{t.Context(), "alice-1"},                                     // the session's own request: the token it was opened with
		{scoped(subject(alice, "alice-2"), "echo.write"), "alice-2"}, // a call brings a fresher one
		{scoped(subject(bob, "bob-1"), "a"), "alice-2"},              // never bob's
		{scoped(t.Context(), "b"), "alice-2"},
	}
	for i, step := range steps {
		if _, err := src.Token(step.ctx); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		forms := e.forms()
		if got := forms[len(forms)-1].Get("subject_token"); got != step.want || len(forms) != i+1 {
			t.Errorf("step %d: exchanged %q (%d requests), want %q", i, got, len(forms), step.want)
		}
	}
	empty := x.forEmployee(t.Context(), bob)
	if _, err := empty.Token(t.Context()); err == nil || !strings.Contains(err.Error(), "no verified token of the caller to exchange") {
		t.Errorf("Token without a subject token: %v", err)
	}
	if n := len(e.forms()); n != len(steps) {
		t.Errorf("%d token requests, want %d: none without a subject token", n, len(steps))
	}
}

// Only one well-formed Bearer credential of a verified caller is taken as
// the subject token, and it never prints.
func TestSubjectTokenParsing(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		id     *authn.Identity
		values []string
		want   string
	}{
		"bearer":          {alice, []string{"Bearer abc.def"}, "abc.def"},
		"case and spaces": {alice, []string{"bearer   abc"}, "abc"},
		"no identity":     {nil, []string{"Bearer abc"}, ""},
		"none":            {alice, nil, ""},
		"two headers":     {alice, []string{"Bearer a", "Bearer b"}, ""},
		"basic":           {alice, []string{"Basic YTpi"}, ""},
		"two tokens":      {alice, []string{"Bearer a b"}, ""},
		"empty":           {alice, []string{"Bearer "}, ""},
		"comma":           {alice, []string{"Bearer a,b"}, ""},
		"no space":        {alice, []string{"Bearerabc"}, ""},
	} {
		ctx := withSubjectToken(t.Context(), tc.id, http.Header{"Authorization": tc.values})
		got, _ := subjectFor(ctx, employeeKey(alice))
		if string(got) != tc.want {
			t.Errorf("%s: subject %q, want %q", name, string(got), tc.want)
		}
	}
	tok := secretToken("very-secret")
	var b strings.Builder
	slog.New(slog.NewJSONHandler(&b, nil)).Info("x", "token", tok)
	js, _ := json.Marshal(map[string]any{"t": tok})
	for _, s := range []string{fmt.Sprint(tok), fmt.Sprintf("%v %s %q %#v %+v", tok, tok, tok, tok, tok), b.String(), string(js)} {
		if strings.Contains(s, "very-secret") || !strings.Contains(s, "[redacted]") {
			t.Errorf("the token printed as %q", s)
		}
	}
}

func FuzzSubjectToken(f *testing.F) {
	for _, s := range []string{"Bearer abc", "bearer  a", "Bearer a b", "Basic x", "", "Bearer \x00", "Bearer\ta"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		got, ok := subjectFor(withSubjectToken(context.Background(), alice, http.Header{"Authorization": {h}}), employeeKey(alice))
		if ok && (got == "" || strings.ContainsAny(string(got), " \t,") || !strings.HasSuffix(h, string(got))) {
			t.Errorf("header %q gave subject token %q", h, string(got))
		}
	})
}
