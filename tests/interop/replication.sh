#!/bin/bash
# SPDX-License-Identifier: MIT
# The replication filter against qemu-img: its options (mode, top-id) and
# every refusal with qemu-img's words and in its order (the file child
# first, then the mode, its value and top-id, unknown options last),
# whatever JSON type a value has; info, map, measure and snapshots through
# it are its child's; every read and write fails with an I/O error, as in
# qemu-img, where replication is never started (convert, compare, dd,
# bench); it creates nothing; a resize, which qemu-img aborts on, is
# refused.
. "$(dirname "$0")/lib.sh"
have_qimg || skip_all "no qimg binary at $QIMG"

spawn "$QEMU_IMG" create -q -f raw t.raw 4M
spawn "$QEMU_IO" -f raw -c 'write -P 5 0 64k' t.raw >/dev/null
spawn cp t.raw t0.raw
spawn "$QEMU_IMG" create -q -f raw z.raw 1M
spawn "$QEMU_IO" -f raw -c 'write -P 7 0 1M' z.raw >/dev/null
F="file.driver=file,file.filename=../t.raw"
P="driver=replication,mode=primary,$F"
S="driver=replication,mode=secondary,top-id=colo0,$F"

# --- options ------------------------------------------------------------------------
same "info, primary" info --image-opts "$P"
same "info --output=json, secondary" info --output=json --image-opts "$S"
n=0
while IFS= read -r opts; do
	[ -n "$opts" ] || continue
	n=$((n + 1))
	same "options $n ($opts)" info --image-opts "$opts"
done <<EOF
driver=replication,$F
driver=replication,mode=secondary,$F
driver=replication,mode=bogus,$F
driver=replication,mode=Primary,top-id=x,$F
driver=replication,mode=primary,top-id=,$F
driver=replication,mode=secondary,top-id=,$F
driver=replication,foo=1,$F
driver=replication,foo=1
driver=replication,file.filename=../none.raw
driver=replication,mode=primary,file.driver=qcow2,file.file.filename=../t.raw
EOF
# JSON values of other types: numbers and booleans become text, null is
# no value, a dict is an option of another name.
n=0
while IFS= read -r j; do
	[ -n "$j" ] || continue
	n=$((n + 1))
	same "JSON $n ($j)" info \
		"json:{\"driver\":\"replication\",$j,\"file\":{\"driver\":\"file\",\"filename\":\"../t.raw\"}}"
done <<'EOF'
"mode":1
"mode":true
"mode":{"a":1}
"mode":"primary","top-id":null
"mode":"secondary","top-id":5
EOF
same "-f replication" info -f replication ../t.raw
same "create -f replication" create -f replication x.img 1M

# --- what is the child's ------------------------------------------------------------
spawn "$QEMU_IMG" create -q -f qcow2 b.qcow2 4M
spawn "$QEMU_IO" -c 'write -P 1 0 64k' b.qcow2 >/dev/null
fresh()
{
	local d
	for d in "$E" "$G"; do
		spawn cp b.qcow2 "$d/b.qcow2"
		spawn "$QEMU_IMG" create -q -f qcow2 -b b.qcow2 -F qcow2 "$d/o.qcow2"
		spawn "$QEMU_IO" -c 'write -P 2 1M 64k' "$d/o.qcow2" >/dev/null
	done
}
fresh
Q="driver=replication,mode=primary,file.driver=qcow2,file.file.filename=o.qcow2"
same "map over raw" map --image-opts "$P"
same "map --output=json over qcow2" map --output=json --image-opts "$Q"
same "info --backing-chain over qcow2" info --backing-chain --image-opts "$Q"
same "check: not supported" check --image-opts "$Q"
same "measure" measure -O qcow2 --image-opts "$Q"
same "raw over replication" info --image-opts \
	driver=raw,file.driver=replication,file.mode=primary,file.file.filename=../t.raw
same "snapshot -c through the filter" snapshot -c s1 --image-opts "$Q"
same "rebase -u through the filter" rebase -u -b '' --image-opts "$Q"
# The image below as qemu-img leaves it: no backing file, one snapshot.
for d in "$E" "$G"; do
	(cd "$d" && spawn "$QEMU_IMG" info o.qcow2) 2>&1 |
		grep -v '^disk size\|[0-9][0-9]:[0-9][0-9]:[0-9][0-9]' >"$d/after.txt"
done
ok "the image below is as qemu-img leaves it" cmp -s "$E/after.txt" "$G/after.txt"
same "amend: not supported" amend -o size=8M --image-opts "$Q"
# (qemu-img names the node by its own counter: #block491)
NORM=norm_bench same "bitmap --add through the filter" bitmap --add --image-opts "$Q" b0
# commit: the filter needs consistent reads of the image, which the commit
# job takes away (qemu-img: a permission conflict; the nodes numbered in
# QEMU's open order)
fresh
for d in "$E" "$G"; do
	spawn "$QEMU_IMG" create -q -f qcow2 -b o.qcow2 -F qcow2 "$d/t.qcow2"
	spawn cp "$d/o.qcow2" "$d/o.orig"
done
NORM=norm_nodes same "commit: a permission conflict" commit --image-opts "$Q"
NORM=norm_nodes same "commit of a chain of three, -b" commit -b b.qcow2 --image-opts \
	"driver=replication,mode=primary,file.driver=qcow2,file.file.filename=t.qcow2"
same "commit, the nodes named" commit --image-opts \
	"driver=replication,node-name=R,mode=primary,file.node-name=I,file.driver=qcow2,file.file.filename=o.qcow2"
ok "the refused commits left the images as they were" cmp "$G/o.qcow2" "$G/o.orig"

# --- no I/O -------------------------------------------------------------------------
# (qemu-img leaves the new target behind, qimg removes it: DIFFERENCES.md)
same "convert: the read fails" convert -O raw --image-opts "$S" out.raw
same "compare: the read fails" compare --image-opts "$P" driver=file,filename=../t.raw
same "dd: the read fails" dd if="json:{\"driver\":\"replication\",\"mode\":\"primary\",\"file\":{\"driver\":\"file\",\"filename\":\"../t.raw\"}}" of=d.raw -O raw
same "bench: the reads fail" bench -c 4 --image-opts "$P"
same "bench -w: the writes fail" bench -w -c 4 --image-opts "$P"
# (qimg's message also names the target: docs/DIFFERENCES.md)
run_tool e convert -n ../z.raw --target-image-opts "$P"
run_tool g convert -n ../z.raw --target-image-opts "$P"
ok "convert -n into the filter: the write fails" \
	test "$(cat "$R/e.rc")" = 1 -a "$(cat "$R/g.rc")" = 1
ok "convert -n into the filter: an I/O error naming the target" \
	grep -q "^qimg: error while writing at byte 0 of 'json:{.*}': Input/output error$" "$R/g.err"
ok "the file below is untouched" cmp -s t.raw t0.raw
# qemu-img 7.2 aborts on any resize through replication (an assertion: the
# filter does not let its child be resized); qimg refuses it and leaves
# the image as it was.
spawn cp t.raw "$G/r.raw"
run_tool g resize --image-opts driver=replication,mode=primary,file.filename=r.raw 8M
ok "resize: refused" grep -qx 'qemu-img: Image format driver does not support resize' "$R/g.err.n"
ok "resize: the image unchanged" cmp -s t.raw "$G/r.raw"

done_testing
