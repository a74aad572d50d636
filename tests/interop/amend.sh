#!/bin/bash
# SPDX-License-Identifier: MIT
# `amend` against qemu-img (reference §2.12).  Arguments and refusals: the
# same stdout, stderr and exit status (-o help with and without -f, options
# only creation takes, unknown ones, formats that cannot amend, every qcow2
# refusal, -p and -q), and the image left as qemu-img leaves it when a
# later step fails.  Data: images of many kinds amended by both tools from
# identical copies (compat down with zero clusters, a backing file and
# snapshots; compat up; lazy refcounts on and off, dirty ones too; every
# refcount width there and back; sizes; the backing file unchanged): the
# same output (progress included), a byte-identical file, the same
# `qemu-img info`, qimg's result clean for qemu-img check and reading as
# qemu-img's; images qemu-img amended read by qimg.
. "$(dirname "$0")/lib.sh"

have_qimg || skip_all "no qimg binary at $QIMG"

qio_w()
{
	spawn "$QEMU_IO" "$@" >/dev/null 2>&1
}

# mk NAME SIZE [create options...]: pristine/NAME by qemu-img create
mk()
{
	local n=$1 size=$2
	shift 2
	spawn "$QEMU_IMG" create -q -f qcow2 "$@" "pristine/$n" $size
}

# place NAME...: copies of pristine/NAME for both tools, every block of
# them allocated as in files qemu-img writes (qemu-img rewrites a header or
# refcount block cluster whole, qimg the bytes that change: over holes a
# copy made, that would show as a different disk size)
place()
{
	local n
	for n in "$@"; do
		spawn cp --sparse=never --preserve=timestamps "pristine/$n" "$E/$n"
		spawn cp --sparse=never --preserve=timestamps "pristine/$n" "$G/$n"
	done
}

# replace NAME...: place those of NAME... that a command since the last
# replace wrote to (or removed): one `cp` per changed image, not per image
# and command.
replace()
{
	local n copied=
	for n in "$@"; do
		# (copies keep pristine's old time; a file as new as the
		# mark, written within the clock's tick, is copied again)
		if [ ! -e "$E/$n" ] || [ ! -e "$G/$n" ] ||
			[ ! "$R/placed" -nt "$E/$n" ] ||
			[ ! "$R/placed" -nt "$G/$n" ]; then
			place "$n"
			copied=1
		fi
	done
	[ -z "$copied" ] || spawn touch "$R/placed"
}

# poke FILE OFFSET OCTAL-ESCAPES
poke()
{
	printf "$3" | dd of="$1" bs=1 seek=$(($2)) conv=notrunc 2>/dev/null
}

spawn mkdir pristine
mk a.qcow2 64M
spawn "$QEMU_IMG" create -q -f raw pristine/a.raw 1M
mk v2.qcow2 64M -o compat=0.10
mk rb8.qcow2 64M -o refcount_bits=8
mk extl2.qcow2 64M -o extended_l2=on
mk zstd.qcow2 64M -o compression_type=zstd
mk zstdc.qcow2 64M -o compression_type=zstd
qio_w -c 'write -c -P 1 0 64k' pristine/zstdc.qcow2
mk v2snap.qcow2 64M -o compat=0.10
spawn "$QEMU_IMG" snapshot -c s pristine/v2snap.qcow2
mk sizesnap.qcow2 32M
spawn "$QEMU_IMG" snapshot -c s pristine/sizesnap.qcow2
spawn "$QEMU_IMG" resize -q pristine/sizesnap.qcow2 128M
mk shared.qcow2 64M
qio_w -c 'write -P 7 0 128k' pristine/shared.qcow2
spawn "$QEMU_IMG" snapshot -c s pristine/shared.qcow2
mk base.qcow2 64M
qio_w -c 'write -P 0x2a 0 1M' pristine/base.qcow2
mk over.qcow2 64M -b base.qcow2 -F qcow2

