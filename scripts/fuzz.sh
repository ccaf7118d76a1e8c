#!/usr/bin/env bash
# Runs every fuzz target of the module for FUZZTIME each (default 30s) and
# prints one line per target: package, target, executions, result.
# Seeds are in the tests (f.Add) and in testdata/fuzz/; an input that fails
# is written there by go test, to be checked in with its fix.
#   FUZZTIME=2m scripts/fuzz.sh            # every target
#   scripts/fuzz.sh ./approval             # the targets of some packages
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${FUZZTIME:-30s}
pkgs=("$@")
if [ ${#pkgs[@]} -eq 0 ]; then
	mapfile -t pkgs < <(grep -rl --include='*_test.go' '^func Fuzz' . | xargs -n1 dirname | sort -u)
fi
status=0
for pkg in "${pkgs[@]}"; do
	for target in $(grep -h -o '^func Fuzz[A-Za-z0-9_]*' "$pkg"/*_test.go | sed 's/^func //' | sort -u); do
		out=$(go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" -fuzzminimizetime 100x "$pkg" 2>&1) && result=ok || { result=FAIL; status=1; }
		execs=$(printf '%s\n' "$out" | grep -o 'execs: [0-9]*' | tail -1 | cut -d' ' -f2)
		printf '%-28s %-26s %12s execs in %s  %s\n' "$pkg" "$target" "${execs:-?}" "$fuzztime" "$result"
		if [ "$result" = FAIL ]; then printf '%s\n' "$out" | tail -20; fi
	done
done
exit $status
