#!/bin/bash
# SPDX-License-Identifier: MIT
# The blklogwrites filter against qemu-img: its options and their errors
# (sector size, update interval, log-append onto a damaged log); the log
# qemu-img writes, byte for byte, for convert -n (cache modes, -m 1, -S 0,
# sector sizes from 32 bytes to 64 KiB), bench (flushes, write-through),
# resize and log-append onto an existing log; where the order of requests
# is free (convert -W, a qcow2 image above the filter) the log replays to
# the image written.  Reading through it: info, map, check, measure,
# compare, convert, dd.
. "$(dirname "$0")/lib.sh"
have_qimg || skip_all "no qimg binary at $QIMG"
command -v "$PY" >/dev/null 2>&1 || skip_all "python3 not found"
NORM=norm_bench

FILE='"file":{"driver":"file","filename":"base.raw"}'
LOG='"log":{"driver":"file","filename":"log.raw"}'
B="\"driver\":\"blklogwrites\",$FILE,$LOG"
J="json:{$B}"

spawn "$QEMU_IMG" create -q -f raw src.raw 1M
qio -f raw -c 'write -P 0x22 0 64k' -c 'write -P 0x33 512k 4k' src.raw
mkpattern big.raw 4096

# A log as a qemu-io session writes it (entries, a discard, flushes).
spawn "$QEMU_IMG" create -q -f raw seedbase.raw 1M
: >seed.log
spawn "$QEMU_IO" -c 'write -P 1 0 1k' -c 'discard 64k 4k' -c 'write -P 2 4k 1k' \
	-c 'write -P 3 8k 512' \
	"json:{\"driver\":\"blklogwrites\",\"file\":{\"driver\":\"file\",\"filename\":\"seedbase.raw\"},\"log\":{\"driver\":\"file\",\"filename\":\"seed.log\"}}" \
	>/dev/null

# mklog FILE SECTOR_SIZE NR_ENTRIES [sector:nr:flags ...]: a crafted log.
mklog()
{
	"$PY" - "$@" <<'EOF'
import struct, sys
name, ss, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
d = bytearray(ss * 16)
struct.pack_into('<QQQI', d, 0, 0x6a736677736872, 1, n, ss)
off = ss
for e in sys.argv[4:]:
    sec, nr, fl = (int(x, 0) for x in e.split(':'))
    struct.pack_into('<QQQQ', d, off, sec, nr, fl, 0)
    off += ss * (1 + (0 if fl & 4 else nr))
open(name, 'wb').write(bytes(d))
EOF
}

# replay LOG INIT OUT: OUT is INIT with the log's writes and zero writes
# applied in order, discarded ranges zeroed.
replay()
{
	"$PY" - "$@" <<'EOF'
import shutil, struct, sys
log, init, out = sys.argv[1:4]
shutil.copyfile(init, out)
d = open(log, 'rb').read()
# no superblock yet (nothing flushed): the default sector size
ss = struct.unpack_from('<I', d, 24)[0] or 512
f = open(out, 'r+b')
off = ss
while off + 32 <= len(d):
    sec, nr, fl, _ = struct.unpack_from('<QQQQ', d, off)
    if fl & 4:
        f.seek(sec * ss); f.write(bytes(nr * ss)); off += ss
    elif fl & 1 or nr == 0:
        off += ss
    else:
        f.seek(sec * ss); f.write(d[off + ss:off + ss + nr * ss])
        off += ss * (1 + nr)
f.close()
EOF
}

# fresh [SEED]: an empty 1 MiB base.raw and an empty log.raw (or a copy
# of SEED) in E/ and in G/.  Quick mode makes base.raw with truncate (the
# same sparse file as qemu-img create's, without two runs per command).
fresh()
{
	local d
	for d in "$E" "$G"; do
		spawn rm -f "$d/base.raw" "$d/log.raw"
		if whole; then
			spawn "$QEMU_IMG" create -q -f raw "$d/base.raw" "${SIZE:-1M}"
		else
			spawn truncate -s "${SIZE:-1M}" "$d/base.raw"
		fi
		if [ -n "${1:-}" ]; then
			spawn cp "$1" "$d/log.raw"
		else
			: >"$d/log.raw"
		fi
	done
}

# logged DESC ARGS...: the command's output, the written image and the log
# are qemu-img's.
logged()
{
	local d=$1
	shift
	same "$d" "$@"
	same_file "$d" base.raw
	same_file "$d" log.raw
}

# --- names, options and their errors ---------------------------------------
fresh
same "info" info "$J"
same "info --output=json" info --output=json "$J"
# (quick mode: every third value)
i=0
while IFS= read -r o; do
	[ -n "$o" ] || continue
	i=$((i + 1))
	quick_pick $((i - 1)) || continue
	same "option $o" info "json:{$B,$o}"
