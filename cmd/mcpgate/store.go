package main

import (
	"context"
	"time"

	"github.com/mcpgate/mcpgate/config"
	"github.com/mcpgate/mcpgate/store"
)

// storeOpenTimeout bounds connecting to the PostgreSQL store at start.
const storeOpenTimeout = 30 * time.Second

// openStore opens the store cfg names (its PostgreSQL DSN provisioned in
// prov), or returns nil when it names none.
func openStore(ctx context.Context, cfg *config.Config, prov *config.Provisioned) (store.Store, error) {
	switch {
	case cfg.Store.Kind == config.StorePostgres:
		ctx, cancel := context.WithTimeout(ctx, storeOpenTimeout)
		defer cancel()
		st, err := store.OpenPostgres(ctx, prov.StoreDSN, nil)
		if err != nil {
			return nil, err
		}
		return st, nil
	case cfg.Store.Path != "":
		st, err := store.OpenFile(cfg.Store.Path, nil)
		if err != nil {
			return nil, err
		}
		return st, nil
	}
	return nil, nil
}
