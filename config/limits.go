package config

import "time"

// Defaults of the limits section.
const (
	DefaultMaxInitializeBytes ByteSize = 64 << 10
	DefaultSessionsPerUser             = 32
	DefaultMaxConnections              = 10000
	DefaultIdleTimeout                 = Duration(2 * time.Minute)
	DefaultBodyReadTimeout             = Duration(30 * time.Second)
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
}
