#!/bin/bash
# SPDX-License-Identifier: MIT
# `bench` against qemu-img (reference §2.15).  Arguments: the same stdout,
# stderr and exit status, the "Run completed in N seconds." figure aside,
# for read and write runs on raw and qcow2 with depth, buffer and step
# sizes, offsets, patterns and flush intervals (drained or not), cache and
# aio modes, requests that wrap at the image end or cross it, and every
# refused value.  Data: what a write run leaves (qemu-io reads the pattern
# back at the offsets and steps asked for, the gaps stay zero, wrapped
# requests land at the start), qemu-img check clean after qcow2 write
# runs, the same contents as qemu-img's own run, and the requested number
# of worker threads really running at once.
. "$(dirname "$0")/lib.sh"

have_qimg || skip_all "no qimg binary at $QIMG"

# The timing figure is the one thing that differs between two runs
# (lib.sh's norm_bench masks it).
# shellcheck disable=SC2034 # read by run_tool in lib.sh
NORM=norm_bench

spawn mkdir pristine
spawn "$QEMU_IMG" create -q -f qcow2 pristine/a.qcow2 1M
spawn "$QEMU_IMG" create -q -f raw pristine/a.raw 1M
spawn "$QEMU_IMG" create -q -f raw pristine/z.raw 0

# place NAME...: fresh copies of pristine/NAME for both tools
place()
{
	local f
	for f in "$@"; do
		spawn cp "pristine/$f" "$E/$f"
		spawn cp "pristine/$f" "$G/$f"
	done
}

# --- arguments, headers and errors -------------------------------------
while IFS= read -r args; do
	place a.qcow2 a.raw
	# shellcheck disable=SC2086
	same "bench $args" bench $args
done <<'EOF'
-c 100 a.qcow2
-c 100 -f raw a.raw
-q -c 10 a.raw
-c 0 a.qcow2
-d 0 -c 0 a.qcow2
-d 0 -c 5 missing.qcow2
-c 0x10 -d 010 a.qcow2
-c +5 -d 1 a.qcow2
-c 50 -d 1 a.raw
-c 100 -d 8 -s 8k -S 16k -o 64k a.qcow2
-c 100 -s 1.5k a.raw
-c 10 -s 0x1k a.raw
-c 10 -S 0x1k a.raw
-c 10 -o 0x1k a.raw
-c 600 a.qcow2
-c 349 -S 3000 a.raw
-c 350 -S 3000 a.raw
-c 3 -S 3M a.raw
-c 3 -o 1040384 a.qcow2
-c 1 -o 1M a.qcow2
-c 1 -o 1048000 a.raw
-c 1 -o 1M -s 0 a.raw
-c 1 -o 1048577 -s 0 a.raw
-c 1 -o 2M a.raw
-c 1 -s 2M a.qcow2
-c 10 -s 0 -S 0 a.qcow2
-c 10 -S 0 a.qcow2
-w -c 100 -f raw a.raw
-w -c 100 a.raw
-w -c 100 a.qcow2
-w -c 100 --pattern=0xab -d 4 -s 8k -S 16k -o 64k a.qcow2
-w -c 1000 --flush-interval=100 a.qcow2
-w -c 100 -d 4 --flush-interval=4 a.qcow2
-w -c 100 -d 4 --flush-interval=4 --no-drain a.qcow2
-w -c 100 -d 8 --flush-interval=010 -f raw a.raw
-w -c 10 --flush-interval=0 a.qcow2
-w -c 300 -f raw -S 3000 a.raw
-w -c 1 -o 1M a.qcow2
-c 10 --no-drain a.qcow2
-c 10 --pattern=0xff a.qcow2
-c 10 --pat=7 --no --force a.qcow2
-c 10 -t none a.qcow2
-c 10 -t off -f raw a.raw
-c 10 -t directsync -w a.qcow2
-c 10 -t unsafe -w a.qcow2
-c 10 -t writethrough -w -f raw a.raw
-c 10 -n -t none a.qcow2
-c 10 -i native -t directsync a.raw
-c 10 -i io_uring a.qcow2
-c 10 -i threads a.qcow2
-c 10 -i io_uring -i native -t none a.qcow2
-c 10 -U a.qcow2
-c 10 --image-opts driver=qcow2,file.filename=a.qcow2
-c 10 a.qcow2 -d 2
-c 10 -- a.qcow2
-c -1 a.qcow2
-c abc a.qcow2
-c 5k a.qcow2
-c 2147483648 a.qcow2
-c 4294967296 a.qcow2
-d x a.qcow2
-d -1 a.qcow2
-d 2147483648 a.qcow2
-s x a.qcow2
-s 2147483648 a.qcow2
-s 16E a.qcow2
-s 1.5 a.qcow2
-S x a.qcow2
-S 2147483648 a.qcow2
-S 0x1kz a.qcow2
-o x a.qcow2
-o 9223372036854775808 a.qcow2
-o 16E a.qcow2
--pattern=256 a.qcow2
--pattern=x a.qcow2
--pattern=-1 a.qcow2
--flush-interval=x -w a.qcow2
--flush-interval=2147483648 -w a.qcow2
--flush-interval=1 a.qcow2
--flush-interval=1 missing.qcow2
-w --flush-interval=10 a.qcow2
-w --flush-interval=10 missing.qcow2
-w --flush-interval=63 --no-drain a.qcow2
-t bogus a.qcow2
-t bogus -c x a.qcow2
-c x -t bogus a.qcow2
-i bogus a.qcow2
-i bogus -t bogus a.qcow2
-t bogus -i bogus a.qcow2
-i NATIVE a.qcow2
-n -c 1 a.raw
-n -c 1 a.qcow2
-i native -c 1 -w a.qcow2
-i native -i threads -c 1 a.qcow2
-n -c 1 missing.qcow2
-n -c 1 -t writeback a.qcow2
-U -w -c 1 a.qcow2
-c 1 missing.qcow2
-c 1 -f bogus a.qcow2
-c 1 -f qcow2 a.raw
-c 1 --image-opts -f qcow2 a.qcow2
--bogus a.qcow2
-z a.qcow2
--object secret,id=s,data=x a.qcow2
--format=raw a.raw
--f=1 a.qcow2

