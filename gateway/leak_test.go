package gateway

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/mcpgate/mcpgate/config"
)

// A gateway that served sessions of both revisions, calls on the fast path
// and the SDK's, lists and a subscription stream, and was then closed,
// leaves no goroutine of its own behind (goleak; the test's own servers
// and clients are closed first).
func TestNoGoroutineLeft(t *testing.T) {
	opt := goleak.IgnoreCurrent()
	func() {
		up := startUpstream(t, echoServer("up", nil, nil))
		defer up.stop()
		for _, sdk := range []bool{false, true} {
			opts := testOptions()
			opts.SDKForwarding = sdk
			cfg := config.Default()
			cfg.Servers = []config.Server{upstreamConfig("up", up.URL)}
			g, err := New(cfg, opts)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			g.Start(ctx)
			hs := newLoopbackServer(t, g.Handler())
			wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
			if err := g.WaitSettled(wctx); err != nil {
				t.Fatal(err)
			}
			wcancel()
			var wg sync.WaitGroup
			for i := range 20 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					era := legacy
					if i%2 == 1 {
						era = modern
					}
					cs := connect(t, hs.URL+"/mcp", era, nil)
					defer cs.Close()
					for range 5 {
						if msg := callErr(t, cs, "up__echo"); msg != "" {
							t.Errorf("call: %s", msg)
						}
					}
					_ = toolNames(t, cs)
				}()
			}
			wg.Wait()
			hs.CloseClientConnections()
			cctx, ccancel := context.WithTimeout(context.Background(), 5*time.Second)
			if err := g.Close(cctx); err != nil {
				t.Errorf("close: %v", err)
			}
			ccancel()
			hs.Close()
			cancel()
		}
		http.DefaultClient.CloseIdleConnections()
		http.DefaultTransport.(*http.Transport).CloseIdleConnections()
	}()
	goleak.VerifyNone(t, opt)
}
