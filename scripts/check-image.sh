#!/usr/bin/env bash
# scripts/check-image.sh: build mcpgate's container image from a binary
# compiled here and check that it runs hardened (docs/image.md).
#
#   bash scripts/check-image.sh
#
# Run by CI (as root, fresh Debian 12 machine, no registry reachable but the
# Go module proxy and Debian's apt mirrors). Steps:
#   1. a Docker engine: use the one that answers (DOCKER_HOST or the default
#      socket) and leave it alone; otherwise install Debian's docker.io if
#      dockerd is missing and start a private dockerd (own socket and log under
#      a temp dir, images under $MCPGATE_CACHE/docker, no bridge, no iptables),
#      stopped again at the end;
#   2. a static binary built exactly as the Dockerfile's build stage builds it
#      (CGO_ENABLED=0, -trimpath, -buildvcs=false, -s -w, version and commit
#      from git), plus the host's CA bundle, in a two-file build context;
#   3. docker build --target runtime-prebuilt (FROM scratch: nothing to pull);
#   4. the image's config, then `mcpgate serve` in the image with
#      --network host --read-only --cap-drop ALL --security-opt no-new-privileges
#      on a free loopback port: /healthz, /readyz, 401 from /mcp, uid/gid 65532, no
#      capabilities, read-only root, clean stop on SIGTERM; `mcpgate version`.
# Prints PASS/FAIL lines and exits non-zero on any failure. Idempotent: a rerun
# reuses the installed engine, the image layers and Go's build cache.
#
# Environment:
#   MCPGATE_CACHE                  cache root (default ~/.cache/mcpgate)
#   MCPGATE_VERSION, MCPGATE_COMMIT  version and commit to link in (default: git)
#   MCPGATE_DOCKER_STORAGE_DRIVER  storage driver for a dockerd started here
#                                  (default: try overlay2, fuse-overlayfs, vfs)
#   DOCKER_BUILDKIT                0 or 1 to force the builder (default: BuildKit
#                                  when the client has it, else the classic one)
#
# Network: loopback only. The gateway listens on 127.0.0.1; its upstream and
# its issuer are loopback ports nobody listens on (the gateway starts while
# upstreams are down, and OIDC discovery happens at the first token). The
# containers run with --network host or --network none; the dockerd started
# here has no bridge network at all.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT="$(pwd)"