a.qcow2 a.raw
-c
--pattern
-h
-c 1 a.qcow2 --help
EOF

# An empty image: qemu-img divides by its size (SIGFPE); qimg fails the
# requests that do not fit and runs those that do.
place z.raw
run_tool g bench -c 2 -f raw z.raw
if [ "$(cat "$R/g.rc")" = 1 ] &&
	grep -qx 'qemu-img: Failed request: Input/output error' "$R/g.err.n"; then
	pass "empty image: a 4 KiB request fails with EIO"
else
	fail "empty image: a 4 KiB request fails with EIO"
	diag_file "$R/g.err"
fi
run_tool g bench -c 2 -s 0 -f raw z.raw
ok "empty image: empty requests complete" [ "$(cat "$R/g.rc")" = 0 ]

# A depth qemu-img would wait on forever is refused.
run_tool g bench -d 0 -c 1 a.qcow2
if [ "$(cat "$R/g.rc")" = 1 ] &&
	grep -qx 'qemu-img: Invalid queue depth specified' "$R/g.err.n"; then
	pass "-d 0 with requests to send is refused"
else
	fail "-d 0 with requests to send is refused"
	diag_file "$R/g.err"
fi

# Where qemu-img's depth x buffer size overflows an int it aborts
# (qemu_memalign); qimg allocates a buffer per worker and runs.
for args in "-d 2147483647 -c 1" "-s 2147483647 -c 0" "-d 2000 -c 3000"; do
	# shellcheck disable=SC2086
	run_tool g bench $args a.qcow2
	ok "bench $args: runs" grep -q '^Run completed in ' "$R/g.out"
done

# -n is checked once the image is open: a wrong -f is reported first.
run_tool g bench -n -c 1 -f qcow2 a.raw
ok "-n -f qcow2 on a raw image: the format error" \
	grep -qx "qemu-img: Could not open 'a.raw': Image is not in qcow2 format" \
	"$R/g.err.n"

# --- what a write run leaves -------------------------------------------
# reads IMG FMT CMD...: every qemu-io read command (read -P N OFF LEN)
# finds its pattern.
reads()
{
	local img=$1 fmt=$2 args=() c
	shift 2
	for c in "$@"; do
		args+=(-c "$c")
	done
	spawn "$QEMU_IO" -f "$fmt" "${args[@]}" "$img" >"$R/io" 2>&1 &&
		! grep -q 'verification failed' "$R/io"
}

# 20 writes of 8 KiB every 16 KiB from 64 KiB on: the pattern there, zeros
# in the gaps and after the last one.
place a.qcow2
spawn -C "$G" "$QIMG" bench -w -c 20 -d 4 -s 8k -S 16k -o 64k \
	--pattern=0xab a.qcow2 >/dev/null
cmds=('read -P 0 0 64k')
for i in $(seq 0 19); do
	cmds+=("read -P 0xab $((65536 + i * 16384)) 8k"
		"read -P 0 $((65536 + i * 16384 + 8192)) 8k")
done
cmds+=("read -P 0 $((65536 + 20 * 16384)) $((1048576 - 65536 - 20 * 16384))")
ok "qcow2 -w -s 8k -S 16k -o 64k: the pattern at each step, zeros between" \
	reads "$G/a.qcow2" qcow2 "${cmds[@]}"
ok "qcow2 -w -s 8k -S 16k -o 64k: qemu-img check clean" check_clean "$G/a.qcow2"
spawn -C "$E" "$QEMU_IMG" bench -w -c 20 -d 4 -s 8k -S 16k -o 64k \
	--pattern=0xab a.qcow2 >/dev/null
