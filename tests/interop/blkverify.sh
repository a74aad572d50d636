#!/bin/bash
# SPDX-License-Identifier: MIT
# The blkverify filter against qemu-img: its file name syntax and options
# (blkverify:RAW:TEST, raw/test, x-raw/x-image) and their errors; info,
# map, check, measure, compare, convert and dd reading through it, where a
# divergence between the children ends the process with qemu-img's line
# and status; writes reaching both children (convert -n, bench, an
# injected write error on one child); resize reaching the reference only.
. "$(dirname "$0")/lib.sh"
have_qimg || skip_all "no qimg binary at $QIMG"
# bench prints its run time
NORM=norm_bench

spawn "$QEMU_IMG" create -q -f raw ref.raw 1M
spawn "$QEMU_IMG" create -q -f qcow2 t.qcow2 1M
spawn "$QEMU_IMG" create -q -f qcow2 t2.qcow2 1M
spawn "$QEMU_IMG" create -q -f qcow2 big.qcow2 2M
for f in ref.raw t.qcow2 t2.qcow2; do
	qio -f "${f##*.}" -c 'write -P 0xaa 0 64k' -c 'write -P 5 300k 1k' "$f"
done
# t2 differs from the reference at 300k
qio -f qcow2 -c 'write -P 6 300k 7' t2.qcow2
# a/b differ past the bytes a format probe reads (docs/DIFFERENCES.md)
head -c 1M /dev/zero >a.raw
spawn cp a.raw b.raw
poke b.raw 8192 58
head -c 1M /dev/urandom >rnd.raw
printf '[inject-error]\nevent = "none"\niotype = "write"\n' >werr.cfg

# --- names, options and their errors ---------------------------------------
while IFS= read -r name; do
	[ -n "$name" ] || continue
	same "info $name" info "$name"
	same "info --output=json $name" info --output=json "$name"
done <<'EOF'
blkverify:../ref.raw:../t.qcow2
blkverify:../ref.raw:../t2.qcow2
blkverify:
blkverify:../ref.raw
blkverify:../ref.raw:
blkverify::../t.qcow2
blkverify:../nonexist:../t.qcow2
blkverify:../ref.raw:../nonexist
blkverify:../ref.raw:../t.qcow2:x
blkverify:../a.raw:../b.raw
json:{"driver":"blkverify"}
json:{"driver":"blkverify","test":"../t.qcow2"}
json:{"driver":"blkverify","raw":{"driver":"file","filename":"../ref.raw"}}
json:{"driver":"blkverify","raw":{"driver":"file","filename":"../ref.raw"},"test":{"driver":"qcow2","file":{"driver":"file","filename":"../t.qcow2"}}}
json:{"driver":"blkverify","raw":{"driver":"file","filename":"../ref.raw"},"test":{"driver":"qcow2","file":{"driver":"file","filename":"../t.qcow2"}},"foo":1}
json:{"driver":"blkverify","x-raw":"../ref.raw","x-image":"../t.qcow2"}
json:{"driver":"blkverify","x-raw":"../ref.raw","test":{"driver":"file","filename":"../t.qcow2"}}
json:{"driver":"blkverify","raw":{"driver":"raw","offset":0,"file":{"driver":"file","filename":"../ref.raw"}},"x-image":"../t.qcow2"}
json:{"driver":"blkverify","raw":{"driver":"file","filename":"../ref.raw","locking":"off"},"x-image":"../t.qcow2"}
json:{"driver":"blkverify","raw":{"driver":"null-co","size":1048576},"x-image":"../t.qcow2"}
json:{"driver":"blkverify","x-raw":"../ref.raw","x-image":"../t.qcow2","node-name":"foo"}
json:{"driver":"blkverify","x-raw":"../ref.raw","x-image":"../t.qcow2","test":{"driver":"file","filename":"../t.qcow2"}}
json:{"driver":"blkverify","x-image":"../t.qcow2","test":{"driver":"file","filename":"../t.qcow2"}}
json:{"driver":"blkverify","x-raw":"../ref.raw","test":{"driver":"raw","file":{"driver":"file","filename":"../ref.raw"}},"raw":{"driver":"file","filename":"../ref.raw"}}
EOF
same "-f raw over blkverify" info -f raw blkverify:../a.raw:../b.raw
same "-f blkverify" info -f blkverify blkverify:../ref.raw:../t.qcow2
same "-f blkverify, no prefix" info -f blkverify ../ref.raw
for o in "driver=blkverify,x-raw=../ref.raw,x-image=../t.qcow2" \
	"driver=blkverify,raw.filename=../ref.raw,x-image=../t.qcow2" \
	"driver=blkverify,raw.driver=raw,raw.file.filename=../ref.raw,x-image=../t.qcow2" \
	"driver=blkverify,x-raw=../ref.raw,test.driver=qcow2,test.file.filename=../t.qcow2" \
	"driver=blkverify,x-raw=../ref.raw,x-image=../t.qcow2,raw.filename=../ref.raw" \
	"driver=blkverify,x-raw=../t.qcow2,x-image=../t.qcow2"; do
	same "--image-opts $o" info --image-opts "$o"
