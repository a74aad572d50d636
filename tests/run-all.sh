#!/bin/bash
# SPDX-License-Identifier: MIT
# `make check`: unit tests (meson test) in build/, build-asan/ (ASan+UBSan)
# and build-tsan/ (ThreadSanitizer), every
# interop TAP suite against each build's qimg, and the fuzz corpus replayed
# under ASan.  Prints one line per failure and ends with exactly one line
# "N passed, N failed" (a line "N skipped" before it when any were); exit status 0 only if nothing failed.
#
# Environment: BUILDS (default "build build-asan build-tsan"), JOBS (parallel interop
# suites, default nproc), SUITES (interop script names to run, default all),
# LOGDIR (TAP logs, default build/test-logs), SUITE_TIMEOUT (seconds, 600).
# Before the summary, a failing run names LOGDIR (<build>-<suite>.tap holds
# each suite's TAP with diffs as diagnostics).

set -u
cd "$(dirname "$0")/.." || exit 1
ROOT=$(pwd)

BUILDS=${BUILDS:-build build-asan build-tsan}
JOBS=${JOBS:-$(nproc 2>/dev/null || echo 2)}
if [ -z "${LOGDIR:-}" ]; then
	if [ -d build ]; then
		LOGDIR=$ROOT/build/test-logs
	else
		LOGDIR=$(mktemp -d "${TMPDIR:-/tmp}/qimg-test-logs.XXXXXX")
	fi
fi
SUITE_TIMEOUT=${SUITE_TIMEOUT:-600}
mkdir -p "$LOGDIR" || exit 1

passed=0
failed=0
skipped=0

failure()
{
	failed=$((failed + 1))
	echo "FAIL: $*"
}

# --- (a) unit tests ------------------------------------------------------

unit_tests()
{
	local b=$1 log line name result
	if [ ! -d "$b" ]; then
		failure "$b: build directory missing (unit tests not run)"
		return
	fi
	log=$LOGDIR/meson-test-$(basename "$b").log
	meson test -C "$b" --print-errorlogs >"$log" 2>&1
	local tl=$b/meson-logs/testlog.json
	if [ ! -s "$tl" ]; then
		if grep -q 'No tests defined' "$log"; then
			return
		fi
		failure "$b: meson test produced no results (see $log)"
		return
	fi
	while IFS= read -r line; do
		name=$(printf '%s' "$line" |
			sed -n 's/.*"name": *"\([^"]*\)".*/\1/p')
		result=$(printf '%s' "$line" |
			sed -n 's/.*"result": *"\([A-Z]*\)".*/\1/p')
		case $result in
		OK | EXPECTEDFAIL) passed=$((passed + 1)) ;;
		SKIP) skipped=$((skipped + 1)) ;;
		*) failure "unit $b/$name: $result (see $log)" ;;
		esac
	done <"$tl"
}

# --- (b) interop suites --------------------------------------------------

run_suite()
{
	# run_suite BUILD SCRIPT: writes LOG.tap and LOG.rc
	local b=$1 s=$2 log
	log=$LOGDIR/$(basename "$b")-$(basename "$s" .sh)
	QIMG=$ROOT/$b/qimg timeout -k 10 "$SUITE_TIMEOUT" bash "$s" \
		>"$log.tap" 2>"$log.stderr" </dev/null
	echo $? >"$log.rc"
}

tally_suite()
{
	local b=$1 s=$2 log rc np nf
	local name
	name=$(basename "$b")/$(basename "$s" .sh)
	log=$LOGDIR/$(basename "$b")-$(basename "$s" .sh)
	rc=$(cat "$log.rc" 2>/dev/null || echo 1)
	if [ "$rc" = 77 ] || grep -q '^1\.\.0 *# *SKIP' "$log.tap"; then
		skipped=$((skipped + 1))
		return
	fi
	np=$(grep -E '^ok [0-9]+' "$log.tap" | grep -vc '# *SKIP')
	nf=0
	skipped=$((skipped + $(grep -E '^ok [0-9]+' "$log.tap" |
		grep -c '# *SKIP')))
	passed=$((passed + np))
	while IFS= read -r line; do
		nf=$((nf + 1))
		failure "$name: ${line#not ok }"
	done < <(grep -E '^not ok' "$log.tap")
	if [ "$rc" != 0 ] && [ "$nf" = 0 ]; then
		if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
			failure "$name: timed out after ${SUITE_TIMEOUT}s ($log.tap)"
		else
			failure "$name: exit $rc without a TAP failure ($log.stderr)"
		fi
	fi
}

interop_tests()
{
	local scripts=() b s pids=() n=0
	for s in tests/interop/*.sh; do
		[ "$(basename "$s")" = lib.sh ] && continue
		if [ -n "${SUITES:-}" ]; then
			case " $SUITES " in
			*" $(basename "$s" .sh) "* | *" $(basename "$s") "*) ;;
			*) continue ;;
			esac
		fi
		scripts+=("$s")
	done
	for b in $BUILDS; do
		if [ ! -x "$b/qimg" ]; then
			failure "$b/qimg missing (interop suites not run)"
			continue
		fi
		for s in "${scripts[@]}"; do
			run_suite "$b" "$s" &
			pids+=($!)
			n=$((n + 1))
			if [ "$n" -ge "$JOBS" ]; then
				wait -n 2>/dev/null || true
				n=$((n - 1))
			fi
		done
	done
	wait
	for b in $BUILDS; do
		[ -x "$b/qimg" ] || continue
		for s in "${scripts[@]}"; do
			tally_suite "$b" "$s"
		done
	done
}

# --- (c) fuzz corpus replay ----------------------------------------------

fuzz_replay()
{
	local b='' exe f rc c
	# replay under the sanitizer build when there is one
	for c in $BUILDS; do
		[ -d "$c/tests/fuzz" ] || continue
		[ -z "$b" ] && b=$c
		case $c in
		*asan*) b=$c ;;
		esac
	done
	[ -n "$b" ] || return
	local inputs=()
	for f in tests/fuzz/corpus/* tests/fuzz/crashers/*; do
		[ -f "$f" ] && inputs+=("$f")
	done
	[ "${#inputs[@]}" -gt 0 ] || return
	for exe in "$b"/tests/fuzz/fuzz-*-replay; do
		[ -x "$exe" ] || continue
		for f in "${inputs[@]}"; do
			ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} \
			UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1} \
				timeout -k 5 60 "$exe" "$f" \
				>"$LOGDIR/replay.log" 2>&1
			rc=$?
			if [ "$rc" = 0 ]; then
				passed=$((passed + 1))
			else
				failure "$(basename "$exe") $f: exit $rc"
				sed -n '1,15p' "$LOGDIR/replay.log" | sed 's/^/    /'
			fi
		done
	done
}

for b in $BUILDS; do
	unit_tests "$b"
done
interop_tests
fuzz_replay

[ "$failed" = 0 ] || echo "logs: $LOGDIR"
[ "$skipped" = 0 ] || echo "$skipped skipped"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