done <<'EOF'
"log-sector-size":0
"log-sector-size":16
"log-sector-size":32
"log-sector-size":256
"log-sector-size":1000
"log-sector-size":8388608
"log-sector-size":16777216
"log-sector-size":4294967296
"log-sector-size":-1
"log-sector-size":"abc"
"log-sector-size":"1k"
"log-sector-size":"0x200"
"log-append":true
"log-append":"on"
"log-append":false
"log-append":"x"
"log-super-update-interval":0
"log-super-update-interval":-1
"log-super-update-interval":1
"log-super-update-interval":"abc"
"log-super-update-interval":"1k"
"log-super-update-interval":"0x10"
"log-super-update-interval":1.5
"log-super-update-interval":18446744073709551615
"foo":1
"log":null
"log-sector-size":1000,"log-super-update-interval":0
"log-append":true,"log-sector-size":1000
"log-append":true,"log-sector-size":512
"log-append":true,"log-super-update-interval":0
EOF
while IFS= read -r j; do
	[ -n "$j" ] || continue
	same "node $j" info "json:$j"
done <<EOF
{"driver":"blklogwrites"}
{"driver":"blklogwrites",$FILE,"log-sector-size":1000}
{"driver":"blklogwrites",$FILE,"log-super-update-interval":0}
{"driver":"blklogwrites","foo":1}
{"driver":"blklogwrites",$FILE,"log":{"driver":"file","filename":"nonexist"}}
{"driver":"blklogwrites","file":{"driver":"file","filename":"nonexist"},$LOG}
{"driver":"blklogwrites",$FILE,"log":"log.raw"}
{"driver":"blklogwrites",$FILE,"x-log":"log.raw"}
EOF
same "--image-opts" info --image-opts \
	"driver=blklogwrites,file.filename=base.raw,log.filename=log.raw"
same "-f blklogwrites" info -f blklogwrites base.raw
same "no blklogwrites: protocol" info blklogwrites:base.raw
same "create -f blklogwrites" create -f blklogwrites x.img 1M
same "dd into blklogwrites" dd -f raw -O blklogwrites if=../src.raw of=x.img

# log-append onto logs that are not what they should be
APPEND="json:{$B,\"log-append\":true}"
mklog bad-magic.log 512 1
poke bad-magic.log 0 58
mklog bad-version.log 512 1
poke bad-version.log 8 02
mklog bad-ss.log 768 1
mklog bad-flags.log 512 3 0:1:0 5:2:16
mklog flags-0x20.log 512 2 0:1:0 0:0:0x20
mklog ss4096.log 4096 3 0:1:0 5:2:4 0:0:1
mklog many.log 512 100000 0:1:0
head -c 512 /dev/zero >zero-super.log
head -c 10 seed.log >short.log
head -c 28 seed.log >super-only.log
# (quick mode: info onto every log, convert onto every third and seed)
i=0
for l in bad-magic bad-version bad-ss bad-flags flags-0x20 ss4096 many \
	zero-super short super-only seed; do
	fresh "$l.log"
	same "log-append onto $l: info" info "$APPEND"
	if quick_pick $i || [ $l = seed ]; then
		logged "log-append onto $l: convert" convert -n -f raw \
			-O blklogwrites ../src.raw "$APPEND"
	fi
	i=$((i + 1))
done

# --- the log, byte for byte ------------------------------------------------
for a in "" "-t writeback" "-t writethrough" "-t unsafe" "-m 1" "-S 0" \
	"--target-is-zero" "-t writeback -S 0"; do
	# quick mode: the last is two options each run alone above
	[ "$a" = "-t writeback -S 0" ] && ! whole && continue
	fresh
	# shellcheck disable=SC2086
	logged "convert -n $a" convert -n $a -f raw -O blklogwrites \
		../src.raw "$J"
done
fresh
logged "convert -n without -O" convert -n -f raw ../src.raw "$J"
SIZE=4M fresh
logged "convert -n of 4 MiB" convert -n -f raw -O blklogwrites ../big.raw "$J"
# (quick mode: each sector size once, each of the three commands with
# one or two of them)
si=0
for ss in 32 256 1024 4096; do
	if quick_pick $si; then
		fresh
		logged "log-sector-size $ss" convert -n -f raw -O blklogwrites \
			../src.raw "json:{$B,\"log-sector-size\":$ss}"
	fi
	if quick_pick $((si + 2)); then
		fresh
		logged "log-sector-size $ss, update interval 3" convert -n \
			-t writeback -f raw -O blklogwrites ../src.raw \
			"json:{$B,\"log-sector-size\":$ss,\"log-super-update-interval\":3}"
	fi
	if quick_pick $((si + 1)); then
		fresh
		logged "log-sector-size $ss, unaligned bench" bench -w -c 4 -s 1000 \
			-S 1000 -d 1 -t writeback "json:{$B,\"log-sector-size\":$ss}"
	fi
	si=$((si + 1))