# --- arguments and refusals ----------------------------------------------
set -f # "-o ?" is an option, not a pattern
spawn rm -f "$R/placed"
# (make check: the lines without "~", one or two of each kind: the
# variants marked run whole only)
while IFS= read -r args; do
	case $args in
	"~ "*)
		whole || continue
		args=${args#"~ "}
		;;
	esac
	replace a.qcow2 a.raw v2.qcow2 rb8.qcow2 extl2.qcow2 zstd.qcow2 \
		zstdc.qcow2 v2snap.qcow2 sizesnap.qcow2 shared.qcow2 \
		base.qcow2 over.qcow2
	# shellcheck disable=SC2086
	same "amend $args" amend $args
	case $args in
	*a.qcow2* | *rb8* | *v2* | *sizesnap* | *shared* | *over*)
		f=
		for w in $args; do
			w=${w##*=}
			case $w in *.qcow2) f=$w ;; esac
		done
		if [ -n "$f" ] && ! cmp -s "$E/$f" "$G/$f"; then
			fail "amend $args: image left as qemu-img leaves it"
		fi
		;;
	esac
done <<'EOF'

a.qcow2
-o help
-f qcow2 -o help
~ -f qcow2 -o ?
-f qcow2 -o help a.qcow2 extra
~ -o help a.qcow2
-o help,size=1M a.qcow2
~ -o cluster_size=4k,help a.qcow2
-f raw -o help
~ -f file -o help
-f bochs -o help
-f bogus -o help
-o size=1M
-o size=1M a.qcow2 extra
-o cluster_size=4k a.qcow2
~ -o compression_type=zstd a.qcow2
~ -o preallocation=off a.qcow2
~ -o extended_l2=on a.qcow2
-o encrypt.format=luks a.qcow2
~ -o encryption=on a.qcow2
-o bogus=1 a.qcow2
~ -o cluster_size=4k,bogus=1 a.qcow2
-o bogus=1,cluster_size=4k a.qcow2
-o cluster_size=abc a.qcow2
~ -o size=abc,cluster_size=4k a.qcow2
-o lazy_refcounts=maybe a.qcow2
~ -o refcount_bits= a.qcow2
-o ,, a.qcow2
~ -o size=1M, a.qcow2
-o size=1M -o ,help a.qcow2
-f raw -o size=1M a.qcow2
-o size=1M a.raw
~ -o help a.raw
-f qcow2 -o size=1M a.raw
-o size=1M missing.qcow2
-t bogus -o size=1M a.qcow2
~ -t bogus -o size=1M
-U -o size=1M a.qcow2
~ -T none -o size=1M a.qcow2
--image-opts -f qcow2 -o size=1M a.qcow2
~ --format qcow2 -o size=1M a.qcow2
-x
-o compat=1.2 a.qcow2
~ -o compat= a.qcow2
-o refcount_bits=3 a.qcow2
~ -o refcount_bits=0 a.qcow2
~ -o refcount_bits=128 a.qcow2
-o data_file=x.raw a.qcow2
~ -o data_file_raw=on a.qcow2
~ -o data_file_raw=off a.qcow2
-o encrypt.state=active a.qcow2
~ -o encrypt.keyslot=1,compat=1.2 a.qcow2
-o backing_file=x a.qcow2
~ -o backing_file= a.qcow2
-o backing_fmt=raw a.qcow2
~ -o backing_file=base.qcow2 over.qcow2
~ -o backing_fmt=qcow2 over.qcow2
~ -o backing_file=base.qcow2,backing_fmt=raw over.qcow2
-o backing_file=base.qcow2,backing_fmt=qcow2 over.qcow2
-o lazy_refcounts=on v2.qcow2
~ -o refcount_bits=8 v2.qcow2
-o compat=0.10,lazy_refcounts=on a.qcow2
~ -o compat=0.10,refcount_bits=8 a.qcow2
-o compat=0.10 rb8.qcow2
~ -o refcount_bits=8,compat=0.10 rb8.qcow2
~ -o size=128M,compat=0.10 rb8.qcow2
-o compat=0.10 extl2.qcow2
-o compat=0.10 zstdc.qcow2
~ -o compat=0.10 zstd.qcow2
-o compat=0.10 sizesnap.qcow2
~ -o compat=0.10,size=128M sizesnap.qcow2
~ -o compat=0.10,backing_file=x a.qcow2
~ -o compat=1.1,backing_file=x v2.qcow2
~ -o refcount_bits=8,backing_file=x a.qcow2
-o lazy_refcounts=on,backing_file=x a.qcow2
-o size=128M v2snap.qcow2
~ -o compat=1.1,size=128M v2snap.qcow2
-o refcount_bits=1 shared.qcow2
~ -o refcount_bits=1,size=128M,lazy_refcounts=on shared.qcow2
-o size=1000 a.qcow2
~ -o size=0 a.qcow2
-o size=0x1k a.qcow2
~ -o size=0x1k,cluster_size=4k a.qcow2
~ -o cluster_size=0x1k a.qcow2
~ -o size=0x1k,bogus=1 a.qcow2
~ -o size=0x1k,refcount_bits=3 a.qcow2
-o lazy_refcounts a.qcow2
~ -o nolazy_refcounts a.qcow2
-o compat=v2 a.qcow2
~ -o compat=v3 v2.qcow2
-o compat=0.10,compat=1.1 v2.qcow2
-q -o size=1M a.qcow2
~ -p -q -o compat=0.10 a.qcow2
~ -p -o size=1M
~ -p -f raw -o help
~ -p -f qcow2 -o help
-p -o bogus=1 a.qcow2
~ -p -o compat=0.10 rb8.qcow2
-p -o compat=0.10 a.qcow2
~ -p -o compat=1.1 v2.qcow2
~ -p -o lazy_refcounts=on a.qcow2
~ -p -o compat=1.1,refcount_bits=8,lazy_refcounts=on v2.qcow2
--force -o size=128M a.qcow2
--object secret,id=s,data=x -o size=128M a.qcow2
--image-opts -o size=128M driver=qcow2,file.filename=a.qcow2
~ --image-opts -o lazy_refcounts=on a.qcow2
EOF
set +f

