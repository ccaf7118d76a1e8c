package gateway

import (
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/mcpgate/mcpgate/config"
)

// DefaultHeaderRecheck is how often the headers of an upstream are read
// again from their files and variables (Options.HeaderRecheck).
const DefaultHeaderRecheck = 10 * time.Second

// upstreamHeaders are the configured headers of one upstream (auth kind
// headers, or the older servers[].headers), read again at every connect
// and, while a session lasts, at most every recheck interval: a rotated
// Secret file takes effect on the next request after that, without a
// reconnect. A read that fails keeps the last good headers (a Secret
// volume is briefly incomplete while Kubernetes swaps it) and is logged.
type upstreamHeaders struct {
	cfg     config.Server
	recheck time.Duration
	log     *slog.Logger

	mu     sync.Mutex
	header http.Header // nil until the first successful read
	read   time.Time
}

// fresh reads the headers now: at connect, where a failure fails the
// connect.
func (h *upstreamHeaders) fresh() (http.Header, error) {
	header, err := h.cfg.ResolveHeaders()
	if err != nil {
		return nil, err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.header, h.read = header, time.Now()
	return header, nil
}

// current returns the headers, read again if the last read is older than
// the recheck interval.
func (h *upstreamHeaders) current() (http.Header, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.header != nil && time.Since(h.read) < h.recheck {
		return h.header, nil
	}
	header, err := h.cfg.ResolveHeaders()
	switch {
	case err == nil:
		h.header, h.read = header, time.Now()
	case h.header == nil:
		return nil, fmt.Errorf("%w: %v", errUnavailable, err)
	default:
		h.read = time.Now() // retried after the interval, not on every request
		h.log.Warn("upstream headers could not be read again; sending the last ones read", "err", err)
	}
	return h.header, nil
}
