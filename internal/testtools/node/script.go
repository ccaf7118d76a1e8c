package node

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/mcpgate/mcpgate/internal/testtools"
)

// TSSDKPackage is the npm prefix (under testtools.NPMDir) holding the
// TypeScript MCP SDK, @modelcontextprotocol/sdk, for scripted clients. Its
// version is scripts/install-tools.sh's TS_SDK_VERSION.
const TSSDKPackage = "sdk-1.32.2"

// TSSDK is the npm name of the TypeScript MCP SDK.
const TSSDK = "@modelcontextprotocol/sdk"

// TSClientPackage is the npm prefix holding the TypeScript SDK's client
// package of its next major version, @modelcontextprotocol/client, which
// speaks the 2026-07-28 revision too. Its version is
// scripts/install-tools.sh's TS_CLIENT_VERSION.
const TSClientPackage = "client-2.4.0"

// TSClient is the npm name of that client package.
const TSClient = "@modelcontextprotocol/client"

// NPMModules returns the node_modules directory of the npm prefix
// pkgPrefixName pre-installed by scripts/install-tools.sh (under
// testtools.NPMDir), checking that the package pkg is installed there.
func NPMModules(t testing.TB, pkgPrefixName, pkg string) string {
	t.Helper()
	dir := filepath.Join(testtools.NPMDir(), pkgPrefixName, "node_modules")
	if _, err := os.Stat(filepath.Join(dir, pkg, "package.json")); err != nil {
		testtools.Missing(t, "npm package "+pkg+" ("+pkgPrefixName+")", err.Error())
	}
	return dir
}

// ScriptWithModules copies the script at path into a fresh directory
// beside a link named node_modules to the directory modules, and returns
// the copy's path. ES modules ignore NODE_PATH: this way the script's bare
// imports (import ... from "@modelcontextprotocol/sdk/...") resolve to the
// pre-installed packages, as in a project that installed them.
func ScriptWithModules(t testing.TB, path, modules string) string {
	t.Helper()
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	dst := filepath.Join(dir, filepath.Base(path))
	if err := os.WriteFile(dst, src, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(modules, filepath.Join(dir, "node_modules")); err != nil {
		t.Fatal(fmt.Errorf("link node_modules: %w", err))
	}
	return dst
}