# --- data ------------------------------------------------------------------

# Bytes the file takes on the host.
used()
{
	echo $(($(stat -c %b "$1") * 512))
}

# The same host allocation, give or take the file system's own blocks
# (extent tree blocks depend on how the file got fragmented).
same_allocation()
{
	local a b
	a=$(used "$1")
	b=$(used "$2")
	[ $((a > b ? a - b : b - a)) -le 8192 ]
}

# both NAME ARGS...: amend pristine/NAME (and its companions, placed by
# the caller) with both tools, then compare everything about the results:
# the output, the file's bytes, `qemu-img info` (the disk size apart, see
# same_allocation), check, contents, and qimg reading qemu-img's result.
# RAW_INFO=1: the host allocation is not compared (qemu-img's open-time
# refcount repair writes in a pattern of its own).
both()
{
	local n=$1 d identical=
	shift
	d="$n: amend $*"
	same "$d" amend "$@" || return
	[ "$(cat "$R/e.rc")" = 0 ] || return
	if spawn cmp -s "$E/$n" "$G/$n"; then
		pass "$d: the same file as qemu-img's"
		identical=1
	else
		fail "$d: the same file as qemu-img's"
		cmp "$E/$n" "$G/$n" | diag_file /dev/stdin
	fi
	# (make check: a file byte for byte qemu-img's has qemu-img's info,
	# check and contents; what qemu-img says of it is not asked again)
	if whole || [ -z "$identical" ]; then
		spawn -C "$E" "$QEMU_IMG" info "$n" >"$R/e.info" 2>&1
		spawn -C "$G" "$QEMU_IMG" info "$n" >"$R/g.info" 2>&1
		sed -i '/^disk size:/d' "$R/e.info" "$R/g.info"
		if spawn cmp -s "$R/e.info" "$R/g.info"; then
			pass "$d: qemu-img info as for qemu-img's"
		else
			fail "$d: qemu-img info as for qemu-img's"
			diff "$R/e.info" "$R/g.info" | diag_file /dev/stdin
		fi
	fi
	if [ "${RAW_INFO:-0}" != 1 ]; then
		if same_allocation "$E/$n" "$G/$n"; then
			pass "$d: the same host allocation"
		else
			fail "$d: the same host allocation"
			diag "qemu-img $(used "$E/$n"), qimg $(used "$G/$n")"
		fi
	fi
	if whole || [ -z "$identical" ]; then
		if [ "${SAME_CHECK:-0}" = 1 ]; then
			spawn -C "$E" "$QEMU_IMG" check "$n" >"$R/e.chk" 2>&1
			spawn -C "$G" "$QEMU_IMG" check "$n" >"$R/g.chk" 2>&1
			ok "$d: qemu-img check as on qemu-img's" \
				cmp -s "$R/e.chk" "$R/g.chk"
		else
			ok "$d: qemu-img check clean" check_clean "$G/$n"
		fi
		ok "$d: reads as qemu-img's result" \
			sh -c "cd '$G' && '$QEMU_IMG' compare -q '$n' '$E/$n' 2>/dev/null"
	fi
	ok "$d: qimg reads qemu-img's result" \
		sh -c "cd '$E' && '$QIMG' compare -q '$n' '$G/$n' 2>/dev/null"
}

