package gateway

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/mcpgate/mcpgate/config"
	"github.com/mcpgate/mcpgate/policy"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Path tricks in resource URIs (issue #17, security regressions). The
// gateway routes a resource URI to the upstream that lists that exact URI,
// or else to the upstream of the first template that matches it; resource
// URIs are not namespaced. These tests use real go-sdk upstreams and
// clients on loopback, through the fast path and the SDK's, in both
// revisions, and count what each upstream receives.

// uriDenier allows everything except the resources whose URI it lists, as
// a policy that compares URIs character for character does.
type uriDenier struct {
	AllowAll
	deny map[string]bool
}

func (d *uriDenier) Decide(ctx context.Context, in *policy.Input) policy.Decision {
	if in.Resource != nil && d.deny[in.Resource.URI] {
		return policy.Decision{Reasons: []string{"resource " + in.Resource.URI + " is confidential"}}
	}
	return d.AllowAll.Decide(ctx, in)
}

func (d *uriDenier) Check(ctx context.Context, in *policy.Input) policy.Decision {
	return d.Decide(ctx, in)
}

func (d *uriDenier) Revision() string { return "uri-denier" }

// uriRecorder records every resource request an upstream receives, by
// method, with the URI (or completion ref) as sent.
type uriRecorder struct {
	mu   sync.Mutex
	seen []string // "method uri"
}

func (r *uriRecorder) middleware(next mcp.MethodHandler) mcp.MethodHandler {
	return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
		var uri string
		switch p := req.GetParams().(type) {
		case *mcp.ReadResourceParams:
			uri = p.URI
		case *mcp.SubscribeParams:
			uri = p.URI
		case *mcp.CompleteParams:
			if p.Ref != nil {
				uri = p.Ref.URI
			}
		default:
			return next(ctx, method, req)
		}
		r.mu.Lock()
		r.seen = append(r.seen, method+" "+uri)
		r.mu.Unlock()
		return next(ctx, method, req)
	}
}

func (r *uriRecorder) all() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.seen...)
}

// readFiles reads files by a URI's cleaned path, as a file server built
// on Go's url and path packages does: the authority, query and fragment
// ignored.
func readFiles(files map[string]string) mcp.ResourceHandler {
	return func(_ context.Context, r *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
		u, err := url.Parse(r.Params.URI)
		if err != nil {
			return nil, mcp.ResourceNotFoundError(r.Params.URI)
		}
		text, ok := files[path.Clean(u.Path)]
		if !ok {
			return nil, mcp.ResourceNotFoundError(r.Params.URI)
		}
		return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: r.Params.URI, MIMEType: "text/plain", Text: text}}}, nil
	}
}

// docsUpstream serves files as a file server does: a resource per file it
// lists, and the template file:///docs/{+path} for any file, which it
// resolves as Go's url and path packages do (percent-decoding, dot
// segments, repeated and trailing slashes, query and fragment ignored).
// So every URI that resolves to /docs/secret returns the secret.
func docsUpstream(rec *uriRecorder) *mcp.Server {
	files := map[string]string{"/docs/readme": "the readme", "/docs/guide": "the guide", "/docs/secret": "THE SECRET"}
	read := readFiles(files)
	s := mcp.NewServer(&mcp.Implementation{Name: "docs", Version: "1"}, &mcp.ServerOptions{
		SubscribeHandler:   func(context.Context, *mcp.SubscribeRequest) error { return nil },
		UnsubscribeHandler: func(context.Context, *mcp.UnsubscribeRequest) error { return nil },
		CompletionHandler: func(context.Context, *mcp.CompleteRequest) (*mcp.CompleteResult, error) {
			return &mcp.CompleteResult{Completion: mcp.CompletionResultDetails{Values: []string{"readme"}}}, nil
		},
	})
	s.AddReceivingMiddleware(rec.middleware)
	s.AddResource(&mcp.Resource{URI: "file:///docs/readme", Name: "readme", MIMEType: "text/plain"}, read)
	s.AddResource(&mcp.Resource{URI: "file:///docs/secret", Name: "secret", MIMEType: "text/plain"}, read)
	s.AddResourceTemplate(&mcp.ResourceTemplate{URITemplate: "file:///docs/{+path}", Name: "doc", MIMEType: "text/plain"}, read)
	return s
}

