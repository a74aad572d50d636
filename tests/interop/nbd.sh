#!/bin/bash
# SPDX-License-Identifier: MIT
# The NBD client against real servers: qemu-nbd (unix socket and TCP, with
# and without -A for qemu:allocation-depth) and nbdkit (memory, file and
# sparse-random plugins).  info, map (human and JSON), check, compare and
# convert in both directions through qimg and through qemu-img, outputs
# compared; name forms (nbd://, nbd+unix://, nbd:unix:, nbd:HOST:PORT,
# json:{...}, --image-opts) and connection errors.
. "$(dirname "$0")/lib.sh"

QEMU_NBD=${QEMU_NBD:-qemu-nbd}
if ! command -v "$QEMU_NBD" >/dev/null 2>&1 || ! command -v nbdkit >/dev/null 2>&1; then
	[ "${CI:-}" = true ] && { echo "not ok 1 - qemu-nbd and nbdkit are needed"; echo "1..1"; exit 1; }
	skip_all "qemu-nbd or nbdkit not found"
fi

at_exit stop_servers


spawn "$QEMU_IMG" create -q -f qcow2 base.qcow2 4M
spawn "$QEMU_IO" -c 'write -P 1 0 2M' base.qcow2 >/dev/null
spawn "$QEMU_IMG" create -q -f qcow2 -b base.qcow2 -F qcow2 img.qcow2 4M
spawn "$QEMU_IO" -c 'write -P 2 1M 2M' -c 'write -z 3M 512k' img.qcow2 >/dev/null

S1=$T/s1.sock
"$QEMU_NBD" -t -r -k "$S1" -x exp -f qcow2 -A img.qcow2 &
pids="$pids $!"
P1=$(free_port)
spawn "$QEMU_IMG" convert -O raw img.qcow2 flat.raw
"$QEMU_NBD" -t -r -p "$P1" -b 127.0.0.1 -f raw flat.raw &
pids="$pids $!"
S2=$T/s2.sock
nbdkit -f -U "$S2" memory 8M >/dev/null 2>&1 &
pids="$pids $!"
S3=$T/s3.sock
nbdkit -f -U "$S3" sparse-random 64M seed=7 >/dev/null 2>&1 &
pids="$pids $!"
S4=$T/s4.sock
spawn "$QEMU_IMG" create -q -f raw target.raw 4M
nbdkit -f -U "$S4" file target.raw >/dev/null 2>&1 &
pids="$pids $!"
S5=$T/s5.sock # an export of 1000 bytes: not whole sectors
nbdkit -f -r -U "$S5" pattern 1000 >/dev/null 2>&1 &
pids="$pids $!"
wait_sock "$S1" && wait_sock "$S2" && wait_sock "$S3" && wait_sock "$S4" &&
	wait_sock "$S5"
sleep 0.3

for n in "nbd+unix:///exp?socket=$S1" "nbd:unix:$S1:exportname=exp" \
	"nbd://127.0.0.1:$P1" "nbd:127.0.0.1:$P1" "nbd+tcp://127.0.0.1:$P1/" \
	"json:{\"driver\":\"nbd\",\"server\":{\"type\":\"unix\",\"path\":\"$S1\"},\"export\":\"exp\"}" \
	"json:{\"driver\":\"nbd\",\"path\":\"$S1\",\"export\":\"exp\"}" \
	"json:{\"driver\":\"nbd\",\"host\":\"127.0.0.1\",\"port\":$P1}" \
	"nbd+unix://?socket=$S2" "nbd+unix://?socket=$S3"; do
	same "info $n" info "$n"
	same "info --output=json $n" info --output=json "$n"
	same "map $n" map "$n"
	same "map --output=json $n" map --output=json "$n"
done
same "map with x-dirty-bitmap=qemu:allocation-depth" map --output=json \
	--image-opts "driver=nbd,server.type=unix,server.path=$S1,export=exp,x-dirty-bitmap=qemu:allocation-depth"
same "compare over NBD (tcp vs unix)" compare "nbd://127.0.0.1:$P1" \
	"nbd+unix:///exp?socket=$S1"
same "compare NBD against the image" compare "nbd://127.0.0.1:$P1" ../img.qcow2
same "convert NBD to qcow2" convert -O qcow2 "nbd+unix:///exp?socket=$S1" out.qcow2
ok "converted from NBD: qemu-img compare" "$QEMU_IMG" compare -q "$G/out.qcow2" img.qcow2
ok "converted from NBD: check" check_clean "$G/out.qcow2"
same "convert sparse-random to raw" convert -O raw "nbd+unix://?socket=$S3" sr.raw
ok "sparse-random copy: same data" cmp -s "$E/sr.raw" "$G/sr.raw"
ok "sparse-random copy: holes kept" \
	test "$(du -k "$G/sr.raw" | cut -f1)" -le "$(($(du -k "$E/sr.raw" | cut -f1) + 64))"

# qimg writes into exports; qemu-img reads back
run_tool g convert -n -f qcow2 -O raw ../img.qcow2 "nbd+unix://?socket=$S4"
ok "convert -n into an nbdkit file export" test "$(cat "$R/g.rc")" = 0
ok "written export equals the image" "$QEMU_IMG" compare -q -f raw target.raw img.qcow2
run_tool g create -f qcow2 "nbd+unix://?socket=$S2" 4M
ok "create qcow2 on a memory export" test "$(cat "$R/g.rc")" = 0
run_tool g convert -n -O qcow2 ../img.qcow2 "nbd+unix://?socket=$S2"
ok "convert -n into qcow2 over NBD" test "$(cat "$R/g.rc")" = 0
same "check qcow2 over NBD" check "nbd+unix://?socket=$S2"
same "compare qcow2 over NBD with the image" compare "nbd+unix://?socket=$S2" ../img.qcow2
same "create larger than the export" create -f raw "nbd+unix://?socket=$S2" 16M
ok "a create that failed left the export's qcow2 as it was" \
	sh -c "'$QEMU_IMG' info 'nbd+unix://?socket=$S2' | grep -qx 'file format: qcow2'"