# zero clusters: plain, allocated (data under them), unmapped
mk zero.qcow2 64M
qio_w -c 'write -P 1 0 64k' -c 'write -z 64k 64k' -c 'write -P 2 128k 64k' \
	-c 'write -z 128k 64k' -c 'write -z -u 192k 64k' pristine/zero.qcow2
place zero.qcow2
both zero.qcow2 -o compat=0.10 zero.qcow2

# over a backing file: zero clusters become clusters of zeros
mk zb.qcow2 64M -b base.qcow2 -F qcow2
qio_w -c 'write -P 1 0 64k' -c 'write -z 64k 64k' -c 'write -P 2 128k 64k' \
	-c 'write -z 128k 64k' -c 'write -z 256k 128k' -c 'write -P 3 512k 64k' \
	pristine/zb.qcow2
place base.qcow2 zb.qcow2
both zb.qcow2 -p -o compat=0.10 zb.qcow2

# an L2 table shared with a snapshot, without and with a backing file
mk s1.qcow2 64M
qio_w -c 'write -z 0 128k' pristine/s1.qcow2
spawn "$QEMU_IMG" snapshot -c foo pristine/s1.qcow2
place s1.qcow2
both s1.qcow2 -o compat=0.10 s1.qcow2
mk s2.qcow2 64M -b base.qcow2 -F qcow2
qio_w -c 'write -z 0 128k' pristine/s2.qcow2
spawn "$QEMU_IMG" snapshot -c foo pristine/s2.qcow2
place s2.qcow2
both s2.qcow2 -o compat=0.10 s2.qcow2

# zero clusters only in snapshots' own tables, two snapshots, progress
mk s4.qcow2 64M -b base.qcow2 -F qcow2
qio_w -c 'write -z 0 64k' pristine/s4.qcow2
spawn "$QEMU_IMG" snapshot -c foo pristine/s4.qcow2
qio_w -c 'write -P 0x42 0 128k' -c 'write -z 256k 64k' pristine/s4.qcow2
spawn "$QEMU_IMG" snapshot -c bar pristine/s4.qcow2
qio_w -c 'write -z 512k 64k' pristine/s4.qcow2
place s4.qcow2
both s4.qcow2 -p -o compat=0.10 s4.qcow2
ok "s4.qcow2: snapshot foo reads as before" sh -c "cd '$G' &&
	'$QEMU_IMG' convert -l foo -O raw s4.qcow2 foo.raw &&
	'$QEMU_IO' -f raw -c 'read -P 0 0 64k' -c 'read -P 0x2a 64k 64k' \
		foo.raw | grep -vq 'verification failed'"

# 4 GiB with zero clusters in four L2 tables: qemu-img's progress steps
mk big-base.qcow2 4G
mk big.qcow2 4G -b big-base.qcow2 -F qcow2
qio_w -c 'write -z 0 64k' -c 'write -z 1G 64k' -c 'write -z 2G 64k' \
	-c 'write -z 3G 64k' pristine/big.qcow2
