#!/bin/bash
# SPDX-License-Identifier: MIT
# The quorum driver against qemu-img: info, map and compare over three
# qcow2 children; a child that disagrees is outvoted, two that disagree
# give an I/O error; option errors.
. "$(dirname "$0")/lib.sh"
have_qimg || skip_all "no qimg binary at $QIMG"

for i in 0 1 2; do
	spawn "$QEMU_IMG" create -q -f qcow2 "q$i.qcow2" 4M
done
Q="driver=raw,file.driver=quorum,file.vote-threshold=2"
for i in 0 1 2; do
	Q="$Q,file.children.$i.file.filename=../q$i.qcow2,file.children.$i.driver=qcow2"
done
same "map of an empty quorum" map --image-opts "$Q"
same "info of a quorum" info --image-opts "$Q"
spawn "$QEMU_IO" -c "open -o ${Q//..\//}" -c 'write -P 3 0 1M' >/dev/null
same "map after writing through the quorum" map --output=json --image-opts "$Q"
same "convert the quorum" convert -O qcow2 --image-opts "$Q" out.qcow2
ok "converted quorum equals a child" "$QEMU_IMG" compare -q "$G/out.qcow2" q1.qcow2
# one child disagrees: the majority wins
spawn "$QEMU_IO" -c 'write -P 4 0 4k' q0.qcow2 >/dev/null
same "compare with one child outvoted" compare --image-opts "$Q" \
	"driver=qcow2,file.filename=../q1.qcow2"
# two disagree: no quorum
spawn "$QEMU_IO" -c 'write -P 5 0 4k' q1.qcow2 >/dev/null
run_tool g convert -O raw --image-opts "$Q" bad.raw
ok "no quorum: convert fails" test "$(cat "$R/g.rc")" != 0
same "threshold above the children" info --image-opts \
	driver=quorum,vote-threshold=2,children.0.file.filename=../q0.qcow2,children.0.driver=qcow2
same "no threshold" info --image-opts \
	driver=quorum,children.0.file.filename=../q0.qcow2,children.0.driver=qcow2
same "no children" info --image-opts driver=quorum,vote-threshold=1

done_testing
