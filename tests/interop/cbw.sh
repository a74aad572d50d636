#!/bin/bash
# SPDX-License-Identifier: MIT
# The copy-before-write and snapshot-access filters against qemu-img and
# qemu-nbd: their option errors in qemu-img's words and order; writes
# through copy-before-write (qemu-img bench -w, convert -n, a client of
# qimg-nbd/qemu-nbd) leave the target as qemu-img leaves it, byte for
# byte where the order of writes is fixed, holding the source as it was;
# the bitmap option copies only its dirty clusters; on-cbw-error decides
# whether a failed copy fails the write; snapshot-access reads that point
# in time over NBD as qemu-nbd serves it, and refuses what qemu-img
# refuses.
. "$(dirname "$0")/lib.sh"
have_qimg || skip_all "no qimg binary at $QIMG"
QEMU_NBD=${QEMU_NBD:-qemu-nbd}
NORM=norm_bench
QIMG_NBD=${QIMG_NBD:-$(dirname "$QIMG")/qimg-nbd}

# both ARGS...: qemu-img ARGS in E and in G.
both()
{
	spawn -C "$E" "$QEMU_IMG" "$@" >/dev/null && spawn -C "$G" "$QEMU_IMG" "$@" >/dev/null
}
# mksrc DIR: the source (data, holes, data, holes), its untouched copy,
# and a fresh qcow2 target backed by it.
mksrc()
{
	spawn rm -f "$1/src.raw" "$1/orig.raw" "$1/tgt.qcow2" "$1/t.raw"
	spawn "$QEMU_IMG" create -q -f raw "$1/src.raw" 4M
	spawn "$QEMU_IO" -f raw -c 'write -P 0x11 0 1M' -c 'write -P 0x33 2M 1M' \
		"$1/src.raw" >/dev/null
	spawn cp "$1/src.raw" "$1/orig.raw"
	spawn "$QEMU_IMG" create -q -f qcow2 -b src.raw -F raw "$1/tgt.qcow2"
	spawn "$QEMU_IMG" create -q -f raw "$1/t.raw" 4M
}
mksrc "$E"
mksrc "$G"
both create -q -f raw small.raw 2M
S="driver=copy-before-write,file.driver=file,file.filename=src.raw"
C="$S,target.driver=qcow2,target.file.driver=file,target.file.filename=tgt.qcow2"
TR="target.driver=file,target.filename=t.raw"

# --- option errors, in qemu-img's order ---------------------------------------------
# (a read-write open meets every check; the read-only one of info stops at
# "Block node is read-only": quick mode samples it)
i=0
while IFS='|' read -r d o; do
	[ -n "$d" ] || continue
	quick_pick $i && same "cbw: $d (info)" info --image-opts "$o"
	same "cbw: $d (bench -w)" bench -w -c 1 --image-opts "$o"
	i=$((i + 1))
done <<EOF
no file|driver=copy-before-write
no file, an unknown key|driver=copy-before-write,foo=bar
a missing file before an unknown key|driver=copy-before-write,file.driver=file,file.filename=none.raw,foo=bar
no target|$S
a bad on-cbw-error before a missing target file|$S,target.driver=file,target.filename=none.raw,on-cbw-error=x
an unknown key before a missing target file|$S,target.driver=file,target.filename=none.raw,foo=1
the file's own unknown option|$S,$TR,file.foo=1
a target without a driver|$S,target.filename=t.raw
a target's file without a driver|$S,target.driver=raw,target.file.filename=t.raw
a target of an unknown driver|$S,target.driver=nosuch,target.file.filename=t.raw
a target named by a string|$S,target=t.raw
a target that is no qcow2|$S,target.driver=qcow2,target.file.driver=file,target.file.filename=t.raw
a target opened read-only|$S,$TR,target.read-only=on
a node that does not exist|$S,$TR,bitmap.node=x,bitmap.name=b
a bitmap that does not exist|$S,$TR,target.node-name=a,bitmap.node=a,bitmap.name=b
the bitmap on the filter itself|$S,$TR,node-name=a,bitmap.node=a,bitmap.name=b
a bitmap without a name|$S,$TR,bitmap.node=x
a bitmap without a node|$S,$TR,bitmap.name=x
a bitmap as a string|$S,$TR,bitmap=x
an unknown bitmap key|$S,$TR,bitmap.node=x,bitmap.name=y,bitmap.z=1
an empty cbw-timeout|$S,$TR,cbw-timeout=
a negative cbw-timeout|$S,$TR,cbw-timeout=-1
a cbw-timeout past 32 bits|$S,$TR,cbw-timeout=4294967296
a text cbw-timeout|$S,$TR,cbw-timeout=abc
a bad on-cbw-error|$S,$TR,on-cbw-error=foo
EOF
same "cbw: a hex cbw-timeout and break-snapshot (info: read-only)" info --image-opts \
	"$S,$TR,cbw-timeout=0x10,on-cbw-error=break-snapshot"
