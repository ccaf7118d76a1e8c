// Package zitadel runs zitadel/oidc's example OpenID provider
// (github.com/zitadel/oidc/v3/example/server, installed by
// scripts/install-tools.sh as zitadel-oidc-server) on a free loopback port,
// as a real authorization server for the client credentials grant: its
// service client ClientID/ClientSecret gets opaque access tokens valid for
// five minutes.
//
// It must not be reached on any address but 127.0.0.1: the example server
// binds every interface, so the harness gives it a fresh port and talks to
// it on loopback only. It is imported only by _test.go files.
package zitadel
