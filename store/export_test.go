package store

import (
	"context"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Purge runs s's purge now.
func Purge(s Store) error {
	switch s := s.(type) {
	case *File:
		return s.purge()
	case *Postgres:
		return s.purge(context.Background())
	}
	return nil
}

// RawCount counts the entries of ns, expired ones included.
func RawCount(s Store, ns string) (n int, err error) {
	switch s := s.(type) {
	case *File:
		err = s.db.View(func(tx *bolt.Tx) error {
			if b := tx.Bucket([]byte(ns)); b != nil {
				n = b.Stats().KeyN
			}
			return nil
		})
	case *Postgres:
		err = s.pool.QueryRow(context.Background(), `SELECT count(*) FROM mcpgate_kv WHERE ns = $1`, ns).Scan(&n)
	}
	return n, err
}

// SetVaultClock sets the clock by which v checks the sealed expiry.
func SetVaultClock(v *Vault, now func() time.Time) { v.now = now }
