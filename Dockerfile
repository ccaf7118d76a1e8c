# mcpgate container image (docs/image.md).
#
#   DOCKER_BUILDKIT=1 docker build --build-arg VERSION=v0.1.0 \
#     --build-arg COMMIT=$(git rev-parse HEAD) -t mcpgate:dev .
#
# Targets:
#   runtime (the default, last stage): compiles mcpgate in golang:1.26-bookworm
#       and puts the static binary on gcr.io/distroless/static-debian12:nonroot.
#   runtime-prebuilt: no compiler, no base image to pull. FROM scratch plus a
#       static binary and a CA bundle taken from the build context; used where
#       no registry is reachable (scripts/check-image.sh builds and checks it).
#
# Builders. The default target needs BuildKit (the default builder since
# Docker 23; DOCKER_BUILDKIT=1 on Docker 20.10, e.g. Debian 12's docker.io):
# the classic builder runs every stage that comes before the target, so it
# would also run runtime-prebuilt and stop at its missing ca-certificates.crt.
# runtime-prebuilt works with both builders: it is the first stage and has no
# RUN, so neither builder pulls anything for it.
# The file uses no syntax that only BuildKit knows, though: no `# syntax=`
# line (BuildKit would pull the docker/dockerfile frontend from Docker Hub)
# and no `RUN --mount=type=cache` (refused by the classic builder, kaniko
# and older buildah), so the build stage also works in those tools. Modules
# are cached as a layer instead: go.mod and go.sum are copied, and the
# modules downloaded, before the sources.
#
# Pins: the base images are pinned by tag. Pinning them by digest as well
# (golang:1.26-bookworm@sha256:..., static-debian12:nonroot@sha256:...) is
# recommended for releases, with a bot keeping the digests current.

ARG GO_IMAGE=golang:1.26-bookworm
ARG RUNTIME_IMAGE=gcr.io/distroless/static-debian12:nonroot

# ---------------------------------------------------------------------------
# runtime-prebuilt: scratch + a prebuilt binary + a CA bundle.
#
# Build context (prepared by scripts/check-image.sh; nothing of it is
# committed): exactly two files,
#   mcpgate               static binary, built as the build stage below builds
#                         it (CGO_ENABLED=0, -trimpath, -buildvcs=false, the
#                         same -ldflags)
#   ca-certificates.crt   a CA bundle (the host's /etc/ssl/certs/ca-certificates.crt)
#
#   docker build --target runtime-prebuilt -f Dockerfile \
#     --build-arg VERSION=... --build-arg COMMIT=... -t mcpgate:prebuilt CONTEXT_DIR
#
# Differences from the runtime stage, all in what the base image brings (the
# blocks between the "runtime config" markers, labels, USER, EXPOSE,
# ENTRYPOINT and CMD, are identical, and check-image.sh checks that):
#   - no /etc/passwd or /etc/group: uid and gid 65532 are numeric only (the
#     distroless image names them nonroot, home /home/nonroot);
#   - no tzdata (/usr/share/zoneinfo): not needed, the binary carries Go's
#     time zone database (OPA's topdown imports time/tzdata), so Rego time
#     built-ins with a named zone work in both images;
#   - no /tmp directory (distroless has one; with a read-only root file system
#     it is read-only in both, and mcpgate writes nothing there);
#   - the CA bundle is the build host's instead of distroless's (both Debian's
#     ca-certificates), at the same path /etc/ssl/certs/ca-certificates.crt;
#   - distroless also sets ENV PATH and SSL_CERT_FILE (that same bundle) and
#     carries package metadata and license notices.
# Like runtime, it is static-only: no shell, no libc, no package manager.
# ---------------------------------------------------------------------------
FROM scratch AS runtime-prebuilt
COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY mcpgate /mcpgate
# --- runtime config: keep identical in runtime-prebuilt and runtime ---
ARG VERSION=dev
ARG COMMIT=unknown
LABEL org.opencontainers.image.title="mcpgate" \
      org.opencontainers.image.description="Policy-enforcing gateway for the Model Context Protocol" \
      org.opencontainers.image.source="https://github.com/mcpgate/mcpgate" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${COMMIT}"
# No org.opencontainers.image.licenses: the repository has no LICENSE file yet.
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/mcpgate"]
CMD ["serve", "--config", "/etc/mcpgate/mcpgate.yaml"]
# --- end runtime config ---

# ---------------------------------------------------------------------------
# build: a static binary at /out/mcpgate.
# ---------------------------------------------------------------------------
FROM ${GO_IMAGE} AS build
# The golang image sets GOTOOLCHAIN=local: its Go must be at least the go line
# of go.mod (1.26.8), or the build stops instead of downloading a toolchain.
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
ARG COMMIT=unknown
RUN CGO_ENABLED=0 go build -trimpath -buildvcs=false \
      -ldflags "-s -w -X main.version=${VERSION} -X main.commit=${COMMIT}" \
      -o /out/mcpgate ./cmd/mcpgate

# ---------------------------------------------------------------------------
# runtime (default): distroless static, nonroot. It contains CA certificates,
# tzdata, /etc/passwd with nonroot (65532), a /tmp directory, and no shell.
#
# Run it with a read-only root file system: mcpgate writes nothing to disk
# (logs and the decision log go to stderr/stdout unless policy.decision_log
# names a file; OPA bundle persistence is off unless an OPA config turns it
# on). Config at /etc/mcpgate/mcpgate.yaml, the policy directory wherever
# policy.dir says (e.g. /etc/mcpgate/policy), both mounted read-only.
# ---------------------------------------------------------------------------
FROM ${RUNTIME_IMAGE} AS runtime
COPY --from=build /out/mcpgate /mcpgate
# --- runtime config: keep identical in runtime-prebuilt and runtime ---
ARG VERSION=dev
ARG COMMIT=unknown
LABEL org.opencontainers.image.title="mcpgate" \
      org.opencontainers.image.description="Policy-enforcing gateway for the Model Context Protocol" \
      org.opencontainers.image.source="https://github.com/mcpgate/mcpgate" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${COMMIT}"
# No org.opencontainers.image.licenses: the repository has no LICENSE file yet.
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/mcpgate"]
CMD ["serve", "--config", "/etc/mcpgate/mcpgate.yaml"]
# --- end runtime config ---
