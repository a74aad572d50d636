#!/bin/bash
# SPDX-License-Identifier: MIT
# The compress, preallocate and copy-on-read filters against qemu-img (and
# qemu-nbd): info, map and check through each, their refusals and option
# errors with qemu-img's words; a convert through compress stores every
# cluster compressed (qcow2 and qcow), a second one onto the clusters fails
# as qemu-img's; a convert through preallocate leaves a file qemu-img's
# byte for byte, having allocated ahead as it grew; reading through
# copy-on-read (served by qimg-nbd and by qemu-nbd) fills the image from
# its backing file as qemu-nbd does, within `bottom`.
. "$(dirname "$0")/lib.sh"
have_qimg || skip_all "no qimg binary at $QIMG"
QEMU_NBD=${QEMU_NBD:-qemu-nbd}
QIMG_NBD=${QIMG_NBD:-$(dirname "$QIMG")/qimg-nbd}

# Compressible data: each 64 KiB cluster a different text.
spawn perl -e 'for my $i (0..127) { print sprintf("qimg%04d", $i) x 8192 }' >mix.raw
spawn "$QEMU_IMG" create -q -f raw t.raw 4M
# both ARGS...: qemu-img ARGS in E and in G (the same image in each).
both()
{
	spawn -C "$E" "$QEMU_IMG" "$@" >/dev/null && spawn -C "$G" "$QEMU_IMG" "$@" >/dev/null
}

# --- compress -----------------------------------------------------------------------
both create -q -f qcow2 c.qcow2 8M
C="driver=compress,file.driver=qcow2,file.file.filename=c.qcow2"
same "convert -n through compress" convert -n ../mix.raw --target-image-opts "$C"
for d in "$E" "$G"; do
	"$QEMU_IMG" check "$d/c.qcow2" | grep -o '[0-9.]*% compressed clusters' >"$d/cc.txt"
done
ok "every cluster compressed, as qemu-img" grep -q '^100.00% compressed' "$G/cc.txt"
ok "convert through compress: qemu-img compares equal" "$QEMU_IMG" compare -q mix.raw "$G/c.qcow2"
same "map through compress" map --output=json --image-opts "$C"
same "info through compress" info --image-opts "$C"
same "info --output=json through compress" info --output=json --image-opts "$C"
same "check through compress" check --image-opts "$C"
run_tool e convert -n ../mix.raw --target-image-opts "$C"
run_tool g convert -n ../mix.raw --target-image-opts "$C"
ok "a second convert onto compressed clusters fails, as qemu-img's" \
	test "$(cat "$R/e.rc")" = 1 -a "$(cat "$R/g.rc")" = 1
ok "...with an I/O error" grep -q 'Input/output error' "$R/g.err"
same "resize through compress" resize --image-opts "$C" 16M
# qemu-img's compress filter hands qcow whole requests, which qcow refuses
# ("Invalid argument"); qimg's gives it clusters (docs/DIFFERENCES.md).
spawn "$QEMU_IMG" create -q -f qcow "$G/q.qcow" 8M
ok "convert -n through compress into qcow" qimg convert -n mix.raw \
	--target-image-opts driver=compress,file.driver=qcow,file.file.filename="$G/q.qcow"
ok "qcow through compress: qemu-img compares equal" "$QEMU_IMG" compare -q mix.raw "$G/q.qcow"
ok "qcow through compress: smaller than the data" test "$(stat -c %s "$G/q.qcow")" -lt 4194304
same "compress over a file" info --image-opts driver=compress,file.filename=../t.raw
same "compress over raw" info --image-opts driver=compress,file.driver=raw,file.file.filename=../t.raw
same "compress over vdi" info --image-opts driver=compress,file.driver=vdi,file.file.filename=../t.raw
same "-f compress" info -f compress ../t.raw
same "create -f compress" create -f compress x.img 1M

# --- preallocate --------------------------------------------------------------------
both create -q -f qcow2 p.qcow2 64M
P="driver=qcow2,file.driver=preallocate,file.file.filename=p.qcow2"
PS="$P,file.prealloc-size=4194304,file.prealloc-align=65536"
if command -v strace >/dev/null 2>&1; then
	# (LeakSanitizer cannot run under ptrace)
	(cd "$G" && ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 \
		strace -f -e trace=fallocate -o "$T/st.txt" "$QIMG" convert -n ../mix.raw \
		--target-image-opts "$PS")
	spawn -C "$E" "$QEMU_IMG" convert -n ../mix.raw --target-image-opts "$PS"
	ok "preallocate allocated ahead (fallocate past the end)" \
		test "$(grep -c 'fallocate(' "$T/st.txt")" -ge 1
else
	same "convert -n through preallocate" convert -n ../mix.raw --target-image-opts "$PS"
	skip "strace not found: allocation ahead not observed"