same "cbw: -f copy-before-write" info -f copy-before-write src.raw
same "cbw: commit through it" commit --image-opts "$C"
# (a commit below it writes the base, whose overlay copy-before-write keeps
# unwritten: QEMU's permissions refuse it)
NORM=norm_nodes same "cbw: commit of the chain below it: a permission conflict" \
	commit --image-opts "driver=copy-before-write,file.driver=qcow2,file.file.filename=tgt.qcow2,$TR"
same "cbw: commit below it, the nodes named" commit --image-opts \
	"driver=copy-before-write,node-name=C,file.node-name=I,file.driver=qcow2,file.file.filename=tgt.qcow2,file.backing.node-name=B,file.backing.driver=raw,file.backing.file.filename=src.raw,$TR"
ok "cbw: the refused commit left the base as it was" cmp "$G/src.raw" "$G/orig.raw"
same "cbw: a snapshot through it" snapshot -c s1 --image-opts "$C"
same "cbw: amend through it" amend -o size=1M --image-opts "$C"
refused_clearly "cbw: a target smaller than the source is refused (qemu-img aborts later)" \
	"target is smaller" bench -w -c 1 --image-opts \
	"driver=copy-before-write,file.filename=$G/src.raw,target.driver=file,target.filename=$G/small.raw"

# --- writes through it ----------------------------------------------------------------
# bench -w, one request at a time: 4 KiB at 0, 300 KiB, ... 2100 KiB: data,
# a run across clusters, a hole, a cluster written twice.
same "cbw: bench -w through it" bench -w -d 1 -c 8 -s 4k -S 300k --image-opts "$C"
same_file "cbw: bench -w" tgt.qcow2
ok "cbw: bench -w: the target holds the source as it was" \
	"$QEMU_IMG" compare -q -F raw "$G/tgt.qcow2" "$G/orig.raw"
ok "cbw: bench -w: the target is clean" "$QEMU_IMG" check -q "$G/tgt.qcow2"
ok "cbw: bench -w: the source changed" sh -c "! cmp -s '$G/src.raw' '$G/orig.raw'"
same_file "cbw: bench -w: the source" src.raw
# A target of 2 MiB clusters (copies that big) and a raw one.
for d in "$E" "$G"; do
	mksrc "$d"
	spawn "$QEMU_IMG" create -q -f qcow2 -o cluster_size=2M -b src.raw -F raw "$d/tgt.qcow2"
done
same "cbw: 2 MiB target clusters" bench -w -d 1 -c 3 -s 512 -S 1000k --image-opts "$C"
same_file "cbw: 2 MiB target clusters" tgt.qcow2
for d in "$E" "$G"; do mksrc "$d"; done
same "cbw: a raw target" bench -w -d 1 -c 5 -s 4k -S 900k --image-opts "$S,$TR"
same_file "cbw: a raw target" t.raw
ok "cbw: a raw target holds the old bytes where written" \
	cmp -n 65536 "$G/t.raw" "$G/orig.raw"
# A cluster that reads as zeros up to data in its last 4 KiB: copied as
# data (the zeros are less than a cluster).
for d in "$E" "$G"; do
	mksrc "$d"
	spawn "$QEMU_IO" -f raw -c 'write -P 0x66 1084k 4k' "$d/src.raw" >/dev/null
	spawn cp "$d/src.raw" "$d/orig.raw"
