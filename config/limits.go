package config

import (
	"strconv"
	"time"
)

// Defaults of the limits section.
const (
	DefaultMaxInitializeBytes      ByteSize = 64 << 10
	DefaultSessionsPerUser                  = 32
	DefaultMaxConnections                   = 10000
	DefaultIdleTimeout                      = Duration(2 * time.Minute)
	DefaultBodyReadTimeout                  = Duration(30 * time.Second)
	DefaultMaxUpstreamMessageBytes ByteSize = 16 << 20
)

// Limits bound what one caller can make the gateway hold: memory per
// session, sessions per user, connections and how long they may idle.
type Limits struct {
	// MaxInitializeBytes is the largest initialize request parameters a
	// session keeps (the client's capabilities and self-description, a few
	// hundred bytes for real clients); a larger initialize is refused. It
	// must be greater than 0. If omitted, defaults to 64KiB.
	MaxInitializeBytes ByteSize `yaml:"max_initialize_bytes"`

	// SessionsPerUser is how many sessions of the 2025 revisions one user
	// may hold open on one replica; opening one more closes that user's
	// session that has been idle longest. It must be greater than 0. If
	// omitted, defaults to 32.
	SessionsPerUser int `yaml:"sessions_per_user"`

	// MaxConnections is how many client connections the gateway holds at
	// once; at the limit, the connection idle longest is closed to make
	// room, and when none is idle the new one is answered 503. It must be
	// greater than 0. If omitted, defaults to 10000.
	MaxConnections int `yaml:"max_connections"`

	// IdleTimeout closes a keep-alive connection with no request in
	// flight after this long. Event streams are requests in flight and are
	// never cut by it. It must be greater than 0. If omitted, defaults to
	// 2m.
	IdleTimeout Duration `yaml:"idle_timeout"`

	// BodyReadTimeout bounds reading one request body, so that a client
	// trickling a body cannot hold a connection and its buffer; responses
	// (event streams) are not bounded by it. It must be greater than 0. If
	// omitted, defaults to 30s.
	BodyReadTimeout Duration `yaml:"body_read_timeout"`

	// MaxUpstreamMessageBytes bounds one message of an upstream's answer
	// (a JSON body, or one event of a stream): a call answered with more
	// fails with an error saying so, and the upstream's other calls go on.
	// It must be greater than 0 and at most 1GiB. If omitted, defaults to
	// 16MiB.
	MaxUpstreamMessageBytes ByteSize `yaml:"max_upstream_message_bytes"`

	// Rate are request rate limits, each a token bucket per key: a
	// request over any of them is answered HTTP 429 with Retry-After and
	// reaches neither the policy nor an upstream. If omitted, there is no
	// rate limit.
	Rate []RateLimit `yaml:"rate,omitempty"`
}

// Keys of a rate limit (RateLimit.Per).
const (
	// RatePerUser limits each signed-in user's requests (issuer and
	// subject), whatever they are.
	RatePerUser = "user"
	// RatePerUserTool limits each user's calls of each tool.
	RatePerUserTool = "user_tool"
	// RatePerClient limits the requests of each OAuth client (the
	// access token's client id), across its users.
	RatePerClient = "client"
	// RatePerServer limits the calls, reads and prompts that go to each
	// upstream server, across users.
	RatePerServer = "server"
)

// RateLimit is one rate limit of limits.rate.
type RateLimit struct {
	// Per is what the limit is counted per: "user", "user_tool",
	// "client" or "server".
	Per string `yaml:"per"`
	// RequestsPerMinute is the sustained rate allowed per key, a whole
	// number greater than 0.
	RequestsPerMinute int `yaml:"requests_per_minute"`
	// Burst is how many requests a key may make at once after a quiet
	// spell; it must be greater than 0. If omitted, defaults to
	// requests_per_minute (a minute's worth), at least 1.
	Burst int `yaml:"burst,omitempty"`
}

// EffectiveBurst is Burst, or its default.
func (r RateLimit) EffectiveBurst() int {
	if r.Burst > 0 {
		return r.Burst
	}
	return max(1, r.RequestsPerMinute)
}

func (l *Limits) validate(ps *problems) {
	if l.MaxInitializeBytes <= 0 {
		ps.add("limits.max_initialize_bytes", "must be greater than 0")
	}
	if l.SessionsPerUser <= 0 {
		ps.add("limits.sessions_per_user", "must be greater than 0")
	}
	if l.MaxConnections <= 0 {
		ps.add("limits.max_connections", "must be greater than 0")
	}
	if l.IdleTimeout <= 0 {
		ps.add("limits.idle_timeout", "must be greater than 0")
	}
	if l.BodyReadTimeout <= 0 {
		ps.add("limits.body_read_timeout", "must be greater than 0")
	}
	if l.MaxUpstreamMessageBytes <= 0 || l.MaxUpstreamMessageBytes > 1<<30 {
		ps.add("limits.max_upstream_message_bytes", "must be greater than 0 and at most 1GiB")
	}
	seen := map[string]int{}
	for i, r := range l.Rate {
		path := "limits.rate[" + strconv.Itoa(i) + "]"
		switch r.Per {
		case RatePerUser, RatePerUserTool, RatePerClient, RatePerServer:
			checkUnique(ps, seen, r.Per, i, path+".per", "one limit per key")
		default:
			ps.add(path+".per", "%q is not supported: use one of [user user_tool client server]", r.Per)
		}
		if r.RequestsPerMinute <= 0 || r.RequestsPerMinute > 1e9 {
			ps.add(path+".requests_per_minute", "must be greater than 0 (and at most 1e9)")
		}
		if r.Burst < 0 {
			ps.add(path+".burst", "must be greater than 0 (omit it for a minute's worth)")
		}
	}
}
