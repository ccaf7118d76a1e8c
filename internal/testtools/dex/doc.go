// Package dex runs the Dex OIDC provider (built by scripts/install-tools.sh)
// on loopback with the clients and users a test asks for, and gets tokens
// from it with the password grant. It is imported only by _test.go files.
package dex