done
same "cbw: zeros then data in one cluster" bench -w -d 1 -c 1 -o 1M --image-opts "$C"
same_file "cbw: zeros then data in one cluster" tgt.qcow2
ok "cbw: zeros then data in one cluster: the old bytes kept" \
	"$QEMU_IMG" compare -q -F raw "$G/tgt.qcow2" "$G/orig.raw"
# convert -n onto it: zeros and data over everything.
for d in "$E" "$G"; do mksrc "$d"; done
spawn "$QEMU_IMG" create -q -f raw new.raw 4M
spawn "$QEMU_IO" -f raw -c 'write -P 0x55 512k 2M' new.raw >/dev/null
same "cbw: convert -n onto it" convert -n -f raw ../new.raw --target-image-opts "$C"
ok "cbw: convert: the source is the new data" cmp "$G/src.raw" new.raw
ok "cbw: convert: the target holds the old data" \
	"$QEMU_IMG" compare -q -F raw "$G/tgt.qcow2" "$G/orig.raw"
ok "cbw: convert: the target's clusters as qemu-img's" \
	test "$(map_shape "$E/tgt.qcow2")" = "$(map_shape "$G/tgt.qcow2")"
same "cbw: resize through it" resize --image-opts "$C" 8M
same_file "cbw: resize through it: the source" src.raw

# --- on-cbw-error ---------------------------------------------------------------------
# (raw signals write_aio to blkdebug; a bare blkdebug target hears no event
# and fails nothing, in either tool)
BD="target.driver=raw,target.file.driver=blkdebug,target.file.inject-error.0.event=write_aio"
BD="$BD,target.file.inject-error.0.errno=5,target.file.image.driver=file"
BD="$BD,target.file.image.filename=t.raw"
for d in "$E" "$G"; do mksrc "$d"; done
same "cbw: a failed copy fails the write" bench -w -d 1 -c 1 --image-opts "$S,$BD"
ok "cbw: a failed copy: the write failed" grep -q "Input/output error" "$R/g.err"
same_file "cbw: a failed copy: the source" src.raw
ok "cbw: a failed copy: the source unchanged" cmp "$G/src.raw" "$G/orig.raw"
same "cbw: break-snapshot lets the write through" bench -w -d 1 -c 1 --image-opts \
	"$S,$BD,on-cbw-error=break-snapshot"
same_file "cbw: break-snapshot: the source" src.raw
ok "cbw: break-snapshot: the source written" sh -c "! cmp -s '$G/src.raw' '$G/orig.raw'"

# --- the bitmap option ----------------------------------------------------------------
mkbm()
{
	spawn rm -f "$1/b.qcow2" "$1/bt.qcow2"
	spawn "$QEMU_IMG" create -q -f qcow2 "$1/b.qcow2" 4M
	spawn "$QEMU_IO" -c 'write -P 0x11 0 4M' "$1/b.qcow2" >/dev/null
	spawn "$QEMU_IMG" bitmap --add "$1/b.qcow2" b0
	spawn "$QEMU_IMG" bitmap --add -g 128k "$1/b.qcow2" b1
	spawn "$QEMU_IO" -c 'write -P 0x12 1M 4k' -c 'write -P 0x13 3M 4k' "$1/b.qcow2" >/dev/null
	spawn "$QEMU_IMG" bitmap --disable "$1/b.qcow2" b0
	spawn "$QEMU_IMG" bitmap --disable "$1/b.qcow2" b1
	spawn "$QEMU_IMG" create -q -f qcow2 "$1/bt.qcow2" 4M
}
B="driver=copy-before-write,file.driver=qcow2,file.node-name=src,file.file.driver=file"
B="$B,file.file.filename=b.qcow2,target.driver=qcow2,target.file.driver=file"
B="$B,target.file.filename=bt.qcow2,bitmap.node=src"
for bm in b0 b1; do
	mkbm "$E"
	mkbm "$G"
	same "cbw: bitmap $bm: writes everywhere" bench -w -d 1 -c 16 -s 4k -S 256k \
		--image-opts "$B,bitmap.name=$bm"
	same_file "cbw: bitmap $bm: only its dirty clusters copied" bt.qcow2
