#!/usr/bin/env bash
# check-chart.sh: checks mcpgate's Helm chart offline (docs/chart-ci.md).
#
#   1. tools: helm and kubeconform, built with `go install` at pinned
#      versions, cached under ${MCPGATE_CACHE:-$HOME/.cache/mcpgate} like
#      scripts/install-tools.sh does (tools/<name>-<version>/, a stamp file
#      written after success, bin/ symlinks);
#   2. schemas: the Kubernetes JSON schemas kubeconform reads, generated once
#      by charts/test/k8sschemas from the swagger.json of the
#      k8s.io/kubernetes module (and the HTTPRoute and ServiceMonitor CRDs of
#      the gateway-api and prometheus-operator modules), all from the Go
#      module proxy, into tools/k8s-schemas-v<k8s version>/; regenerated when
#      a version or the converter's source changes;
#   3. self-check: kubeconform, with the flags used on the chart, must reject
#      deliberately broken manifests and accept their fixed twins, and the
#      render checks must reject an empty render, so that nothing below can
#      pass vacuously;
#   4. the chart: `helm lint --strict`, `helm template` and kubeconform with
#      the default values and with each ci/*.yaml values file; the default
#      render must hold the kinds in CHECK_CHART_REQUIRED_KINDS;
#   5. charts/test: `go test -count=1 ./...` (the chart's render tests and
#      the schema converter's, k8sschemas) when charts/test/go.mod exists
#      (and the chart checked is charts/mcpgate, which those tests render).
#
# Usage: bash scripts/check-chart.sh [CHART_DIR]     (default: charts/mcpgate)
# Without a CHART_DIR argument and with no charts/mcpgate yet, steps 4-5 are
# skipped (said so) and the script exits 0; a CHART_DIR given that does not
# exist fails.
#
# Environment:
#   MCPGATE_CACHE               cache root (default $HOME/.cache/mcpgate)
#   CHECK_CHART_REQUIRED_KINDS  kinds the default render must contain
#                               (default "Deployment Service ConfigMap")
#   CHECK_CHART_KEEP=1          keep the work directory (renders, outputs)
#
# Network: only the Go module proxy (and its checksum database), for the
# installs and module downloads of a cold cache. kubeconform is given local
# schema files only; no schema location is ever a URL.
set -euo pipefail

