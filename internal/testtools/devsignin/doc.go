// Package devsignin signs in at the development identity provider
// (authn/devidp) as a scripted browser would, for tests of the OAuth flow.
// It is imported only by _test.go files.
package devsignin
