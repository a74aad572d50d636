#!/bin/bash
# SPDX-License-Identifier: MIT
# The null-co and null-aio protocols against qemu-img's: names, sizes,
# read-zeroes and block status, raw over null, converting from and into
# them, and the filename and option errors.
. "$(dirname "$0")/lib.sh"

for c in \
	'info null-co://' 'info null-aio://' 'info null-co://foo' \
	'info --output=json null-co://' \
	'info json:{"driver":"null-co","size":1048576}' \
	'info json:{"driver":"null-co","size":1048576,"read-zeroes":true,"latency-ns":3}' \
	'info json:{"driver":"null-aio","read-zeroes":true}' \
	'info json:{"driver":"null-co","filename":"x"}' \
	'info --image-opts driver=null-co,size=4096,latency-ns=5' \
	'info --image-opts driver=null-co,size=1000' \
	'info --output=json json:{"driver":"raw","file":{"driver":"null-co","size":4096}}' \
	'map null-co://' 'map --output=json null-co://' \
	'map --output=json json:{"driver":"null-co","size":1048576}' \
	'map --output=json json:{"driver":"null-co","size":1048576,"read-zeroes":true}' \
	'map json:{"driver":"null-co","size":1048576,"read-zeroes":true}' \
	'map --output=json --image-opts driver=raw,file.driver=null-co' \
	'map --image-opts driver=raw,file.driver=null-co,file.read-zeroes=on,file.size=65536' \
	'compare null-co:// null-aio://' \
	'compare -f raw -F raw null-co:// json:{"driver":"null-co","size":1073741824,"read-zeroes":true}'; do
	# shellcheck disable=SC2086
	same "$c" $c
done

# Converting out of null-co gives a zero image (qimg fills reads with
# zeros even without read-zeroes); into null-aio, nothing is kept.
spawn "$QEMU_IMG" create -q -f qcow2 src.qcow2 4M
spawn "$QEMU_IO" -c 'write -P 7 0 1M' src.qcow2 >/dev/null
same "convert null-co to qcow2" convert -O qcow2 \
	'json:{"driver":"null-co","size":4194304,"read-zeroes":true}' out.qcow2
reads_zero()
{
	"$QEMU_IO" -c 'read -P 0 0 4M' "$1" 2>&1 | grep -q '^read 4194304/'
}
ok "converted null image reads as zeros" reads_zero "$G/out.qcow2"
same "convert qcow2 into null-aio (-n)" convert -n -f qcow2 -O raw \
	../src.qcow2 'json:{"driver":"null-aio","size":4194304}'

# The bound every suite puts on a qimg run (limit_qimg in lib.sh) ends one
# that hangs: info on a FIFO no one writes blocks in its open.
mkfifo "$G/hang.fifo"
limit_qimg 1
(cd "$G" && exec "${QIMG_LIMIT[@]}" "$QIMG" info -f raw hang.fifo) \
	>/dev/null 2>&1
rc=$?
limit_qimg "$QIMG_TIMEOUT"
ok "a qimg run that hangs is ended by the suites' bound (exit $rc)" \
	test "$rc" -ge 124

done_testing
