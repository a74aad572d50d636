#!/bin/bash
# SPDX-License-Identifier: MIT
# `make check` and `make check-full`: unit test cases (cmocka, TAP output,
# one count per case), interop TAP suites against qemu-img (one count per
# assertion, the plan checked), crash points (test-crashpoints) and fuzz
# inputs replayed under ASan.  Prints one line per failure and per skip
# (named, with its reason), the counts per kind, and ends with exactly one
# line "N passed, N failed".  Exit status 0 only if nothing failed.
#
# MODE=check (default, `make check`; it should take under 15 minutes on
# 2 cores; its "time:" line says how long the jobs took):
#   build/       every unit test and every interop suite
#   build-asan/  every unit test, the fuzz replay, and the interop suites
#                in ASAN_SUITES (damaged input, option parsing, protocols
#                whose names and answers come from outside; the filters
#                throttle, blkverify and blklogwrites and the rbd cluster
#                suite, 370 s under ASan, run there in MODE=full only)
#   build-tsan/  the concurrency unit tests and the interop suites in
#                TSAN_SUITES (convert's, commit's and rebase's worker
#                pools, qimg-nbd's connections)
#   The interop suites run with QIMG_QUICK=1: their long matrices run a
#   sample (quick_pick in tests/interop/lib.sh), and test-crashpoints
#   cuts each workload at CRASH_POINTS=6 places at most (90 in full).
# MODE=full (`make check-full`): every unit test and every interop suite
#   under every build in BUILDS, whole.
#
# Environment: BUILDS (default "build build-asan build-tsan"), JOBS (parallel
# suites, default nproc + 1), SUITES (run only these interop suites, and no unit
# test), LOGDIR
# (default build/test-logs), SUITE_TIMEOUT (seconds, 900), CI=true (a skip
# for a missing oracle is a failure; the suites and tests enforce it).

set -u
cd "$(dirname "$0")/.." || exit 1
ROOT=$(pwd)

MODE=${MODE:-check}
BUILDS=${BUILDS:-build build-asan build-tsan}
# one job more than the cores: the server suites (gluster, rbd, curl, ssh,
# iscsi) and the rate-limited runs wait far more than they compute (gluster:
# 24 processor-s in 159 s), and a waiting job would idle its core
JOBS=${JOBS:-$(($(nproc 2>/dev/null || echo 2) + 1))}
ASAN_SUITES=${ASAN_SUITES:-damaged options null nbd nbd-server nbd-tls workers args curl iscsi nfs filters drives vvfat}
TSAN_SUITES=${TSAN_SUITES:-convert workers commit rebase nbd-server filters}
# (make check passes the Makefile's list, the only ones it builds under TSan)
TSAN_UNITS=${TSAN_UNITS:-test-concurrency test-io test-bitmap}
# units that MODE=check runs under the release build only
FULL_ONLY_UNITS=${FULL_ONLY_UNITS:-test-crashpoints}
if [ -z "${LOGDIR:-}" ]; then
	if [ -d build ]; then
		LOGDIR=$ROOT/build/test-logs
	else
		LOGDIR=$(mktemp -d "${TMPDIR:-/tmp}/qimg-test-logs.XXXXXX")
	fi
fi
SUITE_TIMEOUT=${SUITE_TIMEOUT:-900}
# make check samples the long matrices; make check-full runs them whole
if [ "$MODE" = full ]; then
	export QIMG_QUICK=${QIMG_QUICK:-0}
	export CRASH_POINTS=${CRASH_POINTS:-90}
else
	export QIMG_QUICK=${QIMG_QUICK:-1}
	export CRASH_POINTS=${CRASH_POINTS:-6}
fi
mkdir -p "$LOGDIR" || exit 1
# the previous run's seconds per job, to start the longest first (a fresh
# clone: those of tests/job-seconds.txt, a run kept for the purpose)
declare -A prev_time=()
while read -r key secs; do
	case $key in '#'* | '') continue ;; esac
	prev_time[$key]=$secs