place big-base.qcow2 big.qcow2
both big.qcow2 -p -o compat=0.10 big.qcow2
spawn cp pristine/big.qcow2 pristine/bigsnap.qcow2
spawn "$QEMU_IMG" snapshot -c foo pristine/bigsnap.qcow2
place bigsnap.qcow2
both bigsnap.qcow2 -p -o compat=0.10 bigsnap.qcow2
place big.qcow2
both big.qcow2 -p -o compat=0.10,refcount_bits=16,size=8G big.qcow2

# a full image zeroed with its clusters kept
mk full.qcow2 16M
qio_w -c 'write -P 0x2a 0 16M' -c 'write -z 0 16M' pristine/full.qcow2
place full.qcow2
both full.qcow2 -o compat=0.10 full.qcow2

# unknown compatible and autoclear bits are dropped on the way to v2
spawn cp pristine/a.qcow2 pristine/bits.qcow2
poke pristine/bits.qcow2 80 '\000\000\004\000\000\000\000\000'
poke pristine/bits.qcow2 88 '\000\000\004\000\000\000\000\000'
place bits.qcow2
both bits.qcow2 -o compat=0.10 bits.qcow2

# up: data, lazy refcounts and a new size at once; a snapshot; a backing
mk up.qcow2 64M -o compat=0.10
qio_w -c 'write -P 0x2a 42M 64k' pristine/up.qcow2
place up.qcow2
both up.qcow2 -o compat=1.1,lazy_refcounts=on,size=128M up.qcow2
mk upsnap.qcow2 32M -o compat=0.10
qio_w -c 'write -P 0x2a 24M 64k' pristine/upsnap.qcow2
spawn "$QEMU_IMG" snapshot -c foo pristine/upsnap.qcow2
place upsnap.qcow2
both upsnap.qcow2 -p -o compat=1.1,size=128M upsnap.qcow2
mk upback.qcow2 64M -o compat=0.10 -b base.qcow2 -F qcow2
qio_w -c 'write -P 3 1M 64k' pristine/upback.qcow2
place base.qcow2 upback.qcow2
both upback.qcow2 -o compat=1.1 upback.qcow2
both upback.qcow2 -o compat=0.10 upback.qcow2

# a v2 snapshot table without the extra data v3 requires: written anew
mk oldsn.qcow2 64M -o compat=0.10
qio_w -c 'write -P 1 0 64k' pristine/oldsn.qcow2
spawn "$QEMU_IMG" snapshot -c snap1 pristine/oldsn.qcow2
if command -v python3 >/dev/null 2>&1; then
	python3 - pristine/oldsn.qcow2 <<'PY'
import struct, sys
f = open(sys.argv[1], "r+b")
h = f.read(72)
off = struct.unpack(">Q", h[64:72])[0]
f.seek(off)
e = bytearray(f.read(40))
extra = struct.unpack(">I", e[36:40])[0]
idl, nml = struct.unpack(">HH", e[12:16])
f.seek(off + 40 + extra)
names = f.read(idl + nml)
struct.pack_into(">I", e, 36, 0)
new = bytes(e) + names
new += b"\0" * ((8 - len(new) % 8) % 8)
f.seek(off)
f.write(new + b"\0" * 64)
PY
	place oldsn.qcow2
	both oldsn.qcow2 -p -o compat=1.1 oldsn.qcow2
fi

# lazy refcounts on and off; images left dirty by a killed writer
place a.qcow2
both a.qcow2 -o lazy_refcounts=on a.qcow2
both a.qcow2 -o lazy_refcounts=off a.qcow2
mk dirty.qcow2 64M -o lazy_refcounts=on
("$QEMU_IO" -c 'write -P 0x2a 0 128k' -c flush -c 'sigraise 9' \
	pristine/dirty.qcow2 >/dev/null 2>&1) 2>/dev/null
i=0
for o in lazy_refcounts=off compat=0.10 refcount_bits=8 size=128M; do
	# (make check: the first and the last)
	i=$((i + 1))
	whole || [ $i = 1 ] || [ $i = 4 ] || continue
	place dirty.qcow2
	RAW_INFO=1 both dirty.qcow2 -o $o dirty.qcow2