done
# (quick mode: intervals 1 and 5)
for i in 1 2 5; do
	[ $i = 2 ] && ! whole && continue
	fresh
	logged "update interval $i" convert -n -f raw -O blklogwrites \
		../src.raw "json:{$B,\"log-super-update-interval\":$i}"
done
# (quick mode: each of the three with one cache mode, alternating)
oi=0
for o in '"log-append":true' '"log-append":false' \
	'"log-append":true,"log-super-update-interval":2'; do
	ti=0
	for t in unsafe writeback; do
		ti=$((ti + 1))
		[ $(((oi + ti) % 2)) = 1 ] || whole || continue
		fresh seed.log
		logged "onto a log, $o, $t" convert -n -t $t -f raw \
			-O blklogwrites ../src.raw "json:{$B,$o}"
	done
	oi=$((oi + 1))
done
bi=0
for a in "-t writeback" "" "-t writethrough" "-t unsafe" \
	"-t writeback -S 8k -o 1000" "-t writeback --flush-interval=1" \
	"-t writethrough --flush-interval=1" "-t writeback --flush-interval=2 -c 4"; do
	# (quick mode: every third)
	bi=$((bi + 1))
	quick_pick $((bi - 1)) || continue
	fresh
	# shellcheck disable=SC2086
	logged "bench -w $a" bench -w -c 3 -s 4k -d 1 $a "$J"
done
fresh
logged "bench (reads)" bench -c 2 -d 1 -s 4k "$J"
for m in 2M 1M "--shrink 512K"; do
	fresh
	# shellcheck disable=SC2086
	logged "resize $m" resize "$J" $m
done

# --- where the order is free: the log replays to the image ---------------
SIZE=4M fresh
run_tool e convert -n -W -f raw -O blklogwrites ../big.raw "$J"
same_from_e "convert -n -W" convert -n -W -f raw -O blklogwrites ../big.raw "$J"
spawn "$QEMU_IMG" create -q -f raw empty4m.raw 4M
for d in "$E" "$G"; do
	replay "$d/log.raw" empty4m.raw "$d/replayed.raw"
	ok "convert -n -W: ${d##*/}/log.raw replays to the image" \
		cmp -s "$d/replayed.raw" big.raw
done
Q2="json:{\"driver\":\"qcow2\",\"file\":{$B}}"
for c in "snapshot -c s1" "convert" "amend"; do
	for d in "$E" "$G"; do
		spawn rm -f "$d/base.raw" "$d/log.raw" "$d/init.qcow2"
		spawn "$QEMU_IMG" create -q -f qcow2 "$d/base.raw" 1M
		spawn cp "$d/base.raw" "$d/init.qcow2"
		: >"$d/log.raw"
	done
	case $c in
	convert) same "qcow2 over blklogwrites: $c" convert -n -f raw -O qcow2 \
		../src.raw "$Q2" ;;
	amend) same "qcow2 over blklogwrites: $c" amend -o lazy_refcounts=on "$Q2" ;;
	*) same "qcow2 over blklogwrites: $c" snapshot -c s1 "$Q2" ;;
	esac
	for d in "$E" "$G"; do
		replay "$d/log.raw" "$d/init.qcow2" "$d/replayed.qcow2"
		ok "qcow2 over blklogwrites: $c: ${d##*/}/log.raw replays to the image" \
			cmp -s "$d/replayed.qcow2" "$d/base.raw"
	done
	ok "qcow2 over blklogwrites: $c: same guest data" \
		"$QEMU_IMG" compare -q "$E/base.raw" "$G/base.raw"
done

# --- reading through it ----------------------------------------------------
fresh
spawn -C "$E" "$QEMU_IO" -c 'write -P 7 0 4k' "$J" >/dev/null
spawn cp "$E/base.raw" "$G/base.raw"
for d in "$E" "$G"; do
	: >"$d/log.raw"
done
for c in "map" "map --output=json" "check" "measure -O qcow2" "snapshot -l" \
	"snapshot -c s1" "snapshot -d s1" "commit" "rebase -u -b x" \
	"amend -o size=2M"; do
	# shellcheck disable=SC2086
	same "$c" $c "$J"
done
same "compare" compare -f raw base.raw "$J"
same "dd from it" dd if="$J" of=out.raw bs=64k
same "convert from it" convert -O raw "$J" out2.raw
same_file "convert from it" out2.raw
same_file "reading leaves the log alone" log.raw

done_testing