done <tests/job-seconds.txt
for f in "$LOGDIR"/*.time; do
	[ -f "$f" ] || continue
	prev_time[$(basename "$f" .time)]=$(cat "$f")
done
rm -f "$LOGDIR"/*.tap "$LOGDIR"/*.rc "$LOGDIR"/*.stderr "$LOGDIR"/*.time \
	"$LOGDIR"/*.cpu "$LOGDIR"/fuzz-*

passed=0
failed=0
skipped=0
n_unit=0
n_interop=0
n_crash=0
n_fuzz=0
skips=()

failure()
{
	failed=$((failed + 1))
	echo "FAIL: $*"
}

skipped_one()
{
	skipped=$((skipped + 1))
	skips+=("$*")
}

# What MODE runs under build b: "all", or a list of names.
suites_for()
{
	local b=$1
	if [ "$MODE" = full ]; then
		echo all
		return
	fi
	case $(basename "$b") in
	*asan*) echo "$ASAN_SUITES" ;;
	*tsan*) echo "$TSAN_SUITES" ;;
	*) echo all ;;
	esac
}

units_for()
{
	local b=$1
	if [ "$MODE" = full ]; then
		echo all
		return
	fi
	case $(basename "$b") in
	*tsan*) echo "$TSAN_UNITS" ;;
	*) echo all ;;
	esac
}

in_list()
{
	local want=$1 list=$2
	[ "$list" = all ] && return 0
	case " $list " in
	*" $want "*) return 0 ;;
	esac
	return 1
}

# tally_tap NAME FILE RC [count-var]: count a TAP stream.  Every result
# counts; a missing or wrong plan (a run that died halfway) fails.
tally_tap()
{
	local name=$1 f=$2 rc=$3 kind=$4 plan np=0 nf=0 ns=0 line n
	if grep -q '^1\.\.0 *# *SKIP' "$f"; then
		skipped_one "$name: $(sed -n 's/^1\.\.0 *# *SKIP *//p' "$f" | head -1)"
		return
	fi
	while IFS= read -r line; do
		case $line in
		'not ok '*)
			nf=$((nf + 1))
			failure "$name: ${line#not ok }"
			;;
		'ok '*'# SKIP'* | 'ok '*'# skip'*)
			ns=$((ns + 1))
			skipped_one "$name: ${line#ok }"
			;;
		'ok '*) np=$((np + 1)) ;;
		esac
	done <"$f"
	passed=$((passed + np))
	n=$((np + nf + ns))
	case $kind in
	unit) n_unit=$((n_unit + np)) ;;
	*) n_interop=$((n_interop + np)) ;;
	esac
	# A binary may run several groups, each with its plan: they add up.
	plan=$(grep -E '^1\.\.[0-9]+' "$f" | sed 's/^1\.\.\([0-9]*\).*/\1/' |
		awk '{s += $1; n++} END {if (n) print s}')
	if [ -z "$plan" ]; then
		failure "$name: no TAP plan (the run died after $n results; exit $rc)"
	elif [ "$plan" != "$n" ]; then
		failure "$name: plan says $plan results, got $n (exit $rc)"
	elif [ "$rc" != 0 ] && [ "$nf" = 0 ]; then
		if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
			failure "$name: timed out after its $n results (it did not exit)"
		else
			failure "$name: exit $rc without a TAP failure"
		fi
	fi
}

# --- (a) unit tests: every cmocka case counts --------------------------------

# unit_log BUILD EXE [CRASH_MODE]: the logs' path without suffix
unit_log()
{
	echo "$LOGDIR/unit-$(basename "$1")-$(basename "$2")${3:+-$3}"
}

run_unit()
{
	# run_unit BUILD EXE [CRASH_MODE]: writes LOG.tap, LOG.stderr,
	# LOG.rc, LOG.time, LOG.cpu
	local b=$1 exe=$2 log t0
	log=$(unit_log "$@")
	t0=$(date +%s)
	env ${3:+CRASH_MODE=$3} CMOCKA_MESSAGE_OUTPUT=TAP \
		/usr/bin/time -f '%U %S' -o "$log.cpu" \
		timeout -k 10 "$SUITE_TIMEOUT" \
		"$exe" >"$log.tap" 2>"$log.stderr" </dev/null
	echo $? >"$log.rc"
	echo $(($(date +%s) - t0)) >"$log.time"
}

# unit_jobs BUILD: the unit binaries MODE runs under BUILD, one per line
unit_jobs()
{
	local b=$1 list exe t
	list=$(units_for "$b")
	for exe in "$b"/tests/unit/test-*; do
		[ -x "$exe" ] && [ -f "$exe" ] || continue
		t=$(basename "$exe")
		in_list "$t" "$list" || continue
		# the crash points judge qemu-img's reading of what the cut
		# left; the release build's run is the one make check needs
		if [ "$MODE" != full ] && [ "$b" != build ] &&
			in_list "$t" "$FULL_ONLY_UNITS"; then
			continue
		fi
		# the crash test's two kinds of crash are two jobs
		if [ "$t" = test-crashpoints ] && [ -z "${CRASH_MODE:-}" ]; then
			echo "$exe kill"
			echo "$exe power"
		else
			echo "$exe"
		fi
	done
}

