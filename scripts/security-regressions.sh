#!/usr/bin/env bash
# Security regressions (issue #17): runs every test that holds one, one
# `go test -race -count=1` per package, and prints each test's result.
#
# The list below is the suite: each regression with the tests that break
# when it comes back (docs/reliability.md, "Security regressions"). The
# script fails when a listed test does not exist as `func TestName(` or
# `func FuzzName(` in its package (so the list cannot rot silently), when
# go test runs no test of a package, when a listed test did not run and
# pass (a skip counts as not run, unless SECURITY_REGRESSIONS_ALLOW_SKIP=1),
# or when any fails.
#
#   scripts/security-regressions.sh            # the whole suite
#   GOFLAGS=-v scripts/security-regressions.sh # with go test's full output
set -euo pipefail
cd "$(dirname "$0")/.."

# "package Test..." per line, grouped by regression.
suite=(
	# Token passthrough: the employee's own token never reaches an upstream;
	# token exchange sends it only to the configured token endpoint.
	"./gateway TestClientCredentialsNeverReachUpstreams"
	"./gateway TestTokenExchangeRequest"
	"./gateway TestTokenExchangeHostileEndpoint"

	# Session hijack: another user's token on a session is refused, a session
	# id alone never authenticates, a session's lists follow its identity.
	"./authn TestSessionsBoundToUser"
	"./gateway TestSessionListsFollowTheIdentity"

	# Cross-user upstream session reuse: an upstream session of one employee
	# is never used for another.
	"./gateway TestIdentityAssertionSessionsFollowCredentials"
	"./gateway TestOAuthUpstreamLinkBoundToEmployee"
	"./gateway TestEmployeeSessionsLRU"

	# DNS rebinding: the Origin allowlist.
	"./authn TestOriginConformanceDNSRebinding"
	"./authn FuzzOrigin"

	# SSRF through configured URLs and metadata documents: client metadata
	# documents, the guarded transport, an upstream's redirect, discovery of
	# an upstream's authorization server and its endpoints, and the
	# configured URLs themselves.
	"./authn/authserver TestFetchCIMDRefusesLoopbackBeforeAnyRequest"
	"./authn/authserver TestFetchCIMDDoesNotFollowRedirects"
	"./authn/authserver TestCIMDRefusals"
	"./internal/safehttp TestTransportRefusesPrivateAddresses"
	"./internal/safehttp FuzzClassifyEmbedded"
	"./gateway TestHostileUpstreamRedirect"
	"./connections TestDiscoveryAuthorizationServerSteeredRefused"
	"./connections TestDiscoveryEndpointsSteeredRefused"
	"./connections TestDiscoveryNotSteeredByTheUpstream"
	"./config TestConfiguredURLsRefused"
	"./config TestInsecureHTTPMessage"

	# Policy bypass through batching, aliases (another name for the target:
	# the upstream's own) or ambiguous JSON, and existence oracles.
	"./gateway TestNoExistenceOracle"
	"./gateway TestDeniedCallNeverReachesUpstream"
	"./gateway TestEveryCallPhaseMethodIsDecided"
	"./gateway TestForwardingNeedsTheDecidedTarget"
	"./gateway TestApprovalBatch"
	"./gateway TestRateLimitBatchUnderUserToolLimit"
	"./gateway TestRateLimitBatchUnderServerLimit"
	"./gateway TestRateLimitBatchCountsEachRequest"
	"./gateway TestApprovalEnforce"
	"./gateway TestAmbiguousArgumentsRefused"
	"./gateway FuzzCheckStrictJSON"

	# Path tricks in resource URIs: another spelling of a URI never reaches a
	# resource the caller may not read, nor another server's.
	"./gateway TestResourceURIPathTricks"
	"./gateway TestResourceURIAnotherServersTemplate"
	"./gateway TestResourceURIInvalidUTF8"
	"./gateway TestResourceKey"
	"./gateway TestResourceURIThroughBroadTemplate"
	"./gateway TestHostileQuarantinedResourceReadThroughApprovedTemplate"
)

declare -A names # package -> "A|B|C"
packages=()
missing=0
for entry in "${suite[@]}"; do
	read -r pkg name <<<"$entry"
	if ! grep -qE "^func ${name}\(" "$pkg"/*_test.go 2>/dev/null; then
		echo "security-regressions: $name is not a test of $pkg (no 'func $name(' in $pkg/*_test.go)" >&2
		missing=1
		continue
	fi
	if [[ -z "${names[$pkg]:-}" ]]; then
		packages+=("$pkg")
		names[$pkg]=$name
	else
		names[$pkg]+="|$name"
	fi
done
if ((missing)); then
	echo "security-regressions: the list names tests that do not exist: fix the list (or the test's name)" >&2
	exit 1
fi

failed=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT
for pkg in "${packages[@]}"; do
	echo "== $pkg: ${names[$pkg]//|/ }"
	status=0
	go test -race -count=1 -v -run "^(${names[$pkg]})\$" "$pkg" >"$log" 2>&1 || status=$?
	# Each listed test's own result, and go test's summary of the package.
	grep -E '^(--- (PASS|FAIL|SKIP)|ok |FAIL|panic:)' "$log" || true
	if ((status != 0)); then
		echo "security-regressions: $pkg failed; go test said:" >&2
		grep -vE '^(=== (RUN|PAUSE|CONT|NAME)|    --- PASS)' "$log" | tail -n 200 >&2
		failed=1
		continue
	fi
	if grep -q 'no tests to run' "$log"; then
		echo "security-regressions: go test ran no test of $pkg" >&2
		failed=1
	fi
	IFS='|' read -ra want <<<"${names[$pkg]}"
	for name in "${want[@]}"; do
		if ! grep -qE "^--- PASS: ${name} \(" "$log"; then
			if grep -qE "^--- SKIP: ${name} \(" "$log" && [[ "${SECURITY_REGRESSIONS_ALLOW_SKIP:-}" == 1 ]]; then
				echo "security-regressions: $pkg $name was skipped (allowed by SECURITY_REGRESSIONS_ALLOW_SKIP=1)" >&2
				continue
			fi
			echo "security-regressions: $pkg $name did not run and pass" >&2
			grep -E "^    ${name}|^--- SKIP: ${name}" "$log" >&2 || true
			failed=1
		fi
	done
done
if ((failed)); then
	echo "security-regressions: FAIL" >&2
	exit 1
fi
echo "security-regressions: ok (${#suite[@]} tests in ${#packages[@]} packages)"
