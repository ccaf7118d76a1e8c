package store

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Postgres is a [Store] in a PostgreSQL database, shared by every replica.
// Entries live in one table, mcpgate_kv, keyed by namespace and key; the
// schema is created or upgraded when the store is opened (see migrate).
type Postgres struct {
	pool   *pgxpool.Pool
	now    func() time.Time
	purger *purger
	closed atomic.Bool
}

var _ Store = (*Postgres)(nil)

// OpenPostgres connects to the database at dsn (a PostgreSQL URL or
// key=value connection string) and migrates its schema. Errors never
// repeat the DSN, which may hold a password.
func OpenPostgres(ctx context.Context, dsn string, opts *Options) (*Postgres, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, errors.New("store: open postgres: the DSN does not parse")
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("store: open postgres: %w", err)
	}
	if err := migrate(ctx, pool); err != nil {
		pool.Close()
		return nil, fmt.Errorf("store: open postgres: %w", err)
	}
	p := &Postgres{pool: pool, now: opts.now()}
	p.purger = startPurger(opts.purgeInterval(), func() { _ = p.purge(context.Background()) })
	return p, nil
}

// Get implements [Store].
func (p *Postgres) Get(ctx context.Context, ns, key string) ([]byte, bool, error) {
	if p.closed.Load() {
		return nil, false, ErrClosed
	}
	var value []byte
	err := p.pool.QueryRow(ctx, `SELECT value FROM mcpgate_kv WHERE ns = $1 AND key = $2 AND (expires IS NULL OR expires > $3)`,
		ns, key, p.now()).Scan(&value)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return nil, false, nil
	case err != nil:
		return nil, false, fmt.Errorf("store: get: %w", err)
	}
	if value == nil {
		value = []byte{}
	}
	return value, true, nil
}

// Put implements [Store].
func (p *Postgres) Put(ctx context.Context, ns, key string, value []byte, expires time.Time) error {
	if err := p.check(key); err != nil {
		return fmt.Errorf("store: put: %w", err)
	}
	_, err := p.pool.Exec(ctx, `INSERT INTO mcpgate_kv (ns, key, value, expires) VALUES ($1, $2, $3, $4)
		ON CONFLICT (ns, key) DO UPDATE SET value = excluded.value, expires = excluded.expires`,
		ns, key, nonNil(value), nullTime(expires))
	if err != nil {
		return fmt.Errorf("store: put: %w", err)
	}
	return nil
}

// Create implements [Store]: one statement, so PostgreSQL's unique index
// decides between concurrent Creates; an expired entry is replaced.
func (p *Postgres) Create(ctx context.Context, ns, key string, value []byte, expires time.Time) (bool, error) {
	if err := p.check(key); err != nil {
		return false, fmt.Errorf("store: create: %w", err)
	}
	tag, err := p.pool.Exec(ctx, `INSERT INTO mcpgate_kv (ns, key, value, expires) VALUES ($1, $2, $3, $4)
		ON CONFLICT (ns, key) DO UPDATE SET value = excluded.value, expires = excluded.expires
		WHERE mcpgate_kv.expires IS NOT NULL AND mcpgate_kv.expires <= $5`,
		ns, key, nonNil(value), nullTime(expires), p.now())
	if err != nil {
		return false, fmt.Errorf("store: create: %w", err)
	}
	return tag.RowsAffected() == 1, nil
}

// Delete implements [Store].
func (p *Postgres) Delete(ctx context.Context, ns, key string) error {
	if p.closed.Load() {
		return ErrClosed
	}
	if _, err := p.pool.Exec(ctx, `DELETE FROM mcpgate_kv WHERE ns = $1 AND key = $2`, ns, key); err != nil {
		return fmt.Errorf("store: delete: %w", err)
	}
	return nil
}

// Close implements [Store].
func (p *Postgres) Close() error {
	if p.closed.Swap(true) {
		return nil
	}
	p.purger.halt()
	p.pool.Close()
	return nil
}

// purge removes every expired entry.
func (p *Postgres) purge(ctx context.Context) error {
	if p.closed.Load() {
		return ErrClosed
	}
	_, err := p.pool.Exec(ctx, `DELETE FROM mcpgate_kv WHERE expires <= $1`, p.now())
	return err
}

func (p *Postgres) check(key string) error {
	switch {
	case p.closed.Load():
		return ErrClosed
	case key == "":
		return errors.New("empty key")
	}
	return nil
}

func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// nullTime maps the zero time (never expires) to SQL NULL.
func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}
