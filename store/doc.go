// Package store owns the gateway's persistence: state that must survive
// restarts and be shared by replicas. It offers one small interface,
// [Store], a key-value store with namespaces and expiry, and its two
// implementations: [File], an embedded single file (bbolt) for one
// replica, and [Postgres], a PostgreSQL database for several. Each
// creates its schema itself when opened.
//
// Values are opaque bytes: what they mean, and how secret ones are
// encrypted, is the caller's business. The package imports no other
// mcpgate package, opens nothing but the file or database it is given,
// and never logs.
package store