same "create with preallocation" create -f raw -o preallocation=full "nbd+unix://?socket=$S2" 1M
for p in falloc full; do
	same "create -f nbd with preallocation=$p" \
		create -f nbd -o preallocation=$p "nbd+unix://?socket=$S2" 1M
done
same "resize of a probed export: the warning names the URI as the driver writes it" \
	resize "nbd+unix:///?socket=$S2" +0
# An export's size is the server's: resize wants that exact size (8M here)
# or refuses, in qemu-img's words; a shrink is not a silent no-op.
for a in +1M "--shrink 4M" "--shrink 8M" 8M 4M; do
	# shellcheck disable=SC2086 # the option and the size, split
	same "resize -f raw of an export: $a" \
		resize -f raw "nbd+unix:///?socket=$S2" $a
done
ok "the export kept its 8 MiB" test "$("$QEMU_IMG" info -f raw --output=json \
	"nbd+unix:///?socket=$S2" | sed -n 's/.*"virtual-size": \([0-9]*\).*/\1/p')" = 8388608
# qcow2 preallocated on an export: the data right after the metadata (not
# after the export's end), as qemu-img lays it out; too big, QEMU's words.
for p in falloc full; do
	spawn "$QEMU_IMG" create -q -f qcow2 -o preallocation=$p "nbd+unix://?socket=$S2" 2M
	spawn "$QEMU_IMG" map --output=json -f qcow2 "nbd+unix://?socket=$S2" >"$T/map-e" 2>&1
	run_tool g create -q -f qcow2 -o preallocation=$p "nbd+unix://?socket=$S2" 2M
	ok "create qcow2 preallocation=$p on an export" test "$(cat "$R/g.rc")" = 0
	spawn "$QEMU_IMG" map --output=json -f qcow2 "nbd+unix://?socket=$S2" >"$T/map-g" 2>&1
	ok "preallocation=$p on an export: qemu-img's layout" cmp -s "$T/map-e" "$T/map-g"
	ok "preallocation=$p on an export: check clean" \
		"$QEMU_IMG" check -q -f qcow2 "nbd+unix://?socket=$S2"
	same "create qcow2 preallocation=$p bigger than the export" \
		create -q -f qcow2 -o preallocation=$p "nbd+unix://?socket=$S2" 16M
done

# An odd-sized export is seen in whole sectors, its tail as zeros, whether
# the image is the export (-f nbd) or raw over it.
for f in "-f nbd" "-f raw" ""; do
	# shellcheck disable=SC2086 # no format, or one option and its value
	{
		same "odd-sized export: info $f" info $f "nbd+unix://?socket=$S5"
		same "odd-sized export: map $f" map --output=json $f "nbd+unix://?socket=$S5"
		same "odd-sized export: convert $f" convert $f -O raw "nbd+unix://?socket=$S5" odd.raw
		same "odd-sized export: compare $f with the copy" compare $f -F raw \
			"nbd+unix://?socket=$S5" "$E/odd.raw"
	}
done
ok "odd-sized export: same bytes copied" cmp -s "$E/odd.raw" "$G/odd.raw"
# A read-only export opened for writing: qemu-img's words.
for c in "resize -f raw" "convert -n -O raw ../flat.raw" "create -f qcow2" \
	"create -f raw" "amend -o compat=1.1"; do
	# shellcheck disable=SC2086 # the command and its options
	same "read-only export: $c" $c "nbd+unix:///exp?socket=$S1" $(case $c in
		resize* | create*) echo 4M ;; esac)
done

# Errors
P0=$(free_port)
for n in "nbd://127.0.0.1:$P0" "nbd+unix:///bogus?socket=$S1" \
	"nbd+unix:///exp?socket=$T/nosuch.sock" "nbd:localhost:$P0:exportname=" \
	'nbd://localhost:abc' 'nbd+unix:///exp' 'nbd:bogus' \
	'json:{"driver": "nbd", "host": -1}' \
	'json:{"driver":"nbd","server":{"type":"inet","host":"localhost"}}'; do
	same "error: info $n" info "$n"
done

# create -f nbd: an export is not made, it is used as it is (big enough),
# its first sector zeroed
same "create -f nbd on an export" create -f nbd "nbd+unix:///?socket=$S2" 4M
same "create -f nbd bigger than the export" create -f nbd "nbd+unix:///?socket=$S2" 16M
same "create -f nbd on no export" create -f nbd "nbd+unix:///?socket=$T/none.sock" 4M
spawn "$QEMU_IO" -f raw -c 'write -P 7 0 4k' "nbd+unix:///?socket=$S2" >/dev/null
qimg create -q -f nbd "nbd+unix:///?socket=$S2" 4M
zeroed_first()
{
	local out
	out=$("$QEMU_IO" -f raw -c 'read -P 0 0 512' -c 'read -P 7 512 3584' \
		"nbd+unix:///?socket=$S2") || return 1
	case $out in *"Pattern verification failed"*) return 1 ;; esac
	[ "$(grep -c '^read ' <<<"$out")" = 2 ]
}
ok "create -f nbd zeroed the first sector (only)" zeroed_first
for f in ssh nfs iscsi nbd; do
	same "create -f $f on a name not its own" create -f $f x.img 1M
done

done_testing