done

# --- reading through it ----------------------------------------------------
for name in blkverify:../ref.raw:../t.qcow2 blkverify:../ref.raw:../t2.qcow2 \
	blkverify:../a.raw:../b.raw \
	'json:{"driver":"blkverify","raw":{"driver":"null-co","size":1048576},"x-image":"../t.qcow2"}'; do
	same "map $name" map "$name"
	same "map --output=json $name" map --output=json "$name"
	same "check $name" check "$name"
	same "check -f blkverify $name" check -f blkverify "$name"
	same "measure $name" measure -O qcow2 "$name"
	same "snapshot -l $name" snapshot -l "$name"
	same "compare $name" compare "$name" ../ref.raw
	same "compare -f raw $name" compare -f raw -F raw "$name" ../ref.raw
	same "convert $name" convert -O raw "$name" out.raw
	same "convert -f raw $name" convert -f raw -O qcow2 "$name" out.qcow2
	same "dd $name" dd -f raw if="$name" of=out2.raw bs=4k
	same "dd skip $name" dd if="$name" of=out3.raw bs=4k skip=1 count=3
	same "dd 64k $name" dd if="$name" of=out4.raw bs=64k
done
ok "converted through blkverify equals the reference" \
	"$QEMU_IMG" compare -q -f raw -F raw "$G/out.raw" a.raw

# --- writing through it ----------------------------------------------------
# fresh children in E/ and G/
fresh()
{
	local d
	for d in "$E" "$G"; do
		spawn rm -f "$d/r.raw" "$d/b.raw" "$d/q.qcow2"
		spawn cp ref.raw "$d/r.raw"
		spawn cp ref.raw "$d/b.raw"
		spawn "$QEMU_IMG" create -q -f qcow2 "$d/q.qcow2" 1M
	done
}
fresh
same "convert -n into blkverify" convert -n -f raw -O raw ../rnd.raw \
	blkverify:r.raw:q.qcow2
same_file "convert -n into blkverify" r.raw
ok "convert -n into blkverify: the test image holds the data" \
	"$QEMU_IMG" compare -q -F raw "$G/q.qcow2" rnd.raw
fresh
same "convert -n into blkverify (json)" convert -n -f raw -O raw ../rnd.raw \
	'json:{"driver":"raw","file":{"driver":"blkverify","x-raw":"r.raw","test":{"driver":"raw","file":{"driver":"file","filename":"b.raw"}}}}'
same_file "convert -n into blkverify (json)" r.raw
same_file "convert -n into blkverify (json)" b.raw
fresh
same "bench -w through blkverify" bench -w -c 4 -s 4k -d 1 -f raw \
	blkverify:r.raw:q.qcow2
same_file "bench -w through blkverify" r.raw
fresh
same "write error on the test image" convert -n -f raw -O raw ../rnd.raw \
	'json:{"driver":"raw","file":{"driver":"blkverify","x-raw":"r.raw","test":{"driver":"raw","file":{"driver":"blkdebug","config":"../werr.cfg","image":{"driver":"file","filename":"b.raw"}}}}}'
fresh
same "write error on the reference" convert -n -f raw -O raw ../rnd.raw \
	'json:{"driver":"raw","file":{"driver":"blkverify","x-raw":"blkdebug:../werr.cfg:r.raw","test":{"driver":"qcow2","file":{"driver":"file","filename":"q.qcow2"}}}}'
for m in 2M 512K "--shrink 512K" +1M; do
	fresh
	# shellcheck disable=SC2086
	same "resize $m" resize -f raw blkverify:r.raw:q.qcow2 $m
	same_file "resize $m" r.raw
	same_file "resize $m" q.qcow2
done
fresh
same "snapshot -c through blkverify" snapshot -c s1 -f raw blkverify:r.raw:q.qcow2
same "commit through blkverify" commit -f raw blkverify:r.raw:q.qcow2
same "rebase through blkverify" rebase -u -b '' -f raw blkverify:r.raw:q.qcow2
same "amend through blkverify" amend -o size=2M -f raw blkverify:r.raw:q.qcow2

# qemu-img aborts on any zero write through blkverify (an assertion);
# qimg writes the zeros to both children (docs/DIFFERENCES.md).
spawn "$QEMU_IMG" create -q -f raw src.raw 1M
qio -f raw -c 'write -P 0x22 0 64k' src.raw
fresh
run_tool g convert -n -f raw -O raw ../src.raw blkverify:r.raw:b.raw
ok "zero writes through blkverify: convert -n succeeds" \
	test "$(cat "$R/g.rc")" = 0
ok "zero writes reach the reference" cmp -s "$G/r.raw" src.raw
ok "zero writes reach the test image" cmp -s "$G/b.raw" src.raw

done_testing