// vaultUpstream lists vault://keys/master (which the policy denies) and
// vault://pub/a, and serves the template vault://pub/{name}.
func vaultUpstream(rec *uriRecorder) *mcp.Server {
	read := func(_ context.Context, r *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
		text := "public " + r.Params.URI
		if r.Params.URI == "vault://keys/master" {
			text = "THE MASTER KEY"
		}
		return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: r.Params.URI, MIMEType: "text/plain", Text: text}}}, nil
	}
	s := mcp.NewServer(&mcp.Implementation{Name: "vault", Version: "1"}, nil)
	s.AddReceivingMiddleware(rec.middleware)
	s.AddResource(&mcp.Resource{URI: "vault://keys/master", Name: "master", MIMEType: "text/plain"}, read)
	s.AddResource(&mcp.Resource{URI: "vault://pub/a", Name: "a", MIMEType: "text/plain"}, read)
	s.AddResourceTemplate(&mcp.ResourceTemplate{URITemplate: "vault://pub/{name}", Name: "pub", MIMEType: "text/plain"}, read)
	return s
}

// uriGateways are a gateway that serves resources/read on its fast path
// and one that serves it through the SDK (Options.SDKForwarding), both
// with authz as the policy.
func uriGateways(t *testing.T, authz Authorizer, servers ...config.Server) map[string]*testGateway {
	t.Helper()
	fast, sdk := testOptions(), testOptions()
	fast.Authorizer, sdk.Authorizer = authz, authz
	sdk.SDKForwarding = true
	return map[string]*testGateway{"fast path": startGateway(t, fast, servers...), "SDK path": startGateway(t, sdk, servers...)}
}

// wantResourceNotFound fails unless err is the answer for a resource that
// does not exist: -32002 "Resource not found" (no existence oracle).
func wantResourceNotFound(t *testing.T, what string, err error) {
	t.Helper()
	var je *jsonrpc.Error
	if !errors.As(err, &je) || je.Code != mcp.CodeResourceNotFound || je.Message != "Resource not found" {
		t.Errorf("%s: got %v, want error %d Resource not found", what, err, mcp.CodeResourceNotFound)
	}
}

// secretEquivalents are URIs that are not file:///docs/secret but that a
// file server (docsUpstream's template handler, like most) resolves to it:
// the allowed template file:///docs/{+path} matches each of them.
var secretEquivalents = []string{
	"file:///docs/%73ecret",               // a percent-encoded unreserved character
	"file:///docs/%73%65%63%72%65%74",     // all of it encoded
	"file:///docs/./secret",               // dot segment
	"file:///docs/x/../secret",            // dot-dot segment
	"file:///docs/%2e%2e/docs/secret",     // encoded dot-dot
	"file:///docs/%2E%2E/docs/%2E/secret", // upper-case escapes
	"file:///docs/x%2F..%2Fsecret",        // encoded slashes around a dot-dot
	"file:///docs/x/..%2fsecret",          // lower-case encoded slash
	"file:///docs/%252e%252e/docs/secret", // double encoding
	"file:///docs//secret",                // repeated slash
	"file:///docs/secret/",                // trailing slash
	"file:///docs/secret#section",         // fragment added
	"file:///docs/secret?raw=1",           // query added
	"file:///docs/secret?",                // empty query
	"file:///docs/secret#",                // empty fragment
}

