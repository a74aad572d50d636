#!/bin/bash
# SPDX-License-Identifier: MIT
# `dd` against qemu-img (reference §2.8).  Operands and options: the same
# stdout, stderr and exit status for bad, missing, repeated and unknown
# operands, size suffixes, unknown or read-only output formats and
# protocols, missing inputs, --image-opts and -U (with qemu-io holding the
# input).  Data: raw, qcow2 and qcow2-over-a-backing-file inputs copied to
# raw (byte for byte the file qemu-img writes) and to qcow2 (qemu-img check
# clean, the same contents, virtual size and allocation map as qemu-img's)
# with bs/count/skip combinations, including count and skip past the end.
. "$(dirname "$0")/lib.sh"

have_qimg || skip_all "no qimg binary at $QIMG"

# Inputs, referred to as ../NAME from E/ and G/.
mkpattern in.raw 1024
head -c 1000 /dev/urandom >odd.raw
spawn "$QEMU_IMG" create -q -f qcow2 -o cluster_size=4k in.qcow2 1M
spawn "$QEMU_IO" -c 'write -P 0x11 0 64k' -c 'write -z 128k 64k' \
	-c 'write -c -P 0x22 256k 64k' -c 'write -P 0x33 1020k 4k' \
	in.qcow2 >/dev/null
spawn "$QEMU_IMG" create -q -f qcow2 base.qcow2 2M
spawn "$QEMU_IO" -c 'write -P 0x44 0 2M' base.qcow2 >/dev/null
spawn "$QEMU_IMG" create -q -f qcow2 -b base.qcow2 -F qcow2 top.qcow2 1536k
spawn "$QEMU_IO" -c 'write -P 0x55 100k 200k' -c 'write -z 1M 64k' \
	top.qcow2 >/dev/null

clean_out()
{
	spawn rm -f "$E"/o.* "$G"/o.*
}

# same_qcow2 DESC NAME: qimg's qcow2 output is clean and matches
# qemu-img's in contents, virtual size and allocation map.
same_qcow2()
{
	local d=$1 f=$2
	ok "$d: qemu-img check clean" check_clean "$G/$f"
	ok "$d: compares equal to qemu-img's" contents_equal "$E/$f" "$G/$f"
	if [ "$(info_json "$E/$f" | grep virtual-size)" = \
		"$(info_json "$G/$f" | grep virtual-size)" ]; then
		pass "$d: same virtual size"
	else
		fail "$d: same virtual size"
	fi
	(cd "$E" && map_shape "$f") >"$R/e.map"
	(cd "$G" && map_shape "$f") >"$R/g.map"
	if spawn cmp -s "$R/e.map" "$R/g.map"; then
		pass "$d: same allocation map"
	else
		fail "$d: same allocation map"
		diff "$R/e.map" "$R/g.map" | head -10 | diag_file /dev/stdin
	fi
}

