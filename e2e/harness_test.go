package e2e

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate/config"
	"github.com/mcpgate/mcpgate/gateway"
)

// startGateway runs mcpgate in-process on loopback in front of one upstream
// and returns its MCP URL. With passThrough the upstream's names are not
// prefixed, as the conformance suite expects its fixture's names.
func startGateway(t *testing.T, upstreamURL string, passThrough bool) string {
	t.Helper()
	cfg := config.Default()
	s := config.Server{
		Name:              "upstream",
		URL:               upstreamURL,
		Transport:         config.TransportStreamableHTTP,
		AllowInsecureHTTP: true,
		Timeout:           config.Duration(30 * time.Second),
	}
	if passThrough {
		empty := ""
		s.Prefix = &empty
	}
	cfg.Servers = []config.Server{s}
	g, err := gateway.New(cfg, &gateway.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	g.Start(ctx)
	hs := httptest.NewServer(g.Handler())
	t.Cleanup(func() {
		hs.CloseClientConnections()
		cctx, ccancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer ccancel()
		g.Close(cctx)
		hs.Close()
		cancel()
	})
	wctx, wcancel := context.WithTimeout(ctx, 20*time.Second)
	defer wcancel()
	if err := g.WaitSettled(wctx); err != nil {
		t.Fatal(err)
	}
	if st := g.Status(); st.Upstreams[0].State != gateway.StateReady {
		t.Fatalf("upstream not ready: %+v", st.Upstreams[0])
	}
	return hs.URL + "/mcp"
}