// TestResourceURIPathTricks: a resource the policy denies cannot be read,
// subscribed to or completed by another spelling of its URI, through the
// fast path or the SDK's, by a 2025 session or a stateless 2026-07-28
// client: every spelling is answered as a resource that does not exist,
// and the upstream never receives the request. A URI that only looks like
// a listed one (a prefix of it, prefixed by it, another case) reaches no
// upstream unless a template the caller may use matches it, and then only
// that template's server, with the URI byte for byte as decided.
// (Found here: a template the caller may use matched a percent-encoded,
// dot-segment, slash, query or fragment spelling of a resource the policy
// hid, and the upstream's template handler served the secret.)
func TestResourceURIPathTricks(t *testing.T) {
	t.Parallel()
	docsRec, vaultRec := &uriRecorder{}, &uriRecorder{}
	docs := startUpstream(t, docsUpstream(docsRec))
	vault := startUpstream(t, vaultUpstream(vaultRec))
	authz := &uriDenier{deny: map[string]bool{"file:///docs/secret": true, "vault://keys/master": true}}
	gws := uriGateways(t, authz, upstreamConfig("docs", docs.URL), upstreamConfig("vault", vault.URL))

	// Spellings of vault://keys/master, and URIs near it, that no template
	// matches: no upstream may receive them.
	nearMaster := []string{
		"vault://keys/master",        // the denied resource itself
		"VAULT://keys/master",        // scheme case
		"vault://KEYS/master",        // host case
		"vault://keys/Master",        // path case
		"vault://keys/maste",         // a prefix of it
		"vault://keys/master2",       // prefixed by it
		"vault://keys/master/",       // trailing slash
		"vault://keys/master#x",      // fragment
		"vault://keys/master?x=1",    // query
		"vault://keys/%6Daster",      // percent-encoded
		"vault://keys/./master",      // dot segment
		"vault://pub/../keys/master", // dot-dot out of the allowed template's space
		"vault://pub/..%2Fkeys%2Fmaster",
		"vault://pub/a/../../keys/master",
		"vault://keys/master\x00",          // NUL
		"vault://keys/master\x00.txt",      // NUL before a suffix
		"vault://keys/master%00",           // encoded NUL
		"vault://keys/master\r\nX-Evil: 1", // CR LF
		"vault://keys/master\t",            // control character
		"vault://keys/master\u202e",        // bidi override
		" vault://keys/master",             // leading space
		"vault:/keys/master",               // one slash
		"vault:keys/master",                // opaque
		"//keys/master",                    // no scheme
		"vault://pub/a" + strings.Repeat("/..", 1<<12) + "/keys/master", // long
		"vault://keys/master/" + strings.Repeat("a", 200<<10),           // 200 KiB
	}
	for gwName, gw := range gws {
		for eraName, era := range eras {
			t.Run(gwName+"/"+eraName, func(t *testing.T) {
				cs := connect(t, gw.URL, era, nil)
				ctx := ctxTimeout(t)
				// What the caller may read works, through the resource and
				// through the template.
				for uri, want := range map[string]string{"file:///docs/readme": "the readme", "file:///docs/guide": "the guide", "vault://pub/b": "public vault://pub/b"} {
					res, err := cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: uri})
					if err != nil || res.Contents[0].Text != want {
						t.Fatalf("read %s: %v, want %q", uri, err, want)
					}
				}
				listed := resourceURIs(t, cs)
				for _, uri := range listed {
					if uri == "file:///docs/secret" || uri == "vault://keys/master" {
						t.Fatalf("the denied resource %s is listed: %v", uri, listed)
					}
				}
				docsBefore, vaultBefore := len(docsRec.all()), len(vaultRec.all())

				for _, uri := range append([]string{"file:///docs/secret"}, secretEquivalents...) {
					res, err := cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: uri})
					if err == nil {
						t.Errorf("read %q was answered %q: another spelling of a denied resource", uri, res.Contents[0].Text)
						continue
					}
					wantResourceNotFound(t, "read "+uri, err)
				}
				for _, uri := range nearMaster {
					short := uri
					if len(short) > 80 {
						short = short[:80] + "…"
					}
					res, err := cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: uri})
					if err == nil {
						t.Errorf("read %q was answered %q", short, res.Contents[0].Text)
						continue
					}
					switch {
					case era == modern && (strings.ContainsFunc(uri, func(r rune) bool { return r < 0x20 }) || uri != strings.TrimSpace(uri)):
						// A 2026-07-28 request names its URI in the Mcp-Name
						// header too, where these cannot go: the client
						// refuses to send it, or the gateway finds that the
						// header (trimmed by HTTP) does not match the body.
						if !strings.Contains(err.Error(), "Mcp-Name") {
							t.Errorf("read %q: %v, want refused for its Mcp-Name header", short, err)
						}
						continue
					}
					wantResourceNotFound(t, "read "+short, err)
				}
				if era == legacy {
					for _, uri := range []string{"file:///docs/secret", "file:///docs/%73ecret", "file:///docs/./secret", "vault://keys/master", "vault://keys/master/"} {
						wantResourceNotFound(t, "subscribe "+uri, cs.Subscribe(ctx, &mcp.SubscribeParams{URI: uri}))
					}
				}
				for _, uri := range []string{"file:///docs/secret", "file:///docs/%73ecret", "file:///docs/{+path}/../secret", "FILE:///docs/{+path}"} {
					_, err := cs.Complete(ctx, &mcp.CompleteParams{Ref: &mcp.CompleteReference{Type: "ref/resource", URI: uri},
						Argument: mcp.CompleteParamsArgument{Name: "path", Value: "s"}})
					var je *jsonrpc.Error
					if !errors.As(err, &je) || (je.Code != jsonrpc.CodeInvalidParams && je.Code != mcp.CodeResourceNotFound) {
						t.Errorf("complete ref/resource %q: %v, want refused as unknown", uri, err)
					}
				}
				// Past max_request_bytes (4 MiB) the request is refused
				// unread: HTTP 413, or for a 2026-07-28 request, whose
				// Mcp-Name header carries the URI too, 431. (The go-sdk
				// client then closes its session: a session of its own.)
				huge := "vault://keys/master/" + strings.Repeat("a", 5<<20)
				_, err := connect(t, gw.URL, era, nil).ReadResource(ctx, &mcp.ReadResourceParams{URI: huge})
				if want := map[string]string{legacy: "Request Entity Too Large", modern: "Request Header Fields Too Large"}[era]; err == nil || !strings.Contains(err.Error(), want) {
					t.Errorf("read of a %d-byte URI: %v, want %s", len(huge), err, want)
				}
				if got := docsRec.all()[docsBefore:]; len(got) != 0 {
					t.Errorf("docs received %q", got)
				}
				if got := vaultRec.all()[vaultBefore:]; len(got) != 0 {
					t.Errorf("vault received %q", got)
				}

				// Near an allowed URI, where the caller's template matches,
				// the template's server gets the URI as sent, and nothing
				// else: the gateway forwards what it decided.
				for _, uri := range []string{"file:///docs/readm", "file:///docs/readme2", "file:///docs/readme/x"} {
					before := len(docsRec.all())
					if _, err := cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: uri}); err == nil {
						t.Errorf("read %s: answered, but docs has no such file", uri)
					}
					if got := docsRec.all()[before:]; len(got) != 1 || got[0] != "resources/read "+uri {
						t.Errorf("read %s: docs received %q, want exactly that URI once", uri, got)
					}
				}
				if got := vaultRec.all()[vaultBefore:]; len(got) != 0 {
					t.Errorf("vault received %q", got)
				}
			})
		}
	}
}