fi
ok "convert through preallocate: the file is qemu-img's byte for byte" \
	cmp "$E/p.qcow2" "$G/p.qcow2"
ok "convert through preallocate: clean" "$QEMU_IMG" check -q "$G/p.qcow2"
same "info through preallocate" info --image-opts "$P"
same "map through preallocate" map --image-opts "$P"
same "check through preallocate" check --image-opts "$P"
same "info of a preallocate node" info --output=json --image-opts driver=preallocate,file.filename=p.qcow2
same "-f preallocate" info -f preallocate p.qcow2
same "json: through preallocate" info 'json:{"driver":"qcow2","file":{"driver":"preallocate","file":{"driver":"file","filename":"p.qcow2"}}}'
same "prealloc-align not a multiple of 512" info --image-opts "$P,file.prealloc-align=1000"
same "a missing file before prealloc-align" info --image-opts \
	driver=qcow2,file.driver=preallocate,file.file.filename=none.qcow2,file.prealloc-align=1000
same "prealloc-size not a size" info --image-opts "$P,file.prealloc-size=abc"
same "an unknown preallocate option" info --image-opts "$P,file.foo=1"
same "create -f preallocate" create -f preallocate x.img 1M
# A file grown through the filter and resized keeps the size asked.
same "resize through preallocate" resize --image-opts "$P" 128M
ok "resize through preallocate: qemu-img's file" cmp "$E/p.qcow2" "$G/p.qcow2"

# --- options checked after the open (every driver) ----------------------------------
same "a missing file before an unknown option" info --image-opts driver=raw,file.filename=none,file.foo=1
same "a wrong header before an unknown option" info --image-opts driver=qcow2,file.filename=../t.raw,foo=1
same "the unknown option QEMU names first" info --image-opts driver=raw,file.filename=../t.raw,zzz=1,bar=2,aaa=3

# --- copy-on-read -------------------------------------------------------------------
mkchain()
{
	spawn rm -f "$1b.qcow2" "$1.qcow2"
	spawn "$QEMU_IMG" create -q -f qcow2 "$1b.qcow2" 8M
	spawn "$QEMU_IO" -c 'write -P 2 1M 1M' -c 'write -P 3 3000k 100k' -c 'write -z 5M 64k' "$1b.qcow2" >/dev/null
	spawn "$QEMU_IMG" create -q -f qcow2 -b "$(basename "$1")b.qcow2" -F qcow2 "$1.qcow2"
	spawn "$QEMU_IO" -c 'write -P 1 0 1M' -c 'write -P 4 1100k 4k' "$1.qcow2" >/dev/null
}
mkchain "$E/r"
mkchain "$G/r"
CR="driver=copy-on-read,file.driver=qcow2,file.file.filename=r.qcow2"
same "copy-on-read refuses a read-only open" info --image-opts "$CR"
same "copy-on-read over a missing file" info --image-opts driver=copy-on-read,file.filename=none
same "copy-on-read without a child" info --image-opts driver=copy-on-read
same "a bottom not in the chain" resize --image-opts "$CR,bottom=zz" 8M
same "resize through copy-on-read" resize --image-opts "$CR" 8M
# serve NBD-SERVER DIR EXTRA-OPTS: read the whole image through the filter
# over NBD (qemu-img convert from the export), then stop the server.  A
# Unix socket, not a TCP port: suites running side by side cannot take it.
# What the server said is shown when the read fails.
serve()
{
	local srv=$1 dir=$2 opts=$3 sock=$2/nbd.sock pid
	spawn rm -f "$sock" "$dir/read.raw"
	(cd "$dir" && exec "$srv" -k "$sock" --image-opts "$CR$opts") >"$T/srv.log" 2>&1 &
	pid=$!
	wait_sock "$sock" "$pid"
	spawn "$QEMU_IMG" convert -O raw "nbd+unix:///?socket=$sock" "$dir/read.raw" ||
		sed 's/^/# server: /' "$T/srv.log"
	kill "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
}
for case in "" ",file.backing.node-name=bb,bottom=bb" ",file.node-name=tt,bottom=tt"; do
	mkchain "$E/r"
	mkchain "$G/r"
	serve "$QEMU_NBD" "$E" "$case"
	serve "$QIMG_NBD" "$G" "$case"
	d="copy-on-read${case:+ ($case)}"
	ok "$d: the guest read the image" "$QEMU_IMG" compare -q -f raw "$G/read.raw" "$E/r.qcow2"
	ok "$d: the image filled as qemu-nbd fills it" \
		test "$(map_shape "$E/r.qcow2")" = "$(map_shape "$G/r.qcow2")"
	ok "$d: clean" "$QEMU_IMG" check -q "$G/r.qcow2"
	ok "$d: reads as before" "$QEMU_IMG" compare -q "$G/r.qcow2" "$E/r.qcow2"
done

done_testing
