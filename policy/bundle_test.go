package policy

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/bundle"
)

// bundleServer serves one bundle at /bundles/authz.tar.gz with ETags; the
// test swaps its content.
type bundleServer struct {
	mu   sync.Mutex
	body []byte
	etag string
	hits int
}

func (s *bundleServer) set(t *testing.T, revision string, modules map[string]string) {
	t.Helper()
	b := bundle.Bundle{Manifest: bundle.Manifest{Revision: revision}, Data: map[string]any{}}
	for name, src := range modules {
		b.Modules = append(b.Modules, bundle.ModuleFile{URL: "/" + name, Path: "/" + name, Raw: []byte(src)})
	}
	var buf bytes.Buffer
	if err := bundle.NewWriter(&buf).DisableFormat(true).Write(b); err != nil {
		t.Fatalf("write bundle: %v", err)
	}
	sum := sha256.Sum256(buf.Bytes())
	s.mu.Lock()
	s.body, s.etag = buf.Bytes(), `"`+hex.EncodeToString(sum[:8])+`"`
	s.mu.Unlock()
}

func (s *bundleServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hits++
	if r.URL.Path != "/bundles/authz.tar.gz" {
		http.NotFound(w, r)
		return
	}
	if r.Header.Get("If-None-Match") == s.etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.Header().Set("ETag", s.etag)
	w.Header().Set("Content-Type", "application/gzip")
	w.Write(s.body)
}

func opaConfig(url string, extra string) []byte {
	return []byte(fmt.Sprintf(`
services:
  test:
    url: %s
bundles:
  authz:
    service: test
    resource: /bundles/authz.tar.gz
    polling:
      min_delay_seconds: 1
      max_delay_seconds: 1
%s`, url, extra))
}

func TestBundlesSwapAndKeepLastGood(t *testing.T) {
	t.Parallel()
	srv := &bundleServer{}
	srv.set(t, "v1", map[string]string{"authz.rego": allowAlice})
	hs := httptest.NewServer(srv)
	defer hs.Close()

	log, logs, recs := signalLogger(t)
	e := NewEngine(Options{Logger: log})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cfg := opaConfig(hs.URL, "decision_logs:\n  console: true\n")
	if err := e.UseBundles(ctx, cfg); err != nil {
		t.Fatalf("UseBundles: %v", err)
	}
	recs.await(t, "first activation", loaded(""))
	if got := e.Decide(ctx, callInput("alice")); !got.Allow || got.Revision != "authz=v1" {
		t.Fatalf("v1: %+v", got)
	}
	if st := e.Status(); st.Source != "bundle:authz" || st.LastError != "" {
		t.Errorf("Status = %+v", st)
	}

	srv.set(t, "v2", map[string]string{"authz.rego": "package mcpgate.authz\ndecision := {\"allow\": false, \"reasons\": [\"v2\"]}"})
	recs.await(t, "v2 activation", func(r logged) bool { return r.msg == "policy: loaded" && r.attrs["revision"] == "authz=v2" })
	if got := e.Decide(ctx, callInput("alice")); got.Allow || got.Reasons[0] != "v2" {
		t.Fatalf("v2: %+v", got)
	}

	srv.set(t, "v3", map[string]string{"authz.rego": "package mcpgate.authz\ndecision := {"})
	// A download or compile failure is only recorded for Status (OPA logs
	// it before it tells the engine): poll Status.
	waitFor(t, "v3 failure in Status", func() bool { return e.Status().LastError != "" })
	if got := e.Decide(ctx, callInput("alice")); got.Allow || got.Revision != "authz=v2" {
		t.Fatalf("after broken v3: %+v, want the v2 denial", got)
	}

	srv.set(t, "v4", map[string]string{"authz.rego": "package mcpgate.authz\ndecision := {\"allow\": http.send({}).status_code == 200}"})
	recs.await(t, "v4 refusal", message("policy: bundle activation refused; keeping the last good policy"))
	if got := e.Status().LastError; !strings.Contains(got, "http.send is not allowed") {
		t.Errorf("LastError after v4 = %q, want the http.send refusal", got)
	}
	if got := e.Revision(); got != "authz=v2" {
		t.Fatalf("revision after refused v4 = %s, want authz=v2", got)
	}

	// OPA's console decision log got the decisions, arguments masked.
	e.dlog.Load().Close() // writes every queued decision to OPA's plugin
	if !strings.Contains(logs.String(), "Decision Log") {
		t.Fatalf("no decision in OPA's console decision log:\n%s", logs)
	}
	if strings.Contains(logs.String(), "hunter2") || !strings.Contains(logs.String(), "[masked]") {
		t.Errorf("OPA decision log not masked by default:\n%s", logs)
	}
}

func TestUseBundlesRejectsBadConfig(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		"not yaml":   "services: [",
		"no bundles": "services:\n  s:\n    url: http://127.0.0.1:1\n",
		"bad bundle": "bundles:\n  authz:\n    service: missing\n",
	}
	for name, cfg := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := newEngine(t, nil, Options{})
			if err := e.UseBundles(context.Background(), []byte(cfg)); err == nil {
				t.Fatal("UseBundles accepted a bad config")
			}
			if e.Status().LastError == "" {
				t.Error("Status has no LastError")
			}
		})
	}
}

// TestBundlesOPADecisionLogGetsMaskedInput: with a mask rule of its own,
// the policy's masking is applied by mcpgate before OPA's decision-log
// plugin sees the input, whatever OPA's mask_decision path says (here one
// where no rule is, so OPA itself masks nothing).
func TestBundlesOPADecisionLogGetsMaskedInput(t *testing.T) {
	t.Parallel()
	srv := &bundleServer{}
	srv.set(t, "v1", map[string]string{
		"authz.rego": allowAlice,
		"mask.rego":  "package system.log\n\nmask contains \"/input/arguments/password\"\n",
	})
	hs := httptest.NewServer(srv)
	defer hs.Close()
	log, logs, recs := signalLogger(t)
	e := NewEngine(Options{Logger: log})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := e.UseBundles(ctx, opaConfig(hs.URL, "decision_logs:\n  console: true\n  mask_decision: /nowhere/mask\n")); err != nil {
		t.Fatalf("UseBundles: %v", err)
	}
	recs.await(t, "activation", loaded(""))
	if !e.Decide(ctx, callInput("alice")).Allow {
		t.Fatal("alice denied")
	}
	e.dlog.Load().Close() // writes every queued decision to OPA's plugin
	if out := logs.String(); !strings.Contains(out, "Decision Log") || strings.Contains(out, "hunter2") || !strings.Contains(out, `n1`) {
		t.Errorf("OPA decision log: want the password erased by the policy's mask and the id kept:\n%s", out)
	}
}

// waitFor polls cond for a state the engine reaches with no record to wait
// for; the deadline only bounds a failing test.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