ok "qcow2 -w -s 8k -S 16k -o 64k: the same contents as qemu-img's run" \
	contents_equal "$E/a.qcow2" "$G/a.qcow2"

# Past the end the offset wraps modulo the size: from 1 MiB - 4 KiB in
# steps of 8 KiB the writes land at 1020k, 4k and 12k, as qemu-img's do.
place a.raw
for who in "$E:$QEMU_IMG" "$G:$QIMG"; do
	(cd "${who%%:*}" && "${who#*:}" bench -w -f raw -c 3 -o 1044480 -S 8k \
		--pattern=0x5a a.raw) >/dev/null
done
ok "raw -w wrapping at the end: 1020k, then 4k and 12k" \
	reads "$G/a.raw" raw 'read -P 0x5a 1044480 4k' 'read -P 0 0 4k' \
	'read -P 0x5a 4k 4k' 'read -P 0 8k 4k' 'read -P 0x5a 12k 4k' \
	'read -P 0 16k 1004k'
ok "raw -w wrapping at the end: the same file as qemu-img's" \
	cmp -s "$E/a.raw" "$G/a.raw"

# A step longer than the image wraps modulo its size: 1 MiB + 4 KiB steps
# land at 0, 4k and 8k.
place a.raw
spawn -C "$G" "$QIMG" bench -w -f raw -c 3 -S 1052672 --pattern=17 a.raw \
	>/dev/null
ok "raw -w with a step longer than the image: 0, 4k, 8k" \
	reads "$G/a.raw" raw 'read -P 17 0 12k' 'read -P 0 12k 1012k'

# Three passes over the whole image with flushes, drained and not.
for drain in "" --no-drain; do
	place a.qcow2
	spawn -C "$G" "$QIMG" bench -w -c 700 -d 16 --flush-interval=32 \
		$drain --pattern=0x77 a.qcow2 >"$R/out"
	ok "qcow2 -w --flush-interval=32 $drain: ran to completion" \
		grep -q '^Run completed in ' "$R/out"
	ok "qcow2 -w --flush-interval=32 $drain: every block written" \
		reads "$G/a.qcow2" qcow2 'read -P 0x77 0 1M'
	ok "qcow2 -w --flush-interval=32 $drain: qemu-img check clean" \
		check_clean "$G/a.qcow2"
done

# O_DIRECT with an unaligned buffer size and offset.
place a.qcow2
spawn -C "$G" "$QIMG" bench -w -t none -n -c 50 -d 8 -s 1000 -S 3000 -o 100 \
	--pattern=0x42 a.qcow2 >/dev/null
spawn -C "$E" "$QEMU_IMG" bench -w -t none -n -c 50 -d 8 -s 1000 -S 3000 \
	-o 100 --pattern=0x42 a.qcow2 >/dev/null
ok "qcow2 -w -t none -n, unaligned requests: qemu-img check clean" \
	check_clean "$G/a.qcow2"
ok "qcow2 -w -t none -n, unaligned requests: the same contents as qemu-img's" \
	contents_equal "$E/a.qcow2" "$G/a.qcow2"

# A read run leaves the image as it was.
place a.qcow2
spawn -C "$G" "$QIMG" bench -c 300 a.qcow2 >/dev/null
ok "qcow2 read run: image unchanged" \
	cmp -s "pristine/a.qcow2" "$G/a.qcow2"

# --- the queue depth is real -----------------------------------------------
# While a long run goes on, the process has one thread per request in
# flight: DEPTH - 1 more than a run at depth 1 (which counts the main
# thread and whatever a sanitizer runtime adds).
# threads_at_depth DEPTH [EXPECTED]: the most threads seen in 0.5 s, or
# until EXPECTED are (3 s at most: the machine may be busy).
threads_at_depth()
{
	local pid n max=0 i
	"$QIMG" bench -c 2000000000 -d "$1" -s 512 -f raw pristine/a.raw \
		>/dev/null 2>&1 &
	pid=$!
	for i in $(seq 1 150); do
		n=$(find "/proc/$pid/task" -mindepth 1 -maxdepth 1 2>/dev/null |
			wc -l)
		[ "$n" -gt "$max" ] && max=$n
		if [ -n "${2:-}" ]; then
			[ "$max" -ge "$2" ] && break
		elif [ "$i" -ge 25 ] && [ "$max" -gt 1 ]; then
			break
		fi
		sleep 0.02
	done
	kill "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	echo "$max"
}
base=$(threads_at_depth 1)
for depth in 3 16; do
	n=$(threads_at_depth "$depth" $((base + depth - 1)))
	if [ "$n" = $((base + depth - 1)) ]; then
		pass "-d $depth: $depth requests in flight"
	else
		fail "-d $depth: $depth requests in flight"
		diag "threads seen: $n, at depth 1: $base"
	fi
done

done_testing
