#!/bin/bash
# SPDX-License-Identifier: MIT
# `make bench`, NBD part: qimg-nbd against qemu-nbd serving the same qcow2
# image (a copy each, on the bench tmpfs), with the same client and
# arguments, interleaved, best of BENCH_RUNS (5).  Jobs:
#   nbd-seq-read    nbdcopy of the whole export to null: (1 GiB)
#   nbd-seq-write   nbdcopy of the raw input into the export
#   nbd-rand-read   4 KiB reads at random offsets, 16 in flight, one
#                   connection (bench/nbd-load), a fixed number of them
#   nbd-64-conns    64 connections, 16 reads of 64 KiB in flight each,
#                   for BENCH_CONN_SECS (3) s: the server's peak RSS is
#                   the figure
# Throughput ratio = qimg-nbd / qemu-nbd (higher is better: the issue asks
# >= 1.2); the servers' peak RSS (VmHWM) is printed for both.  Results go
# to the table and to bench/results/DATE-nbd.json.
#
# Environment: QIMG_NBD (build/qimg-nbd), QEMU_NBD (qemu-nbd), BENCH_DIR,
# BENCH_SIZE, BENCH_RUNS, BENCH_NBD_JOBS (a subset), BENCH_RAND_OPS (the
# random reads, 100000), BENCH_CONN_SECS.

set -u
cd "$(dirname "$0")/.." || exit 1
ROOT=$(pwd)
QIMG_NBD=${QIMG_NBD:-$ROOT/build/qimg-nbd}
QEMU_NBD=${QEMU_NBD:-qemu-nbd}
QEMU_IMG=${QEMU_IMG:-qemu-img}
SIZE=${BENCH_SIZE:-1G}
RUNS=${BENCH_RUNS:-5}
JOBS=${BENCH_NBD_JOBS:-nbd-seq-read nbd-seq-write nbd-rand-read nbd-64-conns}
RAND_OPS=${BENCH_RAND_OPS:-100000}
CONN_SECS=${BENCH_CONN_SECS:-3}
bytes=$(numfmt --from=iec "$SIZE") || exit 1
if [ -z "${BENCH_DIR:-}" ]; then
	if [ -d /dev/shm ] && [ "$(df -k --output=avail /dev/shm | tail -1)" -gt $((bytes / 1024 * 6)) ]; then
		BENCH_DIR=/dev/shm/qimg-bench
	else
		BENCH_DIR=$ROOT/bench/work
	fi
fi
W=$BENCH_DIR/nbd
mkdir -p "$W" "$ROOT/bench/results" || exit 1
for t in nbdcopy nbdinfo "$QEMU_NBD" "$QEMU_IMG" cc; do
	command -v "$t" >/dev/null 2>&1 || { echo "bench: $t is needed"; exit 1; }
done
[ -x "$QIMG_NBD" ] || { echo "bench: $QIMG_NBD not built"; exit 1; }
LOAD=$W/nbd-load
cc -O2 -o "$LOAD" bench/nbd-load.c -lnbd || exit 1

IN=$BENCH_DIR/input-$SIZE.raw
if [ ! -f "$IN" ]; then
	echo "bench: making a $SIZE input (random and text blocks, holes)"
	# shellcheck source=bench/inputs.sh
	. bench/inputs.sh
	WORK=$BENCH_DIR
	make_input || exit 1
fi
SRC=$W/src.qcow2
[ -f "$SRC" ] || "$QEMU_IMG" convert -f raw -O qcow2 "$IN" "$SRC" || exit 1

now() { date +%s.%N; }

# serve WHO: start the server on a fresh copy; sets SP (its pid), SOCK
serve()
{
	local who=$1 bin
	bin=$([ "$who" = qimg ] && echo "$QIMG_NBD" || echo "$QEMU_NBD")
	SOCK=$W/$who.sock
	rm -f "$SOCK" "$W/$who.qcow2"
	cp "$SRC" "$W/$who.qcow2"
	"$bin" -t -e 64 -k "$SOCK" -f qcow2 --cache=writeback "$W/$who.qcow2" \
		2>"$W/$who.err" &
	SP=$!
	for _ in $(seq 100); do [ -S "$SOCK" ] && return 0; sleep 0.05; done
	echo "bench: $who did not start: $(cat "$W/$who.err")" >&2
	return 1
}