HELM_VERSION=v3.22.0
KUBECONFORM_VERSION=v0.8.0
K8S_VERSION=1.37.2
# gateway-api v1.7.0 declares go 1.27: `go mod download` will not extract it
# with go 1.26. HTTPRoute gateway.networking.k8s.io/v1 is the same API.
GATEWAY_API_VERSION=v1.6.3
PROMETHEUS_OPERATOR_VERSION=v0.85.0
# CRDs converted with the Kubernetes schemas: module, version, path in it.
CRD_SOURCES=(
  "sigs.k8s.io/gateway-api $GATEWAY_API_VERSION config/crd/standard/gateway.networking.k8s.io_httproutes.yaml"
  "github.com/prometheus-operator/prometheus-operator $PROMETHEUS_OPERATOR_VERSION example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml"
)
# API versions the chart is rendered as if the cluster served them, so that
# templates gated on .Capabilities.APIVersions render (and get validated).
HELM_API_VERSIONS=(gateway.networking.k8s.io/v1 monitoring.coreos.com/v1)
RELEASE=mcpgate
NAMESPACE=mcpgate
REQUIRED_KINDS="${CHECK_CHART_REQUIRED_KINDS:-Deployment Service ConfigMap}"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if (($# > 1)); then
  echo "usage: $0 [CHART_DIR]" >&2
  exit 2
fi
if (($# == 1)); then
  CHART="$1"
  [[ "$CHART" == /* ]] || CHART="$(pwd)/$CHART"
else
  CHART="$ROOT/charts/mcpgate"
fi

MCPGATE_CACHE="${MCPGATE_CACHE:-${HOME:-/root}/.cache/mcpgate}"
[[ "$MCPGATE_CACHE" == /* ]] || MCPGATE_CACHE="$(pwd)/$MCPGATE_CACHE"
TOOLS="$MCPGATE_CACHE/tools"
BIN="$MCPGATE_CACHE/bin"
STAMP=.mcpgate-installed
SCHEMAS="$TOOLS/k8s-schemas-v$K8S_VERSION"

HELM="$BIN/helm"
KUBECONFORM="$BIN/kubeconform"
# The exact kubeconform invocation, for the self-check and the chart alike.
SCHEMA_LOCATION="$SCHEMAS/{{ .NormalizedKubernetesVersion }}-standalone{{ .StrictSuffix }}/{{ .ResourceKind }}{{ .KindSuffix }}.json"
KUBECONFORM_FLAGS=(-strict -summary -verbose -kubernetes-version "$K8S_VERSION" -schema-location "$SCHEMA_LOCATION")

START=$SECONDS
SECTION_START=$SECONDS
PASSED=0
FAILED=0
FAILURES=()

section() {
  printf '\n=== %s  [+%ds]\n' "$*" "$((SECONDS - START))"
  SECTION_START=$SECONDS
}
log() { printf 'check-chart: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
pass() { PASSED=$((PASSED + 1)); printf 'PASS  %s\n' "$*"; }
fail() { FAILED=$((FAILED + 1)); FAILURES+=("$*"); printf 'FAIL  %s\n' "$*"; }
# indent prints a file (or stdin) indented, for outputs under a PASS/FAIL.
indent() { sed 's/^/      | /' "$@"; }

WORK="$(mktemp -d "${TMPDIR:-/tmp}/check-chart.XXXXXX")"
cleanup() {
  if [[ "${CHECK_CHART_KEEP:-}" == 1 ]]; then
    log "work directory kept: $WORK"
  else
    rm -rf "$WORK"
  fi
}
trap cleanup EXIT

# Helm reads and writes nothing of the user's: its homes are in $WORK.
export HELM_CACHE_HOME="$WORK/helm/cache" HELM_CONFIG_HOME="$WORK/helm/config" HELM_DATA_HOME="$WORK/helm/data"

# ---------------------------------------------------------------------------
# 1. tools
# ---------------------------------------------------------------------------

# go_tool NAME VERSION PACKAGE LDFLAGS VERSION_CMD...: `go install`s PACKAGE at
# VERSION into tools/NAME-VERSION/ (built in a temporary directory, renamed
# once it runs and reports VERSION), links bin/NAME to it.
go_tool() {
  local name="$1" version="$2" pkg="$3" ldflags="$4"
  shift 4
  local dir="$TOOLS/$name-$version"
  local recipe="$pkg@$version -trimpath -ldflags=$ldflags"
  if [[ -x "$dir/$name" && -f "$dir/$STAMP" && "$(cat "$dir/$STAMP")" == "$recipe" ]]; then
    log "cached: $name $version -> $dir"
  else
    log "building: $name $version -> $dir (go install${GO_TOOL_HINT:+; $GO_TOOL_HINT})"
    local t0=$SECONDS tmp="$dir.tmp.$$"
    rm -rf "$tmp" && mkdir -p "$tmp"
    # From /: no go.mod or go.work of ours applies to `go install pkg@version`.
    if ! (cd / && GOBIN="$tmp" GOFLAGS='' GOWORK=off go install -trimpath -ldflags="$ldflags" "$pkg@$version") >&2; then
      rm -rf "$tmp"
      die "go install $pkg@$version failed"
    fi
    local out
    if ! out="$("$tmp/$name" "$@" 2>&1)" || [[ "$out" != *"$version"* ]]; then
      rm -rf "$tmp"
      die "built $name reports '$out', want $version"
    fi
    printf '%s\n' "$recipe" >"$tmp/$STAMP"
    rm -rf "$dir"
    mv "$tmp" "$dir"
    log "built $name $version in $((SECONDS - t0))s"
  fi
  ln -sfn "$dir/$name" "$BIN/$name"
}

# module_dir MODULE VERSION: downloads the module (Go module proxy, checked
# against the checksum database) without adding it to any go.mod, and prints
# its directory in the module cache.
module_dir() {
  local json dir
  if ! json="$(cd / && GOFLAGS=-mod=mod GOWORK=off go mod download -json "$1@$2" 2>&1)"; then
    log "go mod download $1@$2 failed:"
    printf '%s\n' "$json" >&2
    return 1
  fi
  dir="$(printf '%s\n' "$json" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')"
  if [[ -z "$dir" || ! -d "$dir" ]]; then
    log "go mod download $1@$2 gave no directory:"
    printf '%s\n' "$json" >&2
    return 1
  fi
  printf '%s\n' "$dir"
}

# converter_hash: the converter's source (tests excluded) and the YAML
# module version it builds with.
converter_hash() {
  (
    cd "$ROOT"
    find charts/test/k8sschemas -maxdepth 1 -name '*.go' ! -name '*_test.go' | LC_ALL=C sort | xargs cat
    grep -E '^[[:space:]]*go\.yaml\.in/yaml/v3 ' charts/test/go.mod || true
  ) | sha256sum | cut -c1-16
}

# schemas: generates tools/k8s-schemas-v<K8S_VERSION>/ unless its stamp
# matches the recipe (versions and converter hash).
generate_schemas() {
  local recipe
  recipe="k8s.io/kubernetes@v$K8S_VERSION converter=$(converter_hash)"
  local src
  for src in "${CRD_SOURCES[@]}"; do
    recipe+=" $(cut -d' ' -f1,2 <<<"$src" | tr ' ' '@')"
  done
  if [[ -f "$SCHEMAS/$STAMP" && "$(cat "$SCHEMAS/$STAMP")" == "$recipe" ]]; then
    log "cached: Kubernetes $K8S_VERSION schemas -> $SCHEMAS"
    # The converter's test on the real swagger.json (go test ./...) needs
    # the module too, even when the schemas come from the cache.
    module_dir k8s.io/kubernetes "v$K8S_VERSION" >/dev/null || die "cannot download k8s.io/kubernetes v$K8S_VERSION"
    return 0
  fi
  log "generating: Kubernetes $K8S_VERSION schemas -> $SCHEMAS"
  local t0=$SECONDS kdir
  kdir="$(module_dir k8s.io/kubernetes "v$K8S_VERSION")" || die "cannot download k8s.io/kubernetes v$K8S_VERSION"
  local swagger="$kdir/api/openapi-spec/swagger.json"
  [[ -f "$swagger" ]] || die "$swagger not found"
  local args=(-swagger "$swagger" -k8s-version "$K8S_VERSION")
  local mod ver path dir
  for src in "${CRD_SOURCES[@]}"; do
    read -r mod ver path <<<"$src"
    dir="$(module_dir "$mod" "$ver")" || die "cannot download $mod $ver"
    [[ -f "$dir/$path" ]] || die "$mod@$ver has no $path"
    args+=(-crd "$dir/$path")
  done
  local tmp="$SCHEMAS.tmp.$$"
  rm -rf "$tmp"
  if ! (cd "$ROOT/charts/test" && GOWORK=off go run ./k8sschemas "${args[@]}" -out "$tmp") >&2; then
    rm -rf "$tmp"
    die "charts/test/k8sschemas failed"
  fi
  printf '%s\n' "$recipe" >"$tmp/$STAMP"
  rm -rf "$SCHEMAS"
  mv "$tmp" "$SCHEMAS"
  log "generated schemas in $((SECONDS - t0))s"
}

section "tools and schemas (cache: $MCPGATE_CACHE)"
command -v go >/dev/null || die "go not found in PATH"
mkdir -p "$TOOLS" "$BIN"
if command -v flock >/dev/null; then
  # The lock scripts/install-tools.sh takes: one install at a time per cache.
  exec 9>"$MCPGATE_CACHE/.install.lock"
  flock 9
fi
GO_TOOL_HINT="5 to 8 minutes cold on 2 cores" go_tool helm "$HELM_VERSION" helm.sh/helm/v3/cmd/helm \
  "-X helm.sh/helm/v3/internal/version.version=$HELM_VERSION" \
  version --template '{{.Version}}'
GO_TOOL_HINT="under a minute" go_tool kubeconform "$KUBECONFORM_VERSION" github.com/yannh/kubeconform/cmd/kubeconform \
  "-X main.version=$KUBECONFORM_VERSION" \
  -v
generate_schemas
if command -v flock >/dev/null; then
  exec 9>&-
fi
echo "helm        $("$HELM" version --template '{{.Version}}')  $(readlink -f "$HELM")"
echo "kubeconform $("$KUBECONFORM" -v)  $(readlink -f "$KUBECONFORM")"
echo "schemas     Kubernetes v$K8S_VERSION + CRDs, $(find "$SCHEMAS/v$K8S_VERSION-standalone-strict" -name '*.json' | wc -l) kinds  $SCHEMAS"
echo "kubeconform flags: ${KUBECONFORM_FLAGS[*]}"
echo "(took $((SECONDS - SECTION_START))s)"

# For charts/test and anyone sourcing the environment.
export PATH="$BIN:$PATH"
export MCPGATE_TOOLS_BIN="$BIN" MCPGATE_HELM="$HELM" MCPGATE_KUBECONFORM="$KUBECONFORM"
export MCPGATE_K8S_VERSION="$K8S_VERSION" MCPGATE_K8S_SCHEMA_LOCATION="$SCHEMA_LOCATION"

# ---------------------------------------------------------------------------
# checks
# ---------------------------------------------------------------------------

# kubeconform_file FILE OUT: runs kubeconform with KUBECONFORM_FLAGS on FILE,
# its output in OUT; returns kubeconform's status.
kubeconform_file() {
  "$KUBECONFORM" "${KUBECONFORM_FLAGS[@]}" "$1" >"$2" 2>&1
}

# summary_counts OUT: prints "resources valid invalid errors skipped" from
# kubeconform's summary line, or nothing.
summary_counts() {
  sed -n 's/^Summary: \([0-9]*\) resources\{0,1\} found .* - Valid: \([0-9]*\), Invalid: \([0-9]*\), Errors: \([0-9]*\), Skipped: \([0-9]*\)$/\1 \2 \3 \4 \5/p' "$1" | tail -n1
}

# render_problems FILE REQUIRED_KINDS OUT: validates a rendered manifest
# stream (kubeconform's output in OUT) and prints one line per problem:
# kubeconform failed, found no resource, found one not valid (invalid,
# without a schema, or skipped), or the stream lacks a kind of
# REQUIRED_KINDS. Returns 1 if there is a problem. The last line of OUT is
# then the list of kinds found.
render_problems() {
  local file="$1" required="$2" out="$3" rc=0
  kubeconform_file "$file" "$out" || rc=$?
  local counts n=0 valid=0 invalid=0 errors=0 skipped=0
  counts="$(summary_counts "$out")"
  [[ -n "$counts" ]] && read -r n valid invalid errors skipped <<<"$counts"
  local kinds k bad=0
  # Kinds of every resource kubeconform reported, valid or not.
  kinds="$(sed -n -e 's/^.* - \([^ ]*\) [^ ]* is valid$/\1/p' -e 's/^.* - \([^ ]*\) [^ ]* is invalid: .*/\1/p' \
    -e 's/^.* - \([^ ]*\) [^ ]* failed validation: .*/\1/p' "$out" | LC_ALL=C sort -u | tr '\n' ' ')"
  ((rc == 0)) || { echo "kubeconform exited $rc"; bad=1; }
  [[ -n "$counts" ]] || { echo "no kubeconform summary"; bad=1; }
  ((n > 0)) || { echo "no resource rendered"; bad=1; }
  ((valid == n)) || { echo "$valid of $n resources valid (invalid $invalid, errors $errors, skipped $skipped)"; bad=1; }
  for k in $required; do
    [[ " $kinds " == *" $k "* ]] || { echo "no $k rendered"; bad=1; }
  done
  echo "kinds: ${kinds% }" >>"$out"
  return "$bad"
}

# check_render LABEL FILE REQUIRED_KINDS: render_problems, as PASS or FAIL.
check_render() {
  local label="$1" file="$2" out="$2.kubeconform" problems
  if problems="$(render_problems "$file" "$3" "$out")"; then
    pass "$label: $(grep -c ' is valid$' "$out") resources valid; $(tail -n1 "$out")"
  else
    fail "$label: $(paste -sd'|' <<<"$problems" | sed 's/|/; /g')"
    indent "$out"
  fi
}

# expect_invalid LABEL FILE PATTERN: kubeconform must fail FILE as invalid
# (a schema was found and the resource broke it) with PATTERN in the output.
expect_invalid() {
  local label="$1" file="$2" pattern="$3" out="$2.kubeconform" rc=0
  kubeconform_file "$file" "$out" || rc=$?
  if ((rc != 0)) && grep -q ' is invalid: ' "$out" && grep -qF -- "$pattern" "$out"; then
    pass "self-check: $label is rejected ($(grep -o "at '[^']*': .*" "$out" | head -n1))"
  else
    fail "self-check: $label must be rejected as invalid, mentioning '$pattern' (kubeconform exited $rc)"
    indent "$out"
  fi
}

# expect_valid LABEL FILE: kubeconform must accept FILE, every resource valid.
expect_valid() {
  local label="$1" file="$2" out="$2.kubeconform" rc=0
  kubeconform_file "$file" "$out" || rc=$?
  local counts n=0 valid=0 _i _e _s
  counts="$(summary_counts "$out")"
  [[ -n "$counts" ]] && read -r n valid _i _e _s <<<"$counts"
  if ((rc == 0 && n > 0 && valid == n)); then
    pass "self-check: $label is accepted"
  else
    fail "self-check: $label must be accepted (kubeconform exited $rc)"
    indent "$out"
  fi
}

section "self-check: kubeconform and the render checks reject what they must"
ST="$WORK/selfcheck"
mkdir -p "$ST"
deployment() { # deployment REPLICAS EXTRA_CONTAINER_LINE
  cat <<EOF
apiVersion: apps/v1
kind: Deployment
metadata:
  name: selfcheck
  labels: {app: selfcheck}
spec:
  replicas: $1
  selector:
    matchLabels: {app: selfcheck}
  strategy:
    rollingUpdate: {maxSurge: 25%, maxUnavailable: 0}
  template:
    metadata:
      labels: {app: selfcheck}
    spec:
      containers:
        - name: app
          image: example.invalid/app:1
          ports: [{containerPort: 8080, name: http}]
          resources:
            limits: {cpu: 1, memory: 128Mi}
          $2
EOF
}
deployment 2 "imagePullPolicy: IfNotPresent" >"$ST/deployment-good.yaml"
deployment '"two"' "imagePullPolicy: IfNotPresent" >"$ST/deployment-replicas-string.yaml"
deployment 2 "imagePullPolicyy: IfNotPresent" >"$ST/deployment-unknown-field.yaml"
expect_valid "a valid Deployment" "$ST/deployment-good.yaml"
expect_invalid 'a Deployment with replicas: "two"' "$ST/deployment-replicas-string.yaml" "/spec/replicas"
expect_invalid "a Deployment with an unknown container field" "$ST/deployment-unknown-field.yaml" "imagePullPolicyy"
cat >"$ST/unknown-kind.yaml" <<'EOF'
apiVersion: example.invalid/v1
kind: NoSuchKind
metadata: {name: selfcheck}
EOF
rc=0
kubeconform_file "$ST/unknown-kind.yaml" "$ST/unknown-kind.out" || rc=$?
if ((rc != 0)) && grep -q 'could not find schema' "$ST/unknown-kind.out"; then
  pass "self-check: a kind without a schema is an error, not skipped"
else
  fail "self-check: a kind without a schema must be an error (kubeconform exited $rc)"
  indent "$ST/unknown-kind.out"
fi
httproute() { # httproute EXTRA_SPEC_LINE
  cat <<EOF
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: selfcheck
spec:
  parentRefs: [{name: gateway}]
  hostnames: [mcp.example.com]
  rules:
    - matches: [{path: {type: PathPrefix, value: /}}]
      backendRefs: [{name: selfcheck, port: 8080}]
  $1
EOF
}
httproute "" >"$ST/httproute-good.yaml"
httproute "hostnamez: [x]" >"$ST/httproute-unknown-field.yaml"
expect_valid "a valid HTTPRoute" "$ST/httproute-good.yaml"
expect_invalid "an HTTPRoute with an unknown spec field" "$ST/httproute-unknown-field.yaml" "hostnamez"
servicemonitor() { # servicemonitor INTERVAL
  cat <<EOF
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata:
  name: selfcheck
  labels: {release: prometheus}
spec:
  selector:
    matchLabels: {app: selfcheck}
  endpoints:
    - port: metrics
      path: /metrics
      interval: $1
EOF
}
servicemonitor 30s >"$ST/servicemonitor-good.yaml"
servicemonitor 30 >"$ST/servicemonitor-interval-number.yaml"
expect_valid "a valid ServiceMonitor" "$ST/servicemonitor-good.yaml"
expect_invalid "a ServiceMonitor with interval: 30 (a number)" "$ST/servicemonitor-interval-number.yaml" "/spec/endpoints/0/interval"
# The render checks themselves: an empty render, and one without a
# required kind, must fail them.
: >"$ST/render-empty.yaml"
if problems="$(render_problems "$ST/render-empty.yaml" "" "$ST/render-empty.out")"; then
  fail "self-check: an empty render must fail the render check"
  indent "$ST/render-empty.out"
else
  pass "self-check: an empty render fails the render check ($(paste -sd'|' <<<"$problems" | sed 's/|/; /g'))"
fi
if problems="$(render_problems "$ST/deployment-good.yaml" "Deployment ConfigMap" "$ST/render-nocm.out")"; then
  fail "self-check: a render without a required kind must fail the render check"
  indent "$ST/render-nocm.out"
else
  pass "self-check: a render without a required kind fails the render check ($(paste -sd'|' <<<"$problems" | sed 's/|/; /g'))"
fi
echo "(took $((SECONDS - SECTION_START))s)"

# ---------------------------------------------------------------------------
# the chart
# ---------------------------------------------------------------------------
CHART_REL="${CHART#"$ROOT"/}"
if [[ ! -f "$CHART/Chart.yaml" ]]; then
  section "chart $CHART_REL"
  fail "no chart at $CHART_REL (no Chart.yaml)"
else
  # Value sets: the defaults, then every ci/*.yaml.
  labels=(default)
  files=("")
  for f in "$CHART"/ci/*.yaml; do
    [[ -e "$f" ]] || continue
    labels+=("ci/$(basename "$f")")
    files+=("$f")
  done
  api_args=()
  for a in "${HELM_API_VERSIONS[@]}"; do api_args+=(--api-versions "$a"); done

  for i in "${!labels[@]}"; do
    label="${labels[$i]}"
    vals=()
    [[ -n "${files[$i]}" ]] && vals=(-f "${files[$i]}")
    section "chart $CHART_REL, values: $label"
    out="$WORK/lint-$i.out"
    if "$HELM" lint --strict --kube-version "$K8S_VERSION" "${vals[@]}" "$CHART" >"$out" 2>&1; then
      pass "helm lint --strict ($label)"
    else
      fail "helm lint --strict ($label)"
    fi
    indent "$out"
    render="$WORK/render-$i.yaml"
    if "$HELM" template "$RELEASE" "$CHART" --namespace "$NAMESPACE" --kube-version "$K8S_VERSION" \
      "${api_args[@]}" "${vals[@]}" >"$render" 2>"$render.err"; then
      pass "helm template ($label): $(grep -c '^kind: ' "$render" || true) documents"
      [[ -s "$render.err" ]] && indent "$render.err" # helm's warnings
      required=""
      [[ "$label" == default ]] && required="$REQUIRED_KINDS"
      check_render "kubeconform ($label)" "$render" "$required"
    else
      fail "helm template ($label)"
      indent "$render.err"
    fi
    echo "(took $((SECONDS - SECTION_START))s)"
  done
fi

if [[ -f "$ROOT/charts/test/go.mod" && "$CHART" != "$ROOT/charts/mcpgate" ]]; then
  section "charts/test"
  echo "SKIP  charts/test tests charts/mcpgate, not $CHART"
elif [[ -f "$ROOT/charts/test/go.mod" ]]; then
  section "charts/test: go vet ./... && go test -count=1 ./..."
  out="$WORK/charts-test.out"
  rc=0
  (cd "$ROOT/charts/test" && GOWORK=off go vet ./... && GOWORK=off go test -count=1 ./...) >"$out" 2>&1 || rc=$?
  indent "$out"
  if ((rc == 0)); then
    pass "charts/test go test"
  else
    fail "charts/test go test (exit $rc)"
  fi
  echo "(took $((SECONDS - SECTION_START))s)"
fi

section "summary"
if ((FAILED > 0)); then
  for f in "${FAILURES[@]}"; do echo "FAIL  $f"; done
  echo "check-chart: FAIL: $PASSED checks passed, $FAILED failed, in $((SECONDS - START))s"
  exit 1
fi
echo "check-chart: PASS: $PASSED checks passed, 0 failed, in $((SECONDS - START))s"
