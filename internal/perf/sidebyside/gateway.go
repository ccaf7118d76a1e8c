//go:build linux

package sidebyside

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/mcpgate/mcpgate/authn/devidp"
	"github.com/mcpgate/mcpgate/rego"
)

// The gateway's upstream server name, and so the prefix of its tools. The
// shipped library's demo data lets group engineering use its tools.
const gatewayServer = "notes"

// benchUser is the caller: in engineering (which may use the upstream's
// read-only tool) and in three of the generated groups, as in
// policy/library_bench_test.go.
var benchUser = devidp.User{Name: "bench", Email: "bench@example.com",
	Groups: []string{"group-0001", "group-0500", "group-0999", "engineering"}}

// gatewaySetup is a running `mcpgate serve` and what it needs: the
// development identity provider (in this process) that signs the callers'
// tokens, and the collector its spans go to when tracing is on.
type gatewaySetup struct {
	gw, collector *proc
	idp           *http.Server
	addr, url     string
	tokens        []string // one per user of the spec, in its order
	decisionLog   string
}

func (g *gatewaySetup) stop() {
	g.gw.stop()
	g.collector.stop()
	if g.idp != nil {
		g.idp.Close()
	}
}

// upstream is one of the gateway's servers: its name (the prefix of its
// tools) and URL.
type upstream struct{ name, url string }

// gatewaySpec is what the measured gateway serves, and to whom.
type gatewaySpec struct {
	upstreams []upstream
	// users sign in at the development provider; each is in group
	// engineering, which the policy data lets read every upstream.
	users []devidp.User
	// sessionsPerUser is limits.sessions_per_user (at least the default).
	sessionsPerUser int
	// metrics serves Prometheus metrics at /metrics (the side-by-side
	// turns them off, as it measures the call path alone).
	metrics bool
	// env is added to mcpgate's environment.
	env []string
	// policyTimeout is policy.timeout; if zero, mcpgate's default.
	policyTimeout time.Duration
}

// startGateway starts mcpgate (o.MCPGateBin) serving spec, configured in
// dir. On error, whatever started is stopped.
func startGateway(ctx context.Context, o Options, dir string, spec gatewaySpec, log io.Writer) (g *gatewaySetup, err error) {
	g = &gatewaySetup{decisionLog: filepath.Join(dir, "decisions.jsonl")}
	defer func() {
		if err != nil {
			g.stop()
			g = nil
		}
	}()
	if g.addr, err = freeAddr(); err != nil {
		return nil, err
	}
	g.url = "http://" + g.addr + "/mcp"
	issuer, err := g.startIDP(spec.users, log)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, u := range spec.upstreams {
		names = append(names, u.name)
	}
	if err := writeData(filepath.Join(dir, "policy", "data.json"), o.Groups, names); err != nil {
		return nil, err
	}
	cfg := filepath.Join(dir, "mcpgate.yaml")
	if err := os.WriteFile(cfg, []byte(gatewayConfig(g.addr, issuer, filepath.Join(dir, "policy"), g.decisionLog, spec)), 0o600); err != nil {
		return nil, fmt.Errorf("gateway config: %w", err)
	}
	env := []string{"HOME=" + dir, "OTEL_TRACES_EXPORTER=none", "OTEL_LOGS_EXPORTER=none"}
	if o.Tracing {
		if g.collector, env, err = startCollector(o.CollectorBin, dir); err != nil {
			return nil, err
		}
	}
	if !spec.metrics {
		env = append(env, "OTEL_METRICS_EXPORTER=none")
	}
	env = append(env, spec.env...)
	if o.CPUProfile != "" {
		env = append(env, "MCPGATE_CPUPROFILE="+o.CPUProfile)
	}
	if o.GOGC != "" {
		env = append(env, "GOGC="+o.GOGC)
	}
	cmd := exec.CommandContext(ctx, o.MCPGateBin, "serve", "--config", cfg)
	cmd.Env = env
	if g.gw, err = start("mcpgate serve", cmd, log); err != nil {
		return nil, err
	}
	if err := g.gw.waitListening(g.addr); err != nil {
		return nil, err
	}
	return g, waitReady(ctx, "http://"+g.addr+"/readyz")
}