tally_unit()
{
	local b=$1 exe=$2 log
	log=$(unit_log "$@")
	tally_tap "unit $(basename "$b")/$(basename "$exe")${3:+ ($3)}" "$log.tap" \
		"$(cat "$log.rc" 2>/dev/null || echo 1)" unit
	# Cut points judged by the crash test ("# NAME: ... N cut points
	# judged, ...").
	n_crash=$((n_crash + $(sed -n 's/.* \([0-9][0-9]*\) cut points judged.*/\1/p' \
		"$log.stderr" 2>/dev/null | awk '{s += $1} END {print s + 0}')))
}

# --- (b) interop suites ----------------------------------------------------

run_suite()
{
	# run_suite BUILD SCRIPT: writes LOG.tap, LOG.rc, LOG.time (seconds),
	# LOG.cpu (user and system seconds of the suite and what it ran)
	local b=$1 s=$2 log t0 ref=
	log=$LOGDIR/$(basename "$b")-$(basename "$s" .sh)
	t0=$(date +%s)
	# A sanitizer build's run is compared with the release qimg, which
	# this run compares with qemu-img on the same suite (lib.sh's
	# SAME_REF).
	if [ "$b" != build ] && in_list build "$BUILDS"; then
		ref=$ROOT/build/qimg
	fi
	QIMG=$ROOT/$b/qimg QIMG_SAME_REF=$ref \
		/usr/bin/time -f '%U %S' -o "$log.cpu" \
		timeout -k 10 "$SUITE_TIMEOUT" bash "$s" \
		>"$log.tap" 2>"$log.stderr" </dev/null
	echo $? >"$log.rc"
	echo $(($(date +%s) - t0)) >"$log.time"
}

