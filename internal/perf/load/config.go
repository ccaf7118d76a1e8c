package load

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Protocol versions the load generator speaks: sessions of the 2025-11-25
// revision, or stateless requests of the 2026-07-28 revision.
const (
	Version2025 = "2025-11-25"
	Version2026 = "2026-07-28"
)

// Defaults for zero Config fields.
const (
	DefaultTimeout = 30 * time.Second
	DefaultTool    = "echo"
)

// Config describes one load run.
type Config struct {
	// URL is the MCP endpoint, e.g. http://127.0.0.1:8080/mcp. Required.
	URL string
	// Token, if set, is sent as "Authorization: Bearer <Token>".
	Token string
	// Tokens, if set, replaces Token: session i signs in with Tokens[i mod
	// len(Tokens)], so that the load comes from several users.
	Tokens []string
	// ProtocolVersion is Version2025 or Version2026. If empty, Version2025.
	ProtocolVersion string
	// Sessions is the number of client sessions the workers share (worker
	// i uses session i mod Sessions). If zero, 1.
	Sessions int
	// Concurrency is the number of workers, each with one call in flight.
	// If zero, 1.
	Concurrency int
	// Duration bounds the measured run. With Rate, the schedule has
	// Rate×Duration calls. Ignored when Count is set.
	Duration time.Duration
	// Count, if positive, is the exact number of measured calls.
	Count int
	// Rate, if positive, is the fixed rate in calls per second; zero means
	// closed loop.
	Rate float64
	// Tool is the tool to call. If empty, DefaultTool.
	Tool string
	// Tools, if set, replaces Tool: each worker calls them in turn, so
	// that the load spreads over several tools (and upstreams).
	Tools []string
	// Arguments are the tool's arguments, a JSON object. If nil, {}.
	Arguments json.RawMessage
	// Warmup is a closed-loop run whose calls are not measured. If zero,
	// none.
	Warmup time.Duration
	// Timeout bounds each call. If zero, DefaultTimeout.
	Timeout time.Duration
	// Progress, if set, receives a progress line once a second.
	Progress io.Writer
	// OnMeasure, if set, is called with true just before the measured
	// calls start (sessions connected, warmup done) and with false just
	// after the last one ends, e.g. to read the servers' CPU time.
	OnMeasure func(start bool)
}

// withDefaults returns c with its zero fields defaulted, or the first
// problem found.
func (c Config) withDefaults() (Config, error) {
	if c.ProtocolVersion == "" {
		c.ProtocolVersion = Version2025
	}
	if c.Sessions == 0 {
		c.Sessions = 1
	}
	if c.Concurrency == 0 {
		c.Concurrency = 1
	}
	if c.Tool == "" {
		c.Tool = DefaultTool
	}
	if len(c.Tools) == 0 {
		c.Tools = []string{c.Tool}
	}
	if len(c.Tokens) == 0 {
		c.Tokens = []string{c.Token}
	}
	if c.Arguments == nil {
		c.Arguments = json.RawMessage("{}")
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	return c, c.validate()
}

func (c Config) validate() error {
	var errs []error
	if c.URL == "" {
		errs = append(errs, errors.New("url: required"))
	}
	if c.ProtocolVersion != Version2025 && c.ProtocolVersion != Version2026 {
		errs = append(errs, fmt.Errorf("protocol version %q: must be %s or %s", c.ProtocolVersion, Version2025, Version2026))
	}
	if c.Sessions < 0 || c.Concurrency < 0 || c.Count < 0 || c.Rate < 0 || c.Warmup < 0 || c.Timeout < 0 || c.Duration < 0 {
		errs = append(errs, errors.New("sessions, concurrency, count, rate, warmup, timeout and duration: must not be negative"))
	}
	if c.Count == 0 && c.Duration == 0 {
		errs = append(errs, errors.New("count or duration: one is required"))
	}
	if c.Rate > 0 && c.Count == 0 && int(c.Rate*c.Duration.Seconds()) == 0 {
		errs = append(errs, errors.New("rate × duration: schedules no call; raise either"))
	}
	if slices.Contains(c.Tools, "") {
		errs = append(errs, errors.New("tools: a tool name is empty"))
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(c.Arguments, &obj); err != nil || obj == nil {
		errs = append(errs, errors.New("arguments: must be a JSON object"))
	}
	return errors.Join(errs...)
}

// bearer adds the Authorization header to every request.
type bearer struct {
	token string
	base  http.RoundTripper
}

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	if b.token == "" {
		return b.base.RoundTrip(r)
	}
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return b.base.RoundTrip(r)
}

// httpClients returns a client per token, sharing one transport that keeps
// an idle connection per worker and session, so that a run at concurrency
// 16 does not open and close connections per call (the default keeps 2).
func (c Config) httpClients() ([]*http.Client, *http.Transport) {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = c.Concurrency + c.Sessions
	t.MaxIdleConns = t.MaxIdleConnsPerHost
	clients := make([]*http.Client, len(c.Tokens))
	for i, token := range c.Tokens {
		clients[i] = &http.Client{Transport: bearer{token: token, base: t}}
	}
	return clients, t
}

// Validate reports every problem of c (after defaults), or nil.
func (c Config) Validate() error {
	_, err := c.withDefaults()
	return err
}

// ParseRate reads a rate flag: "N", "N/s" or "" (zero: closed loop).
func ParseRate(s string) (float64, error) {
	if s == "" {
		return 0, nil
	}
	r, err := strconv.ParseFloat(strings.TrimSuffix(s, "/s"), 64)
	if err != nil || r <= 0 || r > 1e6 {
		return 0, fmt.Errorf("--rate %q: must be a number of calls per second in (0, 1e6], e.g. 500/s", s)
	}
	return r, nil
}