// startIDP serves the development provider on its own loopback port and
// mints a token for the gateway's URL for each of users. It returns the
// issuer.
func (g *gatewaySetup) startIDP(users []devidp.User, log io.Writer) (string, error) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("identity provider: %w", err)
	}
	issuer := "http://" + ln.Addr().String() + "/idp"
	p, err := devidp.New(devidp.Options{Issuer: issuer, Audience: g.url, Users: users,
		TokenTTL: 24 * time.Hour, Logger: slog.New(slog.NewTextHandler(log, nil))})
	if err != nil {
		ln.Close()
		return "", fmt.Errorf("identity provider: %w", err)
	}
	g.idp = &http.Server{Handler: http.StripPrefix("/idp", p.Handler())}
	go g.idp.Serve(ln)
	for _, u := range users {
		token, _, err := p.Token(u.Name)
		if err != nil {
			return "", fmt.Errorf("identity provider: %w", err)
		}
		g.tokens = append(g.tokens, token)
	}
	return issuer, nil
}

// gatewayConfig is the configuration of the measured gateway: sign-in at
// issuer, the built-in library with the data of policyDir, the decision
// log to a file, the spec's upstreams, and room for its sessions per user
// (the default limit is 32).
func gatewayConfig(addr, issuer, policyDir, decisionLog string, spec gatewaySpec) string {
	var b strings.Builder
	fmt.Fprintf(&b, "listen: %q\nshutdown_grace: 1s\n", addr)
	fmt.Fprintf(&b, "limits:\n  sessions_per_user: %d\n", max(spec.sessionsPerUser, 32))
	fmt.Fprintf(&b, "auth:\n  issuers:\n    - issuer: %q\n", issuer)
	fmt.Fprintf(&b, "policy:\n  dir: %q\n  library: builtin\n  decision_log: %q\n", policyDir, decisionLog)
	if spec.policyTimeout > 0 {
		fmt.Fprintf(&b, "  timeout: %s\n", spec.policyTimeout)
	}
	b.WriteString("servers:\n")
	for _, u := range spec.upstreams {
		fmt.Fprintf(&b, "  - name: %s\n    url: %q\n    allow_insecure_http: true\n", u.name, u.url)
	}
	return b.String()
}

// writeData writes the shipped library's demo data plus n generated
// groups, each granting ten tools on three of twenty servers (the shape of
// policy/library_bench_test.go), and lets group engineering read the
// servers the demo data does not name.
func writeData(path string, n int, servers []string) error {
	_, data, err := rego.Library()
	if err != nil {
		return fmt.Errorf("policy data: %w", err)
	}
	groups := data["mcpgate"].(map[string]any)["config"].(map[string]any)["groups"].(map[string]any)
	engineering := groups["engineering"].(map[string]any)["servers"].(map[string]any)
	for _, name := range servers {
		if _, ok := engineering[name]; !ok {
			engineering[name] = map[string]any{"tools": map[string]any{"*": "read"}}
		}
	}
	levels := []string{"read", "write", "all"}
	for i := range n {
		servers := map[string]any{}
		for s := range 3 {
			tools := map[string]any{}
			for k := range 10 {
				tools[fmt.Sprintf("tool_%d", (i+k)%200)] = levels[k%3]
			}
			servers[fmt.Sprintf("server_%d", (i+s)%20)] = map[string]any{"tools": tools}
		}
		groups[fmt.Sprintf("group-%04d", i)] = map[string]any{"servers": servers}
	}
	b, err := json.Marshal(data)
	if err == nil {
		err = os.MkdirAll(filepath.Dir(path), 0o700)
	}
	if err == nil {
		err = os.WriteFile(path, b, 0o600)
	}
	if err != nil {
		return fmt.Errorf("policy data: %w", err)
	}
	return nil
}

// waitReady polls url until it answers 200.
func waitReady(ctx context.Context, url string) error {
	deadline := time.Now().Add(startTimeout)
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("status %s", resp.Status)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("mcpgate not ready after %v at %s: %v (see its log)", startTimeout, url, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// freeAddr returns a loopback address whose port was free a moment ago
// (mcpgate's listen key may not name port 0).
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}