stop()
{
	kill "$SP" 2>/dev/null
	wait "$SP" 2>/dev/null
}

hwm()
{
	awk '/VmHWM/ { printf "%.0f", $2 / 1024 }' "/proc/$1/status" 2>/dev/null
}

# run_job JOB WHO -> "seconds bytes rss"
run_job()
{
	local job=$1 who=$2 t0 t1 out rss n
	serve "$who" || { echo "0 0 0"; return; }
	URI="nbd+unix:///?socket=$SOCK"
	t0=$(now)
	case $job in
	nbd-seq-read)
		nbdcopy "$URI" null: && n=$(nbdinfo --size "$URI") ;;
	nbd-seq-write)
		nbdcopy "$IN" "$URI" && n=$bytes ;;
	nbd-rand-read)
		out=$("$LOAD" "$URI" randread 4096 16 "ops=$RAND_OPS") &&
			n=$(echo "$out" | awk '{ print $4 }') ;;
	nbd-64-conns)
		out=$("$LOAD" "$URI" randread 65536 16 "$CONN_SECS" 64) &&
			n=$(echo "$out" | awk '{ print $4 }') ;;
	esac
	t1=$(now)
	rss=$(hwm "$SP")
	stop
	if [ "$job" = nbd-64-conns ]; then
		# a fixed time: seconds are what the load ran
		echo "$(echo "$out" | awk '{ print $6 }') ${n:-0} ${rss:-0}"
	else
		echo "$(echo "$t1 - $t0" | bc) ${n:-0} ${rss:-0}"
	fi
}

printf '%-16s %9s %9s %7s %10s %10s %8s %8s\n' job qimg-MB/s qemu-MB/s ratio \
	qimg-s qemu-s rss-qimg rss-qemu
json="["
for job in $JOBS; do
	bq= bg= rq=0 rg=0 sq= sg=
	for ((i = 0; i < RUNS; i++)); do
		for who in qemu qimg; do
			read -r s n r < <(run_job "$job" "$who")
			[ "$n" = 0 ] && { echo "bench: $job failed with $who" >&2; continue; }
			mbps=$(echo "$n / $s / 1000000" | bc -l)
			if [ "$who" = qimg ]; then
				if [ -z "$bg" ] || [ "$(echo "$mbps > $bg" | bc)" = 1 ]; then bg=$mbps; sg=$s; fi
				[ "$r" -gt "$rg" ] && rg=$r
			else
				if [ -z "$bq" ] || [ "$(echo "$mbps > $bq" | bc)" = 1 ]; then bq=$mbps; sq=$s; fi
				[ "$r" -gt "$rq" ] && rq=$r
			fi
		done
	done
	if [ -n "$bq" ] && [ -n "$bg" ]; then
		ratio=$(echo "$bg / $bq" | bc -l)
		printf '%-16s %9.0f %9.0f %7.2f %10.3f %10.3f %8s %8s\n' "$job" \
			"$bg" "$bq" "$ratio" "$sg" "$sq" "$rg" "$rq"
		json="$json$([ "$json" = "[" ] || echo ,){\"job\":\"$job\",\"qimg_mbps\":$(printf %.1f "$bg"),\"qemu_mbps\":$(printf %.1f "$bq"),\"ratio\":$(printf %.3f "$ratio"),\"qimg_rss_mib\":$rg,\"qemu_rss_mib\":$rq}"
	else
		printf '%-16s %9s\n' "$job" failed
	fi
done
json="$json]"
f=$ROOT/bench/results/$(date -u +%Y%m%dT%H%M%SZ)-nbd.json
echo "$json" >"$f"
echo "(ratio = qimg-nbd throughput / qemu-nbd's, best of $RUNS; RSS: the servers' peak in MiB)"
echo "bench: results written to $f"
rm -f "$W"/qimg.qcow2 "$W"/qemu.qcow2
