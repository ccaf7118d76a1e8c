package store

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// migrations are the PostgreSQL schema, one step per version: version i+1
// is migrations[i]. Append, never edit: a database records the versions it
// has applied in mcpgate_schema_version.
var migrations = []string{
	`CREATE TABLE mcpgate_kv (
		ns      text NOT NULL,
		key     text NOT NULL,
		value   bytea NOT NULL,
		expires timestamptz,
		PRIMARY KEY (ns, key)
	);
	CREATE INDEX mcpgate_kv_expires ON mcpgate_kv (expires) WHERE expires IS NOT NULL;`,
}

// migrationLock is the advisory lock key replicas starting together
// serialise their migrations on ("mcpgate" in ASCII).
const migrationLock = 0x6d63706761746500

// migrate applies the migrations the database lacks, in one transaction
// under an advisory lock, so that replicas starting at once apply each
// step once. A database newer than this binary is refused.
func migrate(ctx context.Context, pool *pgxpool.Pool) error {
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(migrationLock)); err != nil {
			return fmt.Errorf("migrate: lock: %w", err)
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS mcpgate_schema_version (
			version    integer PRIMARY KEY,
			applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		var have int
		if err := tx.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM mcpgate_schema_version`).Scan(&have); err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		if have > len(migrations) {
			return fmt.Errorf("migrate: the database has schema version %d, newer than this mcpgate's %d", have, len(migrations))
		}
		for v := have + 1; v <= len(migrations); v++ {
			if _, err := tx.Exec(ctx, migrations[v-1]); err != nil {
				return fmt.Errorf("migrate: version %d: %w", v, err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO mcpgate_schema_version (version) VALUES ($1)`, v); err != nil {
				return fmt.Errorf("migrate: version %d: %w", v, err)
			}
		}
		return nil
	})
}