# --- operands and options ----------------------------------------------
# (a line starting "~ " repeats the line above's case in other words:
# quick leaves it out)
while IFS= read -r args; do
	case $args in
	"~ "*)
		whole || continue
		args=${args#"~ "}
		;;
	esac
	clean_out
	# shellcheck disable=SC2086
	same "dd $args" dd $args
	same_file "dd $args" o.raw
done <<'EOF'

if=../in.raw
of=o.raw
if=../in.raw of=o.raw bs=0
if=../in.raw of=o.raw bs=abc
if=../in.raw of=o.raw bs=
if=../in.raw of=o.raw bs=1.5
if=../in.raw of=o.raw bs=2G
~ if=../in.raw of=o.raw bs=2147483648
if=../in.raw of=o.raw bs=16E
if=../in.raw of=o.raw bs=0x1kz
if=../in.raw of=o.raw count=abc
if=../in.raw of=o.raw count=8E
if=../in.raw of=o.raw count=16E
if=../in.raw of=o.raw count=0x1kz
if=../in.raw of=o.raw skip=abc
if=../in.raw of=o.raw skip=8E
if=../in.raw of=o.raw foo=1
if=../in.raw of=o.raw conv=notrunc
if=../in.raw of=o.raw foo
if=../in.raw of=o.raw bs
if=../in.raw of=o.raw BS=1
if=../in.raw of=o.raw bsx=1
if=../in.raw of=o.raw =
foo=1 bs=0
bs=0 foo=1
count=abc bs=0
-O foo bs=0 if=../in.raw
if= of=o.raw
if=../in.raw of=
if=missing.raw of=o.raw
-O foo if=missing.raw of=o.raw
-O foo if=../in.raw of=o.raw
-O foo if=../in.raw of=o.raw skip=5000
-O dmg if=../in.raw of=o.raw
-O null-co if=../in.raw of=o.raw
-O blkdebug if=../in.raw of=o.raw
-O quorum if=../in.raw of=o.raw
-f qcow2 if=../in.raw of=o.raw
-f foo if=../in.raw of=o.raw
if=../in.raw of=foo:bar
if=../in.raw of=json:{}
if=../in.raw of=null-co://
if=../in.raw of=/nonexistent/o.raw
if=../in.raw of=/nonexistent/o.raw skip=5000
-O qcow2 if=../in.raw of=/nonexistent/o.raw
-x if=../in.raw of=o.raw
-q if=../in.raw of=o.raw
-O
--bogus
foo=1 -x
--object
--object secret,id=s0 if=../in.raw of=o.raw
--image-opts -f raw if=../in.raw of=o.raw
--image-opts -f raw foo=1
--image-opts if=../in.raw of=o.raw
--image-opts if=driver=raw,file.filename=../in.raw of=o.raw skip=5000
-U --image-opts if=driver=raw,file.filename=../in.raw,force-share=off of=o.raw
-h
--help if=../in.raw of=o.raw
if=../in.raw of=o.raw bs=1k bs=4k count=3
if=../in.qcow2 of=o.raw if=../in.raw count=3
if=../in.raw of=o.raw -- count=3
if=../in.raw of=o.raw bs=0x1k count=3
if=../in.raw of=o.raw count=0x1k
if=../in.raw of=o.raw bs=0x10E
if=../in.raw of=o.raw bs=1.5k
if=../in.raw of=o.raw bs=+1k count=2
if=../in.raw of=o.raw bs=1b count=700
if=../in.raw of=o.raw bs=2147483647
if=../odd.raw of=o.raw count=4E bs=2
if=../odd.raw of=o.raw count=4E bs=4
if=../in.raw of=o.raw skip=4E bs=2
if=../in.raw of=o.raw count=1 skip=2
~ if=../in.raw of=o.raw count=2 skip=2
-U if=../in.raw of=o.raw count=5
~ --force-share if=../in.raw of=o.raw count=5
--image-opts if=driver=raw,file.filename=../in.raw of=o.raw count=3
-U --image-opts if=driver=raw,file.filename=../in.raw,force-share=on of=o.raw
--image-opts if=driver=qcow2,file.filename=../in.qcow2 of=o.raw bs=4k skip=3
-f raw if=../in.qcow2 of=o.raw count=2
-O file if=../in.qcow2 of=o.raw bs=100 count=3
EOF

# An existing output is replaced, whatever it held.
clean_out
spawn "$QEMU_IMG" create -q -f qcow2 "$E/o.raw" 64M
spawn cp "$E/o.raw" "$G/o.raw"
same "dd over an existing qcow2 file" dd if=../odd.raw of=o.raw bs=7
same_file "dd over an existing qcow2 file" o.raw

# --- data ----------------------------------------------------------------
# (quick: every third input and operands pair; 13 operand sets are not a
# multiple of 3, so each input and each set still comes once)
n=0
for in in in.raw odd.raw in.qcow2 top.qcow2; do
	for ops in "" "bs=64k" "bs=4k count=100 skip=10" \
		"bs=1000 count=7 skip=3" "bs=1M count=1" "bs=3 count=1000 skip=5" \
		"bs=300 skip=1 count=3" "count=100000" "bs=64k skip=16" \
		"skip=100000" "bs=1k skip=1024" "count=0" "bs=7 count=3000 skip=100"; do
		n=$((n + 1))
		quick_pick $n || continue
		clean_out
		d="$in $ops -> raw"
		# shellcheck disable=SC2086
		same "$d" dd if=../$in of=o.raw $ops
		same_file "$d" o.raw
	done
done
# (quick: every third pair again, 8 sets: each input and set once)
n=0
for in in in.raw in.qcow2 top.qcow2; do
	for ops in "" "bs=64k" "bs=1000 count=7 skip=3" "bs=1M" \
		"bs=4k skip=200" "skip=100000" "count=0" "bs=64k count=3 skip=3"; do
		n=$((n + 1))
		quick_pick $n || continue
		clean_out
		d="$in $ops -> qcow2"
		# shellcheck disable=SC2086
		same "$d" dd -O qcow2 if=../$in of=o.qcow2 $ops || continue
		same_qcow2 "$d" o.qcow2
	done
done

# Blocks larger than qimg's 16 MiB buffer are copied in pieces.
spawn truncate -s 40M big.raw
spawn "$QEMU_IO" -f raw -c 'write -P 0x66 0 1M' -c 'write -P 0x77 17M 2M' \
	-c 'write -P 0x88 39M 1M' big.raw >/dev/null
# (quick: the first only; each copies tens of MiB)
for ops in "bs=20M skip=1" "bs=24M" "bs=17M count=1 skip=1"; do
	whole || [ "$ops" = "bs=20M skip=1" ] || continue
	clean_out
	d="big.raw $ops -> raw"
	# shellcheck disable=SC2086
	same "$d" dd -f raw if=../big.raw of=o.raw $ops
	same_file "$d" o.raw
done
clean_out

# --- I/O errors ----------------------------------------------------------
{
	echo "[inject-error]"
	echo 'event = "read_aio"'
	echo 'sector = "1024"'
	echo 'once = "off"'
} >read.conf
clean_out
same "read error in the middle (raw)" dd -f raw \
	if=blkdebug:../read.conf:../in.raw of=o.raw bs=64k
same_file "read error in the middle (raw)" o.raw

# --- locking -------------------------------------------------------------
pids=
kill_helpers()
{
	local p
	for p in $pids; do
		kill "$p" 2>/dev/null
	done
	wait 2>/dev/null
}
at_exit kill_helpers
spawn cp in.qcow2 held.qcow2
"$QEMU_IO" -c 'sleep 600000' held.qcow2 >/dev/null 2>&1 &
pids="$pids $!"
ino=$(stat -c %i held.qcow2)
for _ in $(seq 1 100); do
	grep -q ":$ino 100 101\$" /proc/locks 2>/dev/null && break
	sleep 0.1
done
clean_out
same "input held by qemu-io" dd if=../held.qcow2 of=o.raw
same_file "input held by qemu-io" o.raw
same "input held by qemu-io: -U" dd -U if=../held.qcow2 of=o.raw bs=4k
same_file "input held by qemu-io: -U" o.raw
same "output held by qemu-io" dd if=../in.raw of=../held.qcow2 count=1
kill_helpers
pids=

done_testing