// TestResourceURIAnotherServersTemplate: a URI of one server's resource
// that another server's template matches reaches neither server, in any
// spelling, when the caller may not read that resource; a server that
// advertises the same URI as an earlier one never gets its reads; and a
// URI the other server's template matches that names no resource goes to
// that template's server only.
func TestResourceURIAnotherServersTemplate(t *testing.T) {
	t.Parallel()
	vaultRec, shadowRec := &uriRecorder{}, &uriRecorder{}
	vault := startUpstream(t, vaultUpstream(vaultRec))
	shadowSrv := mcp.NewServer(&mcp.Implementation{Name: "shadow", Version: "1"}, nil)
	shadowSrv.AddReceivingMiddleware(shadowRec.middleware)
	read := func(_ context.Context, r *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
		return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: r.Params.URI, Text: "shadow's " + r.Params.URI}}}, nil
	}
	// The same URI as vault's denied resource, and a template over vault's
	// URI space.
	shadowSrv.AddResource(&mcp.Resource{URI: "vault://keys/master", Name: "master"}, read)
	shadowSrv.AddResource(&mcp.Resource{URI: "vault://pub/a", Name: "a"}, read)
	shadowSrv.AddResourceTemplate(&mcp.ResourceTemplate{URITemplate: "vault://keys/{+rest}", Name: "keys"}, read)
	shadow := startUpstream(t, shadowSrv)
	authz := &uriDenier{deny: map[string]bool{"vault://keys/master": true}}
	gws := uriGateways(t, authz, upstreamConfig("vault", vault.URL), upstreamConfig("shadow", shadow.URL))
	for gwName, gw := range gws {
		for eraName, era := range eras {
			t.Run(gwName+"/"+eraName, func(t *testing.T) {
				cs := connect(t, gw.URL, era, nil)
				ctx := ctxTimeout(t)
				// vault://pub/a is vault's (listed first): shadow never gets it.
				res, err := cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: "vault://pub/a"})
				if err != nil || res.Contents[0].Text != "public vault://pub/a" {
					t.Fatalf("read vault://pub/a: %v, want vault's", err)
				}
				vaultBefore, shadowBefore := len(vaultRec.all()), len(shadowRec.all())
				for _, uri := range []string{"vault://keys/master", "vault://keys/%6Daster", "vault://keys/./master",
					"vault://keys/x/../master", "vault://keys/master/", "vault://keys//master", "vault://keys/master#x", "vault://keys/master?x"} {
					res, err := cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: uri})
					if err == nil {
						t.Errorf("read %q answered %q", uri, res.Contents[0].Text)
						continue
					}
					wantResourceNotFound(t, "read "+uri, err)
				}
				if got := vaultRec.all()[vaultBefore:]; len(got) != 0 {
					t.Errorf("vault received %q", got)
				}
				if got := shadowRec.all()[shadowBefore:]; len(got) != 0 {
					t.Errorf("shadow received %q", got)
				}
				// A URI of shadow's template that names no resource is
				// shadow's, sent as it is.
				uri := "vault://keys/public-key"
				res, err = cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: uri})
				if err != nil || res.Contents[0].Text != "shadow's "+uri {
					t.Fatalf("read %s: %v, want shadow's", uri, err)
				}
				if got := vaultRec.all()[vaultBefore:]; len(got) != 0 {
					t.Errorf("vault received %q", got)
				}
				if got := shadowRec.all()[shadowBefore:]; len(got) != 1 || got[0] != "resources/read "+uri {
					t.Errorf("shadow received %q, want one read of %s", got, uri)
				}
			})
		}
	}
}