done

# every refcount width, there and back, over data, compressed clusters
# and a snapshot
mk rc.qcow2 64M
qio_w -c 'write -P 1 16M 32M' -c 'write -c -P 2 60M 64k' pristine/rc.qcow2
spawn "$QEMU_IMG" snapshot -c s1 pristine/rc.qcow2
qio_w -c 'write -P 3 20M 1M' pristine/rc.qcow2
place rc.qcow2
# (make check: wider, narrower and too narrow, by a walk qemu-img takes
# in a second: it takes 2 to 10 s to widen from 2 or 4 bits; 1 bit is
# widened below, and qimg reads a 2-bit image qemu-img made at the end)
widths="2 1 4 8 32 64 16 64 1 16"
whole || widths="64 32 4 1"
for b in $widths; do
	both rc.qcow2 -p -o refcount_bits=$b rc.qcow2
done
# too narrow for a shared cluster: refused, nothing changed
place rc.qcow2
same "rc.qcow2: amend refcount_bits=1 with a snapshot refcount" \
	amend -o refcount_bits=1 rc.qcow2
ok "rc.qcow2: untouched after the refusal" cmp -s "$G/rc.qcow2" pristine/rc.qcow2

# small clusters: several refcount blocks, and a fourth walk (iotest 112)
mk small.qcow2 256M -o cluster_size=4k
qio_w -c 'write -P 1 1M 3M' -c 'write -P 2 100M 5M' pristine/small.qcow2
place small.qcow2
widths="1 64 8 16"
# (make check: the first and the last of each walk)
whole || widths="1 16"
for b in $widths; do
	both small.qcow2 -p -o refcount_bits=$b small.qcow2
done
mk walks.qcow2 64k -o refcount_bits=1,cluster_size=512
qio_w -c "write 0 $((58 * 512))" pristine/walks.qcow2
place walks.qcow2
both walks.qcow2 -p -o refcount_bits=64 walks.qcow2
mk tiny.qcow2 1M -o cluster_size=512
qio_w -c 'write -P 5 0 300k' -c 'write -P 6 700k 100k' pristine/tiny.qcow2
place tiny.qcow2
widths="1 64 16"
whole || widths="1 16"
for b in $widths; do
	both tiny.qcow2 -p -o refcount_bits=$b tiny.qcow2
done
# down to v2 from a width v2 cannot have, in one go
place rb8.qcow2
both rb8.qcow2 -p -o compat=0.10,refcount_bits=16 rb8.qcow2

# sizes: grow, shrink inside an L2 table, over a snapshot, over a backing
mk sz.qcow2 64M
qio_w -c 'write -P 1 0 1M' -c 'write -P 2 40M 3M' -c 'write -P 3 63M 1M' \
	pristine/sz.qcow2
i=0
for sz in 1G 41M 40M 1M 512; do
	# (make check: grow, shrink through the data, and to 512 bytes)
	i=$((i + 1))
	whole || [ $i = 1 ] || [ $i = 2 ] || [ $i = 5 ] || continue
	place sz.qcow2
	both sz.qcow2 -o size=$sz sz.qcow2
done
place shared.qcow2
both shared.qcow2 -o size=1M shared.qcow2
place base.qcow2 over.qcow2
both over.qcow2 -o size=32M over.qcow2
both over.qcow2 -o size=128M over.qcow2
mk sz2.qcow2 32M
spawn "$QEMU_IMG" snapshot -c foo pristine/sz2.qcow2
spawn "$QEMU_IMG" resize -q pristine/sz2.qcow2 128M
spawn "$QEMU_IMG" snapshot -c bar pristine/sz2.qcow2
spawn "$QEMU_IMG" resize -q --shrink pristine/sz2.qcow2 64M
place sz2.qcow2
same "sz2.qcow2: snapshots of another size refuse the downgrade" \
	amend -o compat=0.10,size=32M sz2.qcow2
