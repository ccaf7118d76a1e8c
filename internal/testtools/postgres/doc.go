// Package postgres runs a PostgreSQL server (Debian's postgresql package,
// installed by scripts/install-tools.sh) for a test: initdb into a fresh
// directory, the server in the foreground on a free 127.0.0.1 port with no
// Unix socket, password authentication, stopped in t.Cleanup. As root it
// runs as an unprivileged user (PostgreSQL refuses root): mcpgatepg if the
// system has one, otherwise nobody. It is imported only by _test.go files.
//
// Environment: MCPGATE_PG_BIN, the directory holding initdb and postgres
// (default: the newest /usr/lib/postgresql/*/bin).
package postgres