// TestResourceURIInvalidUTF8 : a resource URI that is not valid UTF-8
// (which the go-sdk client cannot send: it replaces the bytes) is refused
// at the edge, HTTP 400 with -32600, in a 2025 session and stateless, and
// reaches no upstream.
func TestResourceURIInvalidUTF8(t *testing.T) {
	t.Parallel()
	docsRec := &uriRecorder{}
	docs := startUpstream(t, docsUpstream(docsRec))
	authz := &uriDenier{deny: map[string]bool{"file:///docs/secret": true}}
	for gwName, gw := range uriGateways(t, authz, upstreamConfig("docs", docs.URL)) {
		cs := connect(t, gw.URL, legacy, nil)
		for _, uri := range []string{"file:///docs/secret\xff", "file:///docs/\xc0\xae\xc0\xae/docs/secret", "file:///docs/secre\xed\xa0\x80t"} {
			body := `{"jsonrpc":"2.0","id":7,"method":"resources/read","params":{"uri":"` + uri + `"}}`
			modernBody := `{"jsonrpc":"2.0","id":7,"method":"resources/read","params":{"uri":"` + uri +
				`","_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}`
			for what, req := range map[string]struct {
				body   string
				header map[string]string
			}{
				"2025 session": {body, sessionHeader(cs.ID())},
				"2026-07-28":   {modernBody, map[string]string{"Mcp-Protocol-Version": modern, "Mcp-Method": "resources/read", "Mcp-Name": uri}},
			} {
				status, out := postMCP(t, gw.URL, req.body, req.header)
				if status != http.StatusBadRequest || !strings.Contains(out, `"code":-32600`) {
					t.Errorf("%s, %s, uri %q: HTTP %d %s; want 400 with -32600", gwName, what, uri, status, out)
				}
			}
		}
	}
	if got := docsRec.all(); len(got) != 0 {
		t.Errorf("docs received %q", got)
	}
}

