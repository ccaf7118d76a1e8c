// Package store owns the gateway's persistence: state that must survive
// restarts and be shared by replicas. It offers one small interface,
// [Store], a key-value store with namespaces and expiry, and its two
// implementations: [File], an embedded single file (bbolt) for one
// replica, and [Postgres], a PostgreSQL database for several. Each
// creates its schema itself when opened.
//
// Values are opaque bytes: what they mean is the caller's business.
// Secrets (employees' upstream tokens) go through a [Vault], which seals
// them with AES-256-GCM under rotating keys before they reach a store,
// bound to their owner and name. The package imports no other
// mcpgate package, opens nothing but the file or database it is given,
// and never logs.
package store