# All unit binaries, interop suites and fuzz replays share one pool of
# JOBS slots, the longest first (the times of the previous run in LOGDIR,
# else the crash test first and the sanitizer builds before the release
# one), so that no core idles while one slow binary runs.
all_tests()
{
	local jobs=() b s exe n=0 list key j fb
	local scripts=()
	for s in tests/interop/*.sh; do
		case "$(basename "$s")" in
		lib.sh | ceph-cluster.sh | gluster-server.sh) continue ;; # helpers
		esac
		if [ -n "${SUITES:-}" ] && ! in_list "$(basename "$s" .sh)" "$SUITES"; then
			continue
		fi
		scripts+=("$s")
	done
	for b in $BUILDS; do
		if [ -z "${SUITES:-}" ]; then
			if [ -d "$b/tests/unit" ]; then
				while read -r exe; do
					jobs+=("unit $b $exe")
				done < <(unit_jobs "$b")
			else
				failure "$b: unit tests not built"
			fi
		fi
		if [ ! -x "$b/qimg" ]; then
			failure "$b/qimg missing (interop suites not run)"
			continue
		fi
		list=$(suites_for "$b")
		for s in "${scripts[@]}"; do
			in_list "$(basename "$s" .sh)" "$list" || continue
			jobs+=("suite $b $s")
		done
	done
	fb=$(fuzz_build)
	if [ -z "${SUITES:-}" ] && [ -n "$fb" ] && [ -n "$(fuzz_inputs)" ]; then
		for exe in "$fb"/tests/fuzz/fuzz-*-replay; do
			[ -x "$exe" ] && jobs+=("fuzz $fb $exe")
		done
	fi
	# order: previous seconds, descending (unknown: crash test 10000,
	# sanitizer builds 100, the rest 0; a fresh clone's, those of
	# tests/job-seconds.txt)
	mapfile -t jobs < <(for j in "${jobs[@]}"; do
		set -- $j
		if [ "$1" = unit ]; then
			key=$(basename "$(unit_log "$2" "$3" "${4:-}")")
		elif [ "$1" = fuzz ]; then
			key=$(basename "$3")
		else
			key=$(basename "$2")-$(basename "$3" .sh)
		fi
		t=${prev_time[$key]:-}
		if [ -z "$t" ]; then
			case "$1 $2 $3" in
			*test-crashpoints*) t=10000 ;;
			*" build-"*) t=100 ;;
			*) t=0 ;;
			esac
		fi
		echo "$t $j"
	done | sort -s -k1,1nr | cut -d' ' -f2-)
	for j in "${jobs[@]}"; do
		set -- $j
		if [ "$1" = unit ]; then
			run_unit "$2" "$3" ${4:+"$4"} &
		elif [ "$1" = fuzz ]; then
			run_fuzz "$3" &
		else
			run_suite "$2" "$3" &
		fi
		n=$((n + 1))
		if [ "$n" -ge "$JOBS" ]; then
			wait -n 2>/dev/null || true
			n=$((n - 1))
		fi
	done
	wait
	# tally in a fixed order: builds, units, then suites
	for b in $BUILDS; do
		for j in "${jobs[@]}"; do
			set -- $j
			[ "$1" = unit ] && [ "$2" = "$b" ] &&
				tally_unit "$2" "$3" ${4:+"$4"}
		done
	done
	for b in $BUILDS; do
		for j in "${jobs[@]}"; do
			set -- $j
			[ "$1" = suite ] && [ "$2" = "$b" ] || continue
			local log
			log=$LOGDIR/$(basename "$b")-$(basename "$3" .sh)
			tally_tap "$(basename "$b")/$(basename "$3" .sh)" "$log.tap" \
				"$(cat "$log.rc" 2>/dev/null || echo 1)" interop
		done
	done
	for j in "${jobs[@]}"; do
		set -- $j
		[ "$1" = fuzz ] && tally_fuzz "$3"
	done
}

# --- (c) fuzz corpus replay ----------------------------------------------

# fuzz_build: the build whose harnesses replay the corpus (the sanitizer
# build when there is one), or nothing
fuzz_build()
{
	local b='' c
	for c in $BUILDS; do
		compgen -G "$c/tests/fuzz/fuzz-*-replay" >/dev/null || continue
		[ -z "$b" ] && b=$c
		case $c in
		*asan*) b=$c ;;
		esac
	done
	echo "$b"
}

fuzz_inputs()
{
	local f
	for f in tests/fuzz/corpus/* tests/fuzz/crashers/*; do
		[ -f "$f" ] && echo "$f"
	done
}

# fuzz_run LOG EXE FILE...: replay FILEs through EXE, its output in LOG
fuzz_run()
{
	local log=$1 exe=$2
	shift 2
	ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:max_allocation_size_mb=1024} \
	UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1} \
		/usr/bin/time -a -f '%U %S' -o "${log%.out}.cpu" \
		timeout -k 5 $((60 + 5 * $#)) "$exe" "$@" >"$log" 2>&1
}

# run_fuzz EXE: one job per harness.  It replays every input in one
# process; only when that fails is each input replayed alone, to name the
# one that fails.  LOG.res gets "pass N" or one "fail RC FILE" per failing
# input (its first lines of output in LOG.fail-K).
run_fuzz()
{
	local exe=$1 log t0 f k=0 inputs=()
	log=$LOGDIR/$(basename "$exe")
	t0=$(date +%s)
	mapfile -t inputs < <(fuzz_inputs)
	: >"$log.res"
	if fuzz_run "$log.out" "$exe" "${inputs[@]}"; then
		echo "pass ${#inputs[@]}" >"$log.res"
	else
		for f in "${inputs[@]}"; do
			if fuzz_run "$log.out" "$exe" "$f"; then
				echo "pass 1" >>"$log.res"
			else
				echo "fail $? $f" >>"$log.res"
				k=$((k + 1))
				sed -n '1,15p' "$log.out" >"$log.fail-$k"
			fi
		done
	fi
	echo $(($(date +%s) - t0)) >"$log.time"
}

tally_fuzz()
{
	local exe=$1 log what n f rc k=0
	log=$LOGDIR/$(basename "$exe")
	if [ ! -f "$log.res" ]; then
		failure "$(basename "$exe"): no result"
		return
	fi
	while read -r what n f; do
		case $what in
		pass)
			passed=$((passed + n))
			n_fuzz=$((n_fuzz + n))
			;;
		fail)
			k=$((k + 1))
			failure "$(basename "$exe") $f: exit $n"
			sed 's/^/    /' "$log.fail-$k"
			;;
		esac
	done <"$log.res"
}

start=$(date +%s)
all_tests

for s in "${skips[@]+"${skips[@]}"}"; do
	echo "SKIP: $s"
done
[ "$failed" = 0 ] || echo "logs: $LOGDIR"
# where the time went: the jobs' seconds and their processor seconds
# (user + system; a job waiting on a server or the disk uses less than
# its seconds), the five longest jobs named
cat "$LOGDIR"/*.cpu 2>/dev/null | awk -v w="$(cat "$LOGDIR"/*.time 2>/dev/null |
	awk '{s += $1} END {print s + 0}')" -v j="$JOBS" \
	'NF == 2 && $1 ~ /^[0-9.]+$/ {c += $1 + $2} END {
		printf "time: %d s of jobs on %d slots, %d processor s\n", w, j, c}'
for f in "$LOGDIR"/*.time; do
	[ -f "$f" ] && echo "$(cat "$f") $(basename "$f" .time)"
done | sort -rn | head -5 | awk '{printf "%s%s %d s", (NR > 1 ? ", " : "longest: "), $2, $1} END {if (NR) print ""}'
echo "counted ($MODE, $(($(date +%s) - start)) s): $n_unit unit cases, $n_interop interop assertions, $n_crash crash points (in the unit cases), $n_fuzz fuzz inputs"
[ "$skipped" = 0 ] || echo "$skipped skipped"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