CACHE="${MCPGATE_CACHE:-${HOME:-/root}/.cache/mcpgate}"
[[ "$CACHE" == /* ]] || CACHE="$ROOT/$CACHE"
DOCKER_STATE="$CACHE/docker"        # data-root, pid file and lock of our dockerd
IMAGE="mcpgate:check-prebuilt"
UID_GID="65532:65532"

START=$SECONDS
failures=0
step() { printf '\n==> %s  [+%ds]\n' "$*" "$((SECONDS - START))"; }
pass() { echo "PASS: $*"; }
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
check() { # description-if-ok description-if-not command...
  local ok=$1 not=$2
  shift 2
  if "$@"; then pass "$ok"; else fail "$not"; fi
}
die() { echo "FAIL: $*"; exit 1; }

tmp="$(mktemp -d /tmp/mcpgate-image.XXXXXX)"
container=""
dockerd_pid=""
unmount_data_root="" # dockerd bind-mounts its data-root onto itself and leaves it
own_policy_rc=""     # the policy-rc.d apt_install wrote, removed on any exit

stop_dockerd() {
  local pid=$1 i
  kill -TERM "$pid" 2>/dev/null || return 0
  for ((i = 0; i < 150; i++)); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.2
  done
  echo "dockerd $pid did not stop within 30s; killing it"
  kill -KILL "$pid" 2>/dev/null || true
}

cleanup() {
  local rc=$?
  set +e
  [[ -z "$own_policy_rc" ]] || rm -f /usr/sbin/policy-rc.d
  if [[ -n "$container" ]]; then
    docker rm -f "$container" >/dev/null 2>&1
  fi
  if [[ -n "$dockerd_pid" ]]; then
    echo "stopping the dockerd started here (pid $dockerd_pid)"
    stop_dockerd "$dockerd_pid"
  fi
  # A dockerd started here leaves the host's network namespace bind-mounted in
  # its exec-root, and its data-root bind-mounted onto itself.
  awk -v d="$tmp/" 'index($5, d) == 1 {print $5}' /proc/self/mountinfo | sort -r |
    while read -r m; do umount "$m"; done
  if [[ -n "$unmount_data_root" ]] && mountpoint -q "$DOCKER_STATE/data"; then
    umount "$DOCKER_STATE/data"
  fi
  rm -rf --one-file-system "$tmp"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------------------
step "Docker engine"

engine_answers() { timeout 10 docker version -f '{{.Server.Version}}' >/dev/null 2>&1; }

apt_install() { # package...
  [[ $(id -u) == 0 ]] || die "$* not installed, and only root may install it here"
  echo "installing $* (apt-get, non-interactive, no recommends)"
  # Keep the package's own service from starting (a system dockerd would
  # create the docker0 bridge and iptables rules): a policy-rc.d that refuses,
  # unless the machine already has one.
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    own_policy_rc=1 # set first: cleanup removes it even if we are stopped now
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 0755 /usr/sbin/policy-rc.d
  fi
  local apt=(apt-get -y -q -o DPkg::Lock::Timeout=300 -o Dpkg::Use-Pty=0)
  local rc=0
  {
    export DEBIAN_FRONTEND=noninteractive
    "${apt[@]}" update -qq
    "${apt[@]}" install --no-install-recommends "$@"
  } >"$tmp/apt.log" 2>&1 || rc=$?
  if [[ -n "$own_policy_rc" ]]; then
    rm -f /usr/sbin/policy-rc.d
    own_policy_rc=""
  fi
  # The package also enables docker.service for the next boot of a systemd
  # machine, which would bring a bridge and iptables rules: keep it off.
  if [[ -d /run/systemd/system ]] && command -v systemctl >/dev/null; then
    systemctl disable docker.service docker.socket >/dev/null 2>&1 || true
  fi
  if ((rc != 0)); then
    tail -n 30 "$tmp/apt.log"
    die "apt-get install $* (exit $rc)"
  fi
  tail -n 3 "$tmp/apt.log"
}

start_dockerd() { # driver
  local driver=$1 i
  echo "starting dockerd (storage driver $driver, data-root $DOCKER_STATE/data, log $tmp/dockerd-$driver.log)"
  echo '{}' >"$tmp/daemon.json" # ignore a machine-wide /etc/docker/daemon.json
  dockerd \
    --config-file "$tmp/daemon.json" \
    --host "unix://$tmp/docker.sock" \
    --data-root "$DOCKER_STATE/data" \
    --exec-root "$tmp/exec" \
    --pidfile "$DOCKER_STATE/dockerd.pid" \
    --storage-driver "$driver" \
    --bridge none --iptables=false --ip-forward=false --ip-masq=false \
    >"$tmp/dockerd-$driver.log" 2>&1 9>&- &
  dockerd_pid=$!
  export DOCKER_HOST="unix://$tmp/docker.sock"
  for ((i = 0; i < 300; i++)); do
    if ! kill -0 "$dockerd_pid" 2>/dev/null; then
      wait "$dockerd_pid" 2>/dev/null || true
      dockerd_pid=""
      echo "dockerd ($driver) exited; the end of its log:"
      tail -n 15 "$tmp/dockerd-$driver.log" | sed 's/^/  | /'
      return 1
    fi
    if engine_answers; then
      echo "dockerd answers after $((i / 5)).$((i % 5 * 2))s"
      return 0
    fi
    sleep 0.2
  done
  echo "dockerd ($driver) did not answer within 60s; the end of its log:"
  tail -n 15 "$tmp/dockerd-$driver.log" | sed 's/^/  | /'
  stop_dockerd "$dockerd_pid"
  dockerd_pid=""
  return 1
}

if engine_answers; then
  echo "using the engine that answers (${DOCKER_HOST:-default socket}); it is left running"
else
  command -v dockerd >/dev/null || apt_install docker.io
  command -v docker >/dev/null || apt_install docker.io
  mkdir -p "$DOCKER_STATE/data"
  # One dockerd per data-root: wait for a concurrent run of this script (the
  # lock is ours, not dockerd's: it does not inherit fd 9).
  exec 9>"$DOCKER_STATE/lock"
  flock -w 600 9 || die "another check-image.sh holds $DOCKER_STATE/lock"
  # A dockerd left by an earlier run that was killed holds our data-root.
  if [[ -s "$DOCKER_STATE/dockerd.pid" ]]; then
    old="$(cat "$DOCKER_STATE/dockerd.pid")"
    # Ours only if it is a dockerd running on our data-root (the pid may
    # have been reused since).
    if [[ "$(cat "/proc/$old/comm" 2>/dev/null)" == dockerd ]] &&
      tr '\0' '\n' <"/proc/$old/cmdline" 2>/dev/null | grep -qxF -- "$DOCKER_STATE/data"; then
      echo "stopping dockerd $old left running by an earlier run of this script"
      stop_dockerd "$old"
    fi
    rm -f "$DOCKER_STATE/dockerd.pid"
  fi
  mountpoint -q "$DOCKER_STATE/data" || unmount_data_root=1
  read -r -a drivers <<<"${MCPGATE_DOCKER_STORAGE_DRIVER:-overlay2 fuse-overlayfs vfs}"
  started=""
  for driver in "${drivers[@]}"; do
    if [[ $driver == fuse-overlayfs ]] && ! command -v fuse-overlayfs >/dev/null; then
      apt_install fuse-overlayfs
    fi
    if start_dockerd "$driver"; then
      started=1
      break
    fi
  done
  [[ -n "$started" ]] || die "no dockerd could start (tried: ${drivers[*]}); logs above"
fi
docker version -f 'client {{.Client.Version}}, server {{.Server.Version}} (API {{.Server.APIVersion}}, {{.Server.Os}}/{{.Server.Arch}})'
docker info -f 'storage driver {{.Driver}}, cgroup {{.CgroupDriver}} v{{.CgroupVersion}}, security {{join .SecurityOptions " "}}' 2>/dev/null || true

# ---------------------------------------------------------------------------
step "static binary (as the Dockerfile's build stage)"

git_commit() {
  local c
  c="$(git -C "$ROOT" rev-parse HEAD 2>/dev/null)" || { echo unknown; return; }
  git -C "$ROOT" diff --quiet HEAD 2>/dev/null || c="$c-dirty"
  echo "$c"
}
VERSION="${MCPGATE_VERSION:-$(git -C "$ROOT" describe --tags --always --dirty 2>/dev/null || echo dev)}"
COMMIT="${MCPGATE_COMMIT:-$(git_commit)}"
ARCH="$(docker version -f '{{.Server.Arch}}')"
ctx="$tmp/context"
mkdir -p "$ctx"
echo "version $VERSION, commit $COMMIT, linux/$ARCH"
# The same command as the build stage's RUN (Dockerfile), on the host.
CGO_ENABLED=0 GOOS=linux GOARCH="$ARCH" go build -trimpath -buildvcs=false \
  -ldflags "-s -w -X main.version=${VERSION} -X main.commit=${COMMIT}" \
  -o "$ctx/mcpgate" ./cmd/mcpgate
chmod 0755 "$ctx/mcpgate"
if go version -m "$ctx/mcpgate" | grep -q 'CGO_ENABLED=0'; then
  pass "binary is static (CGO_ENABLED=0), $(go version "$ctx/mcpgate" | awk '{print $2}')"
else
  fail "binary was not built with CGO_ENABLED=0"
fi
bin_bytes="$(stat -c %s "$ctx/mcpgate")"
[[ -r /etc/ssl/certs/ca-certificates.crt ]] || apt_install ca-certificates
cp /etc/ssl/certs/ca-certificates.crt "$ctx/ca-certificates.crt"
chmod 0644 "$ctx/ca-certificates.crt"

# ---------------------------------------------------------------------------
step "docker build --target runtime-prebuilt"

# The stages from USER down must be the same in runtime-prebuilt and runtime.
same_runtime_config() {
  awk -v dir="$tmp" '/^# --- runtime config/ {n++; on = 1; next}
    /^# --- end runtime config/ {on = 0}
    on {print > (dir "/runtime-config-" n)}
    END {exit n != 2}' Dockerfile &&
    cmp -s "$tmp/runtime-config-1" "$tmp/runtime-config-2"
}
check "Dockerfile: runtime-prebuilt and runtime have the same runtime config (USER, EXPOSE, ENTRYPOINT, CMD, labels)" \
  "Dockerfile: the '# --- runtime config' blocks of runtime-prebuilt and runtime differ (or are not two)" \
  same_runtime_config

if [[ -z "${DOCKER_BUILDKIT:-}" ]]; then
  # BuildKit: built into the client before 23.0, the buildx plugin after.
  client_major="$(docker version -f '{{.Client.Version}}' | cut -d. -f1)"
  if ((client_major < 23)) || docker buildx version >/dev/null 2>&1; then
    export DOCKER_BUILDKIT=1
  else
    export DOCKER_BUILDKIT=0
  fi
fi
builder="classic"; [[ "$DOCKER_BUILDKIT" == 1 ]] && builder="BuildKit"
build_start=$SECONDS
if docker build --network none --target runtime-prebuilt -f Dockerfile \
  --build-arg "VERSION=$VERSION" --build-arg "COMMIT=$COMMIT" \
  -t "$IMAGE" "$ctx" >"$tmp/build.log" 2>&1; then
  pass "docker build ($builder builder) in $((SECONDS - build_start))s: $IMAGE"
else
  sed 's/^/  | /' "$tmp/build.log"
  die "docker build ($builder builder)"
fi
# Older builds of the tag, now dangling, would pile up in the cache; so would
# BuildKit's copies of every binary (only in our own dockerd's data-root).
if [[ -n "$dockerd_pid" ]]; then # only on the engine started here, never on a user's own
  docker image prune -f --filter "label=org.opencontainers.image.title=mcpgate" >/dev/null 2>&1 || true
fi
if [[ -n "$dockerd_pid" && "$DOCKER_BUILDKIT" == 1 ]]; then
  docker builder prune -af >/dev/null 2>&1 || true
fi

# ---------------------------------------------------------------------------
step "image config"

# expect_field TYPE NAME WHAT FORMAT WANT: docker inspect of an image or a
# container, one field against its expected value.
expect_field() {
  local got
  got="$(docker inspect --type "$1" -f "$4" "$2")"
  if [[ "$got" == "$5" ]]; then pass "$1 $3: $got"; else fail "$1 $3: got $got, want $5"; fi
}
expect_config() { expect_field image "$IMAGE" "$@"; }
expect_config "user" '{{.Config.User}}' "$UID_GID"
expect_config "entrypoint" '{{json .Config.Entrypoint}}' '["/mcpgate"]'
expect_config "cmd" '{{json .Config.Cmd}}' '["serve","--config","/etc/mcpgate/mcpgate.yaml"]'
expect_config "exposed ports" '{{json .Config.ExposedPorts}}' '{"8080/tcp":{}}'
expect_config "label version" '{{index .Config.Labels "org.opencontainers.image.version"}}' "$VERSION"
expect_config "label revision" '{{index .Config.Labels "org.opencontainers.image.revision"}}' "$COMMIT"
expect_config "label source" '{{index .Config.Labels "org.opencontainers.image.source"}}' "https://github.com/mcpgate/mcpgate"

# ---------------------------------------------------------------------------
step "mcpgate version"

if out="$(docker run --rm --network none "$IMAGE" version 2>&1)" &&
  [[ "$out" == "mcpgate $VERSION (commit $COMMIT, "* ]]; then
  pass "version: $out"
else
  fail "version: got '$out', want 'mcpgate $VERSION (commit $COMMIT, ...)'"
fi

# ---------------------------------------------------------------------------
step "mcpgate serve: --network host --read-only --cap-drop ALL --security-opt no-new-privileges"

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
free_port() {
  local p
  while :; do
    p=$((20000 + RANDOM % 40000))
    port_in_use "$p" || { echo "$p"; return; }
  done
}
# http_get PATH: prints the status code and then the body (HTTP/1.0, bash only).
http_get() {
  # shellcheck disable=SC2016 # the inner script expands its own arguments
  timeout 5 bash -c '
    exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
    printf "GET %s HTTP/1.0\r\nHost: 127.0.0.1:%s\r\n\r\n" "$2" "$1" >&3
    { read -r _ code _; echo "$code"; while IFS= read -r l && [[ "$l" != $'\''\r'\'' ]]; do :; done; cat; } <&3
  ' _ "$port" "$1" 2>/dev/null
}

port="$(free_port)"
up_port="$(free_port)"
idp_port="$(free_port)"
conf="$tmp/etc-mcpgate"
mkdir -p "$conf/policy" # mount point of the policy directory
cat >"$conf/mcpgate.yaml" <<EOF
# check-image.sh: serve on a loopback port; the upstream and the issuer are
# loopback ports nobody listens on.
listen: "127.0.0.1:$port"
servers:
  - name: check
    url: "http://127.0.0.1:$up_port/mcp"
    allow_insecure_http: true
    timeout: 5s
auth:
  issuers:
    - issuer: "http://127.0.0.1:$idp_port"
policy:
  dir: /etc/mcpgate/policy
  decision_log: stdout
EOF
chmod 0755 "$conf" "$conf/policy"
chmod 0644 "$conf/mcpgate.yaml"

container="mcpgate-check-$$"
docker run -d --name "$container" \
  --network host --read-only --cap-drop ALL --security-opt no-new-privileges \
  -v "$conf:/etc/mcpgate:ro" -v "$ROOT/rego:/etc/mcpgate/policy:ro" \
  "$IMAGE" >/dev/null
echo "container $container, listening on 127.0.0.1:$port"

code=""
for ((i = 0; i < 150; i++)); do
  [[ "$(docker inspect -f '{{.State.Running}}' "$container")" == true ]] || break
  code="$(http_get /healthz | head -n 1)" || true
  [[ "$code" == 200 ]] && break
  sleep 0.2
done
if [[ "$code" == 200 ]]; then
  pass "GET /healthz: 200 after $((i / 5)).$((i % 5 * 2))s"
else
  fail "GET /healthz: got '${code:-no answer}' (container running: $(docker inspect -f '{{.State.Running}} exit {{.State.ExitCode}}' "$container"))"
fi

ready="$(http_get /readyz || true)"
if [[ "$(head -n 1 <<<"$ready")" == 200 ]] && grep -q '"ready": true' <<<"$ready"; then
  pass "GET /readyz: 200, ready (policy loaded from the mounted rego/, upstream down)"
else
  fail "GET /readyz: $(tr -d '\n' <<<"$ready" | cut -c1-300)"
fi

mcp="$(http_get /mcp | head -n 1 || true)"
check "GET /mcp without a token: 401 (sign-in wired; issuer discovery waits for a token)" \
  "GET /mcp without a token: got '${mcp:-no answer}', want 401" test "$mcp" == 401

pid="$(docker inspect -f '{{.State.Pid}}' "$container")"
if [[ "$pid" =~ ^[1-9][0-9]*$ && -r "/proc/$pid/status" ]]; then
  status="$(cat "/proc/$pid/status")"
  uids="$(awk '/^Uid:/ {print $2, $3, $4, $5}' <<<"$status")"
  gids="$(awk '/^Gid:/ {print $2, $3, $4, $5}' <<<"$status")"
  capeff="$(awk '/^CapEff:/ {print $2}' <<<"$status")"
  nnp="$(awk '/^NoNewPrivs:/ {print $2}' <<<"$status")"
  all65532="65532 65532 65532 65532"
  check "process $pid ($(cat "/proc/$pid/comm")) runs as uid/gid 65532 (Uid: $uids, Gid: $gids)" \
    "process $pid: Uid: $uids, Gid: $gids, want 65532" \
    test "$uids" == "$all65532" -a "$gids" == "$all65532"
  check "process has no capabilities (CapEff $capeff)" "process capabilities: CapEff $capeff" \
    test "$capeff" == 0000000000000000
  check "process has no_new_privs" "process NoNewPrivs: $nnp" test "$nnp" == 1
  rootopts="$(awk '$5 == "/" {print $6}' "/proc/$pid/mountinfo" | tail -n 1)"
  check "root file system mounted read-only in the container ($rootopts)" \
    "root file system mount options: $rootopts, want ro" \
    grep -qE '^ro(,|$)' <<<"$rootopts"
else
  fail "no process for container $container (pid '$pid')"
fi
expect_container() { expect_field container "$container" "$@"; }
expect_container "user" '{{.Config.User}}' "$UID_GID"
expect_container "read-only rootfs" '{{.HostConfig.ReadonlyRootfs}}' true
expect_container "network" '{{.HostConfig.NetworkMode}}' host

docker stop -t 10 "$container" >/dev/null
expect_container "exit code after SIGTERM" '{{.State.ExitCode}}' 0
docker logs "$container" >"$tmp/serve.log" 2>&1
if grep -qiE 'read-only file system|permission denied' "$tmp/serve.log"; then
  fail "the gateway tried to write or read something it could not:"
  grep -iE 'read-only file system|permission denied' "$tmp/serve.log" | head -n 5 | sed 's/^/  | /'
else
  pass "log: no 'read-only file system' or 'permission denied' ($(wc -l <"$tmp/serve.log") lines)"
fi
echo "container log (the upstream is down by design):"
sed 's/^/  | /' "$tmp/serve.log" | tail -n 30

# ---------------------------------------------------------------------------
step "sizes"

img_bytes="$(docker image inspect -f '{{.Size}}' "$IMAGE")"
mb() { awk -v b="$1" 'BEGIN {printf "%.1f MB (%.1f MiB, %d bytes)", b / 1e6, b / 1048576, b}'; }
echo "binary: $(mb "$bin_bytes")"
echo "image $IMAGE (scratch + binary + CA bundle): $(mb "$img_bytes")"

step "done"
if ((failures)); then
  echo "FAIL: $failures check(s) failed"
  exit 1
fi
echo "PASS: all image checks passed in $((SECONDS - START))s"