// TestResourceKey: the spellings a server may resolve to a resource name
// it (catalog.resourcesNamed), and other resources do not; with two
// reviews' spellings (authority, query, Unicode case, Windows names).
func TestResourceKey(t *testing.T) {
	t.Parallel()
	names := func(resource, spelling string) bool {
		c := buildCatalog(1, nil, namer{})
		k, q := resourceKey(resource)
		c.resourceKeys[k] = append(c.resourceKeys[k], resourceRef{resource, q})
		return slices.Contains(c.resourcesNamed(spelling), resource)
	}
	same := map[string][]string{
		"file:///docs/secret": append([]string{"FILE:///docs/secret", "file:docs/secret", "file:/docs/secret",
			// A lenient decoder twice (%25zz stays %zz), another case,
			// Unicode case folding (U+017F) and composition, Windows'
			// separator, data streams, trailing dots and spaces, ";"
			// parameters, an authority a file server ignores.
			"file:///docs/%25zz/../%2573ecret", "file:///docs/SECRET", "file:///docs/Secret", "file:///docs/%C5%BFecret",
			"file:///docs/x%5C..%5Csecret", "file:///docs/secret::$DATA", "file:///docs/secret. .",
			"file:///docs/secret::$DATA%20", "file:///docs/secret::$DATA.", "file:///docs/secret:$I30", "file:///docs/secret;x=1",
			"file://localhost/docs/secret", "file://u@/docs/secret", "file://:1/docs/secret", "file://anyhost/docs/secret",
			"file:///docs/secret?raw=1"}, secretEquivalents...),
		"file:///docs/caf\u00e9": {"file:///docs/cafe\u0301", "file:///docs/CAF%C3%89"},
		"vault://keys/master": {"VAULT://KEYS/master", "vault://keys/%6Daster", "vault://pub/..%2Fkeys%2Fmaster",
			"vault://keys/master/", "vault://keys/master#x", "vault://x@keys/master", "vault://keys:80/master"},
		"db://t?id=1": {"db://t?id=%31", "db://t/?id=1#x", "db://t?id=1&", "db://t?&id=1", "db://t?id=1&id=2",
			"db://t?page=&id=1", "db://t?id=1&page=2", "db://t?ID=1"},
		"db://t?a=1&b=2":       {"db://t?b=2&a=1", "DB://T?B=2&A=1"},
		"db://rows?name=a%20b": {"db://rows?name=a+b", "db://rows?name=a%2520b"},
	}
	for resource, spellings := range same {
		for _, s := range spellings {
			if !names(resource, s) {
				k, q := resourceKey(s)
				wk, wq := resourceKey(resource)
				t.Errorf("%q does not name %s: key %q %v, the resource's %q %v", s, resource, k, q, wk, wq)
			}
		}
	}
	for _, pair := range [][2]string{
		{"file:///docs/secret", "file:///docs/secret2"},
		{"file:///docs/secret", "other:///docs/secret"},
		{"db://t?id=1", "db://t?id=2"},
		{"db://t?id=1", "db://t?id=2&id=1"},
		{"db://t?a=1&b=2", "db://t?a=1"},
		{"vault://keys/master", "vault://other/master"},
		{"vault://keys/master", "vault://keys/master\x00"},
	} {
		if names(pair[0], pair[1]) {
			t.Errorf("%q names %s", pair[1], pair[0])
		}
	}
}

