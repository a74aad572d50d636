#!/bin/bash
# SPDX-License-Identifier: MIT
# Crash consistency: start qimg writers (a new qcow2 from convert, and
# `convert -n` into an existing qcow2 holding data) and SIGKILL them at
# random moments; afterwards qemu-img check must find no corruption (exit
# 0, or 3 for leaked clusters only).  A bounded number of iterations.
. "$(dirname "$0")/lib.sh"

ITER=${CRASH_ITER:-20}
have_qimg || skip_all "no qimg binary at $QIMG"

mkpattern src.raw 65536
# seeded, so a failing iteration can be reproduced with CRASH_SEED
RANDOM=${CRASH_SEED:-$$}
diag "CRASH_SEED=$RANDOM"

now_ms()
{
	date +%s%3N
}

# run_full ARGS...: time one undisturbed run (ms), at least 50
run_full()
{
	local t0 t1
	t0=$(now_ms)
	qimg "$@" >/dev/null 2>&1
	t1=$(now_ms)
	echo $(((t1 - t0) < 50 ? 50 : (t1 - t0)))
}

# kill_at MS ARGS...: start qimg ARGS, SIGKILL it after MS milliseconds
kill_at()
{
	local ms=$1 pid
	shift
	"$QIMG" "$@" >/dev/null 2>&1 &
	pid=$!
	sleep "$(printf '%d.%03d' $((ms / 1000)) $((ms % 1000)))"
	kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
}

# judge_cut DESC IMAGE [existing]: qemu-img check finds no corruption.  A new
# image whose creation was cut short (no valid header yet) is not a qcow2
# image at all and is accepted as "not created"; an image that existed
# before the run must still open.
judge_cut()
{
	local d=$1 img=$2 existing=${3:-} rc
	if [ ! -s "$img" ] || ! "$QEMU_IMG" info -f qcow2 "$img" \
		>/dev/null 2>&1; then
		if [ -n "$existing" ]; then
			fail "$d (the existing image no longer opens)"
			"$QEMU_IMG" info -f qcow2 "$img" 2>&1 | diag_file /dev/stdin
		else
			pass "$d (killed before the image existed)"
		fi
		return
	fi
	spawn "$QEMU_IMG" check "$img" >"$R/check" 2>&1
	rc=$?
	if [ "$rc" = 0 ] || [ "$rc" = 3 ]; then
		pass "$d (check exit $rc)"
	else
		fail "$d (check exit $rc)"
		diag_file "$R/check"
		spawn cp "$img" "$ROOT/build/crash-failure-$(basename "$img")" \
			2>/dev/null && diag "kept as build/crash-failure-$(basename "$img")"
	fi
}

opts_for()
{
	case $(($1 % 5)) in
	0) echo "cluster_size=65536" ;;
	1) echo "cluster_size=4096" ;;
	2) echo "cluster_size=65536,compat=0.10" ;;
	3) echo "cluster_size=16384,extended_l2=on" ;;
	4) echo "cluster_size=65536,refcount_bits=1" ;;
	esac
}

# parallelism: in-order writes, out-of-order (-W), one worker, 16 workers
par_for()
{
	case $(($1 % 4)) in
	0) echo "" ;;
	1) echo "-W" ;;
	2) echo "-m 1" ;;
	3) echo "-m 16 -W" ;;
	esac
}

full=$(run_full convert -O qcow2 src.raw full.qcow2)
diag "undisturbed convert: ${full} ms"
for i in $(seq 1 "$ITER"); do
	spawn rm -f new.qcow2
	o=$(opts_for "$i")
	c='' mult=1
	if [ $((i % 4)) = 3 ]; then
		c=-c mult=3
	fi
	ms=$((RANDOM * RANDOM % (full * mult + 1)))
	w=$(par_for "$i")
	# shellcheck disable=SC2086
	kill_at "$ms" convert $c $w -O qcow2 -o "$o" src.raw new.qcow2
	judge_cut "convert $c $w -o $o killed at ${ms}ms" new.qcow2
done

# convert -n into an existing image that already holds data
spawn "$QEMU_IMG" create -q -f qcow2 -o cluster_size=4k old0.qcow2 64M
spawn "$QEMU_IO" -c 'write -P 0x11 0 8M' -c 'write -z 16M 4M' \
	-c 'write -P 0x22 40M 1M' old0.qcow2 >/dev/null
full=$(run_full convert -n -O qcow2 src.raw old0.qcow2)
spawn "$QEMU_IMG" create -q -f qcow2 -o cluster_size=4k old.qcow2 64M
for i in $(seq 1 "$ITER"); do
	spawn "$QEMU_IMG" create -q -f qcow2 -o "$(opts_for "$i")" old.qcow2 64M
	spawn "$QEMU_IO" -c "write -P $i 0 8M" -c 'write -z 16M 4M' \
		-c "discard 4M 1M" -c "write -P 0x22 40M 1M" \
		old.qcow2 >/dev/null
	ms=$((RANDOM * RANDOM % (full + 1)))
	w=$(par_for "$((i + 1))")
	# shellcheck disable=SC2086
	kill_at "$ms" convert -n $w -O qcow2 src.raw old.qcow2
	judge_cut "convert -n $w into existing -o $(opts_for "$i") killed at ${ms}ms" \
		old.qcow2 existing
done

done_testing