ok "sz2.qcow2: resized before the refusal, as qemu-img" \
	cmp -s "$E/sz2.qcow2" "$G/sz2.qcow2"

# a zero cluster whose host cluster a snapshot's own table holds as data:
# qemu-img 7.2 zeroes it under the snapshot; qimg keeps the snapshot
# (docs/DIFFERENCES.md)
mk zs.qcow2 64M
qio_w -c 'write -P 7 0 128k' pristine/zs.qcow2
spawn "$QEMU_IMG" snapshot -c s pristine/zs.qcow2
qio_w -c 'write -z 0 64k' pristine/zs.qcow2
place zs.qcow2
spawn -C "$G" "$QIMG" amend -o compat=0.10 zs.qcow2
ok "zs.qcow2: amend -o compat=0.10: qemu-img check clean" check_clean "$G/zs.qcow2"
ok "zs.qcow2: the snapshot reads as taken" sh -c "cd '$G' &&
	'$QEMU_IMG' convert -l s -O raw zs.qcow2 zs.raw &&
	'$QEMU_IO' -f raw -c 'read -P 7 0 128k' zs.raw | grep -q '^read' &&
	! '$QEMU_IO' -f raw -c 'read -P 7 0 128k' zs.raw | grep -q fail"
ok "zs.qcow2: the image reads zeros there" sh -c "cd '$G' &&
	! '$QEMU_IO' -c 'read -P 0 0 64k' -c 'read -P 7 64k 64k' zs.qcow2 |
	grep -q fail"

# the backing file named as it is: nothing to do
place base.qcow2 over.qcow2
both over.qcow2 -o backing_file=base.qcow2,backing_fmt=qcow2 over.qcow2

# persistent bitmaps: kept through a new refcount width, lazy refcounts
# and sizes; stored once more on the way to v2, where the extension stays
# without the autoclear bit to vouch for it (so qemu-img check counts
# their clusters as leaked, on qemu-img's result too); back to v3
mk bm.qcow2 64M -b base.qcow2 -F qcow2
qio_w -c 'write -P 1 0 1M' -c 'write -z 2M 128k' pristine/bm.qcow2
spawn "$QEMU_IMG" bitmap --add pristine/bm.qcow2 b0
spawn "$QEMU_IMG" bitmap --add -g 128k pristine/bm.qcow2 b1
qio_w -c 'write -z 4M 64k' -c 'write -P 2 6M 64k' pristine/bm.qcow2
i=0
for o in refcount_bits=8 lazy_refcounts=on size=128M size=32M; do
	# (make check: a new width and a shrink)
	i=$((i + 1))
	whole || [ $i = 1 ] || [ $i = 4 ] || continue
	place base.qcow2 bm.qcow2
	both bm.qcow2 -o $o bm.qcow2
done
place base.qcow2 bm.qcow2
SAME_CHECK=1 both bm.qcow2 -p -o compat=0.10 bm.qcow2
# (qemu-img warns on opening a v2 image with a bitmaps extension; qimg's
# open drops the extension without a word: docs/DIFFERENCES.md)
spawn -C "$E" "$QEMU_IMG" amend -o compat=1.1 bm.qcow2 >/dev/null 2>&1
spawn -C "$G" "$QIMG" amend -o compat=1.1 bm.qcow2 >/dev/null 2>&1
ok "bm.qcow2: amend -o compat=1.1: the same file as qemu-img's" \
	cmp -s "$E/bm.qcow2" "$G/bm.qcow2"

# images qemu-img amended, read by qimg
place rc.qcow2 zb.qcow2 base.qcow2
spawn "$QEMU_IMG" amend -o refcount_bits=2 "$E/rc.qcow2"
spawn "$QEMU_IMG" amend -o compat=0.10 "$E/zb.qcow2"
for n in rc.qcow2 zb.qcow2; do
	ok "$n amended by qemu-img: qimg check clean" \
		sh -c "cd '$E' && '$QIMG' check -q $n"
	ok "$n amended by qemu-img: qimg reads it as before" \
		sh -c "cd '$G' && '$QIMG' compare -q $n '$E/$n'"
done

done_testing