// TestResourceURIPageOfShownResource: a spelling of a resource the caller
// is shown (a page of it, through a template the caller is shown) is read
// through the template, on both paths; only spellings of resources the
// caller is not shown are refused.
func TestResourceURIPageOfShownResource(t *testing.T) {
	t.Parallel()
	read := func(_ context.Context, r *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
		return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: r.Params.URI, Text: "items of " + r.Params.URI}}}, nil
	}
	srv := mcp.NewServer(&mcp.Implementation{Name: "api", Version: "1"}, nil)
	srv.AddResource(&mcp.Resource{URI: "api://items", Name: "items"}, read)
	srv.AddResourceTemplate(&mcp.ResourceTemplate{URITemplate: "api://items{?page}", Name: "items-page"}, read)
	up := startUpstream(t, srv)
	for name, gw := range uriGateways(t, &uriDenier{}, upstreamConfig("api", up.URL)) {
		cs := connect(t, gw.URL, legacy, nil)
		for _, uri := range []string{"api://items", "api://items?page=2"} {
			res, err := cs.ReadResource(ctxTimeout(t), &mcp.ReadResourceParams{URI: uri})
			if err != nil || len(res.Contents) != 1 || res.Contents[0].Text != "items of "+uri {
				t.Errorf("%s: read %s (a resource and a template the caller is shown): %v %+v", name, uri, err, res)
			}
		}
	}
}

// TestResourceURIThroughBroadTemplate (found by review): on both paths, a
// broad template the caller may use (file://{+path}, db://rows{?id,page})
// does not serve a hidden resource under another authority or query: the
// upstream's handler reads the path and the first value of each parameter.
func TestResourceURIThroughBroadTemplate(t *testing.T) {
	t.Parallel()
	files := map[string]string{"/docs/readme": "the readme", "/docs/secret": "THE SECRET"}
	readFile := readFiles(files)
	readRow := func(_ context.Context, r *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
		u, err := url.Parse(r.Params.URI)
		if err != nil {
			return nil, mcp.ResourceNotFoundError(r.Params.URI)
		}
		text := "row " + u.Query().Get("id")
		if u.Query().Get("id") == "1" {
			text = "THE SECRET ROW"
		}
		return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: r.Params.URI, Text: text}}}, nil
	}
	srv := mcp.NewServer(&mcp.Implementation{Name: "fs", Version: "1"}, nil)
	srv.AddResource(&mcp.Resource{URI: "file:///docs/readme", Name: "readme"}, readFile)
	srv.AddResource(&mcp.Resource{URI: "file:///docs/secret", Name: "secret"}, readFile)
	srv.AddResourceTemplate(&mcp.ResourceTemplate{URITemplate: "file://{+path}", Name: "file"}, readFile)
	srv.AddResource(&mcp.Resource{URI: "db://rows?id=1", Name: "row1"}, readRow)
	srv.AddResource(&mcp.Resource{URI: "db://rows?id=2", Name: "row2"}, readRow)
	srv.AddResourceTemplate(&mcp.ResourceTemplate{URITemplate: "db://rows{?id,page}", Name: "row"}, readRow)
	up := startUpstream(t, srv)
	authz := &uriDenier{deny: map[string]bool{"file:///docs/secret": true, "db://rows?id=1": true}}
	for name, gw := range uriGateways(t, authz, upstreamConfig("fs", up.URL)) {
		cs := connect(t, gw.URL, legacy, nil)
		for _, uri := range []string{
			"file:///docs/secret", "db://rows?id=1", "db://rows?id=1&page=", "file:///docs//secret",
			"file://localhost/docs/secret", "file://u@/docs/secret", "file://:1/docs/secret", "file://elsewhere/docs/secret",
			"db://rows?id=1&", "db://rows?id=1&id=2", "db://rows?page=&id=1", "db://rows?page=3&id=%31",
		} {
			res, err := cs.ReadResource(ctxTimeout(t), &mcp.ReadResourceParams{URI: uri})
			if err == nil {
				t.Errorf("%s: %s read a hidden resource through a template: %+v", name, uri, res.Contents)
			}
		}
		// What the template serves beside them.
		for uri, want := range map[string]string{"file://localhost/docs/readme": "the readme", "db://rows?id=2&page=1": "row 2"} {
			res, err := cs.ReadResource(ctxTimeout(t), &mcp.ReadResourceParams{URI: uri})
			if err != nil || len(res.Contents) != 1 || res.Contents[0].Text != want {
				t.Errorf("%s: %s through the template: %v %+v, want %q", name, uri, err, res, want)
			}
		}
	}
}