done
same "cbw: a bitmap that does not exist" bench -w -c 1 --image-opts "$B,bitmap.name=zz"

# --- served over NBD --------------------------------------------------------------------
# serve SERVER DIR OPTS CLIENT...: serve OPTS from DIR on a Unix socket, run
# CLIENT with @ as the export's URI, stop the server.
serve()
{
	local srv=$1 dir=$2 opts=$3 sock=$2/nbd.sock pid a args=()
	shift 3
	spawn rm -f "$sock"
	(cd "$dir" && exec "$srv" -k "$sock" --image-opts "$opts") >"$T/srv.log" 2>&1 &
	pid=$!
	wait_sock "$sock" "$pid"
	for a in "$@"; do args+=("${a//@/nbd+unix:///?socket=$sock}"); done
	"${args[@]}" || sed 's/^/# server: /' "$T/srv.log"
	kill "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
}
for d in "$E" "$G"; do mksrc "$d"; done
W=(-c 'write -P 0x44 100k 200k' -c 'write -z 1M 64k' -c 'discard 2M 64k' -c 'write -P 0x45 3900k 1k')
serve "$QEMU_NBD" "$E" "$C" "$QEMU_IO" -f raw "${W[@]}" @ >"$T/e.io"
serve "$QIMG_NBD" "$G" "$C" "$QEMU_IO" -f raw "${W[@]}" @ >"$T/g.io"
ok "cbw over NBD: the client's writes done" grep -q 'wrote 1024/1024' "$T/g.io"
same_file "cbw over NBD: the target" tgt.qcow2
ok "cbw over NBD: the target holds the source as it was" \
	"$QEMU_IMG" compare -q -F raw "$G/tgt.qcow2" "$G/orig.raw"
same_file "cbw over NBD: the source" src.raw

# --- snapshot-access ------------------------------------------------------------------
A="driver=snapshot-access,file.driver=file,file.filename=src.raw"
same "snapshot-access over a file: info" info --image-opts "$A"
same "snapshot-access over a file: info --output=json" info --output=json --image-opts "$A"
same "snapshot-access over a file: map" map --image-opts "$A"
same "snapshot-access over a file: convert" convert -O raw --image-opts "$A" o.raw
same "snapshot-access over a file: bench" bench -c 1 --image-opts "$A"
same "snapshot-access over a file: bench -w" bench -w -c 1 --image-opts "$A"
same "snapshot-access without a child" info --image-opts driver=snapshot-access
same "snapshot-access over copy-before-write, read-only" info --image-opts \
	"driver=snapshot-access,file.$(echo "$C" | sed 's/,/,file./g')"
SA="driver=snapshot-access,file.$(echo "$C" | sed 's/,/,file./g')"
for d in "$E" "$G"; do mksrc "$d"; done
serve "$QEMU_NBD" "$E" "$SA" nbdinfo --map @ >"$T/e.map"
serve "$QIMG_NBD" "$G" "$SA" nbdinfo --map @ >"$T/g.map"
ok "snapshot-access over NBD: the map as qemu-nbd's" cmp "$T/e.map" "$T/g.map"
serve "$QIMG_NBD" "$G" "$SA" "$QEMU_IMG" convert -f raw -O raw @ "$G/snap.raw"
ok "snapshot-access over NBD: reads the source" cmp "$G/snap.raw" "$G/orig.raw"
serve "$QEMU_NBD" "$E" "$SA" "$QEMU_IO" -f raw -c 'write 0 512' -c 'discard 64k 64k' @ >"$T/e.io" 2>&1
serve "$QIMG_NBD" "$G" "$SA" "$QEMU_IO" -f raw -c 'write 0 512' -c 'discard 64k 64k' @ >"$T/g.io" 2>&1
sed -i 's/ ([0-9.]* [A-Za-z/]* and [0-9.]* ops\/sec)//; s/[0-9.]* sec/T sec/' "$T/e.io" "$T/g.io"
ok "snapshot-access over NBD: a write and a discard answered as qemu-nbd's" \
	cmp "$T/e.io" "$T/g.io"

done_testing
