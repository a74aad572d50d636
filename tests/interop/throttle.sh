#!/bin/bash
# SPDX-License-Identifier: MIT
# The throttle filter and throttle-group objects against qemu-img: every
# check of a group's definition (syntax, types, names, ranges, the limits
# as a whole, duplicates; text and JSON forms) with qemu-img's words; info,
# map, check, measure, compare and convert through a filter over raw and
# over a qcow2 with a backing file and a snapshot; the commands that act on
# the image below the filter (commit, rebase, snapshot, resize) leaving the
# image as qemu-img leaves it; images written through a filter read back by
# qemu-img; and the limits themselves: reads, writes and a group shared by
# source and target take at least the time their rates allow.
. "$(dirname "$0")/lib.sh"
have_qimg || skip_all "no qimg binary at $QIMG"
# qemu-img names a node without a name by its own counter (#block440).
NORM=norm_bench

# --- group definitions -------------------------------------------------------
spawn "$QEMU_IMG" create -q -f raw t.raw 4M
TR="driver=throttle,throttle-group=tg0,file.filename=../t.raw"
n=0
while IFS= read -r def; do
	[ -n "$def" ] || continue
	n=$((n + 1))
	same "group definition $n" info --object "$def" --image-opts "$TR"
done <<'EOF'
throttle-group,id=tg0
throttle-group,id=tg0,x-iops-total=-1
throttle-group,id=tg0,x-iops-total=1000000000000001
throttle-group,id=tg0,x-iops-total=1000000000000000
throttle-group,id=tg0,x-iops-total=10,x-iops-read=5
throttle-group,id=tg0,x-bps-total-max=100,x-iops-total=1,x-iops-read=1
throttle-group,id=tg0,x-iops-total-max=10
throttle-group,id=tg0,x-iops-total=10,x-iops-total-max=5
throttle-group,id=tg0,x-iops-total=10,x-iops-total-max=20,x-iops-total-max-length=0
throttle-group,id=tg0,x-iops-total=10,x-iops-total-max-length=2
throttle-group,id=tg0,x-iops-size=4096
throttle-group,id=tg0,x-iops-size=1,x-bps-total=1000000000000001
throttle-group,id=tg0,x-iops-total=10,x-iops-size=4096
throttle-group,id=tg0,x-bps-total=abc
throttle-group,id=tg0,x-bps-total=1k
throttle-group,id=tg0,x-iops-total=
throttle-group,id=tg0,x-iops-total=1.5
throttle-group,id=tg0,x-iops-total=9223372036854775808
throttle-group,id=tg0,x-iops-total=0x10
throttle-group,id=tg0,x-iops-total=+5
throttle-group,id=tg0,foo=1
throttle-group,foo=1,id=tg0
throttle-group,id=tg0,limits.iops-total=10
throttle-group,id=tg0,limits.iops-total=10,limits.iops-read=3
throttle-group,id=tg0,limits.bogus=10
throttle-group,id=tg0,limits=10
throttle-group,id=tg0,limits.iops-total=1,limits=5
throttle-group,id=tg0,limits.iops-total.x=1
throttle-group,id=tg0,limits..iops-total=1
throttle-group,id=tg0,x-iops-total.a=1
throttle-group
throttle-group,x-iops-total=abc
throttle-group,id=0bad
throttle-group,id=0bad,x-iops-total=abc
throttle-group,id=0bad,x-iops-total=-1
throttle-group,id=tg0,x-iops-total=10,x-iops-total-max=20,x-iops-total-max-length=4294967296
throttle-group,id=tg0,x-iops-total=10,x-iops-total-max=1000000000000000,x-iops-total-max-length=4294967295
throttle-group,id=tg0,x-bps-total-max=1000000000000,x-bps-total-max-length=4294967295
throttle-group,id=tg0,x-bps-total-max=5,x-iops-total=5,x-iops-total-max=1
throttle-group,id=tg0,x-iops-total-max=5,x-bps-total=5,x-bps-total-max=1
throttle-group,id=tg0,x-bps-read-max=5,x-bps-write=5,x-bps-write-max=1
throttle-group,id=tg0,x-iops-total-max-length=-1
throttle-group,id=tg0,limits.iops-total-max-length=-1
throttle-group,id=tg0,limits.iops-total-max-length=4294967296
throttle-group,id=tg0,limits.iops-size=-1
throttle-group,id=tg0,limits.iops-total=10,limits.iops-size=-1
throttle-group,id=tg0,limits.iops-total-max=-1
throttle-group,id=tg0,x-iops-total=-1,x-iops-total-max-length=4294967296
throttle-group,id=tg0,x-iops-total-max-length=5000000000,x-bps-total=-1
throttle-group,id=tg0,x-bps-total=-1,limits.iops-total-max-length=5000000000
throttle-group,id=tg0,x-iops-total=-1,foo=1
throttle-group,id=tg0,x-iops-total=abc,limits.bps-total=abc
throttle-group,id=tg0,x-iops-size=abc,x-bps-write-max-length=abc
throttle-group,id=tg0,limits.bogus=1,limits.iops-total=abc
qom-type=throttle-group,id=tg0,x-iops-total=5
{"qom-type":"throttle-group","id":"tg0","limits":{"iops-total":10}}
{"qom-type":"throttle-group","id":"tg0","limits":{"iops-total":"10"}}
{"qom-type":"throttle-group","id":"tg0","limits":[]}
{"qom-type":"throttle-group","id":"tg0","limits":{"bogus":1}}
{"qom-type":"throttle-group","id":"tg0","x-iops-total":"10"}
{"qom-type":"throttle-group","id":"tg0","x-iops-total":-5}
{"qom-type":"throttle-group","id":"tg0","x-iops-total":1.5}
{"qom-type":"throttle-group","id":"tg0","limits":{"iops-total-max-length":5000000000}}
EOF
same "group properties" info --object throttle-group,help --image-opts "$TR"
same "a group's id taken twice" info --object throttle-group,id=tg0 \
	--object throttle-group,id=tg0,x-iops-total=5,x-iops-read=1 --image-opts "$TR"
same "a group's id taken by a secret" info --object secret,id=tg0,data=x \
	--object throttle-group,id=tg0 --image-opts "$TR"
same "a filter without a group" info --image-opts driver=throttle,file.filename=../t.raw
same "a filter naming no group" info --image-opts "$TR"
same "a filter naming a secret" info --object secret,id=tg0,data=x --image-opts "$TR"
same "a filter without a child" info --object throttle-group,id=tg0 \
	--image-opts driver=throttle,throttle-group=tg0
same "an unknown filter option" info --object throttle-group,id=tg0 \
	--image-opts "$TR,foo=1"
same "a filter over a missing file" info --object throttle-group,id=tg0 \
	--image-opts driver=throttle,throttle-group=tg0,file.filename=../none.raw
same "-f throttle" info -f throttle t.raw
same "create -f throttle" create -f throttle x.img 1M

# --- reading through a filter -----------------------------------------------------
spawn "$QEMU_IMG" create -q -f qcow2 b.qcow2 8M
spawn "$QEMU_IO" -c 'write -P 2 1M 1M' b.qcow2 >/dev/null
spawn "$QEMU_IMG" create -q -f qcow2 -b b.qcow2 -F qcow2 c.qcow2
spawn "$QEMU_IO" -c 'write -P 1 0 1M' -c 'write -z 3M 64k' c.qcow2 >/dev/null
spawn "$QEMU_IMG" snapshot -c s1 c.qcow2
spawn "$QEMU_IO" -f raw -c 'write -P 5 0 1M' t.raw >/dev/null
O="throttle-group,id=tg0,x-bps-total=1000000000"
TQ="driver=throttle,throttle-group=tg0,file.driver=qcow2,file.file.filename=../c.qcow2"
for img in "$TR" "$TQ"; do
	k=raw
	[ "$img" = "$TQ" ] && k=qcow2
	same "info over $k" info --object "$O" --image-opts "$img"
	same "info --output=json over $k" info --output=json --object "$O" --image-opts "$img"
	same "info --backing-chain over $k" info --backing-chain --object "$O" --image-opts "$img"
	same "map over $k" map --object "$O" --image-opts "$img"
	same "map --output=json over $k" map --output=json --object "$O" --image-opts "$img"
	same "check over $k" check --object "$O" --image-opts "$img"
	same "measure over $k" measure -O qcow2 --object "$O" --image-opts "$img"
	same "convert over $k" convert -O qcow2 --object "$O" --image-opts "$img" out.qcow2
	ok "convert over $k: qemu-img compares equal" \
		"$QEMU_IMG" compare -q "$G/out.qcow2" "$E/out.qcow2"
done
same "compare through filters" compare --object "$O" --image-opts "$TQ" \
	driver=qcow2,file.filename=../c.qcow2
same "snapshot -l over qcow2" snapshot -l --object "$O" --image-opts "$TQ"
same "convert -l over a filter" convert -l s1 -O raw --object "$O" --image-opts "$TQ" s.raw
same "amend over a filter" amend -o compat=v3 --object "$O" --image-opts "$TQ"

# --- commands on the image below the filter ---------------------------------------
fresh()
{
	local d
	for d in "$E" "$G"; do
		spawn cp b.qcow2 "$d/b.qcow2"
		spawn "$QEMU_IMG" create -q -f qcow2 -b b.qcow2 -F qcow2 "$d/w.qcow2"
		spawn "$QEMU_IO" -c 'write -P 1 0 1M' "$d/w.qcow2" >/dev/null
		spawn "$QEMU_IMG" snapshot -c s1 "$d/w.qcow2"
	done
}
# The two images (and their backing files) read alike, have the same
# chain and snapshots.
after()
{
	local d
	for d in "$E" "$G"; do
		(cd "$d" && spawn "$QEMU_IMG" info --backing-chain w.qcow2 &&
			spawn "$QEMU_IMG" map --output=json w.qcow2 &&
			spawn "$QEMU_IMG" map --output=json b.qcow2 &&
			"$QEMU_IMG" check w.qcow2) 2>&1 |
			grep -v '^disk size\|[0-9][0-9]:[0-9][0-9]:[0-9][0-9]' >"$d/after.txt"
	done
	if spawn cmp -s "$E/after.txt" "$G/after.txt"; then
		pass "$1: the image is as qemu-img leaves it"
	else
		fail "$1: the image is as qemu-img leaves it"
		diff "$E/after.txt" "$G/after.txt" | sed -n '1,20p' | sed 's/^/# /'
	fi
}
TW="driver=throttle,throttle-group=tg0,file.driver=qcow2,file.file.filename=w.qcow2"
for args in "commit" "commit -d" "commit -b b.qcow2" "rebase -u -b ''" \
	"rebase -b ''" "snapshot -c s2" "snapshot -d s1" "snapshot -a s1" \
	"resize @ 16M"; do
	fresh
	eval "set -- $args"
	cmd=$1
	shift
	if [ "${1:-}" = @ ]; then
		shift
		same "$args through a filter" "$cmd" --object "$O" --image-opts "$TW" "$@"
	else
		same "$args through a filter" "$cmd" "$@" --object "$O" --image-opts "$TW"
	fi
	after "$args"
done
fresh
same "bitmap through a filter" bitmap --add --object "$O" --image-opts "$TW" b0
after "bitmap"
# A filter as convert's target; qemu-img reads what qimg wrote.
fresh
same "convert -n into a filter" convert -n -O qcow2 t.raw --object "$O" \
	--target-image-opts "$TW"
ok "convert -n into a filter: qemu-img compares equal" \
	"$QEMU_IMG" compare -q "$E/w.qcow2" "$G/w.qcow2"
after "convert -n into a filter"

# --- the limits hold ----------------------------------------------------------------
head -c 16M /dev/urandom >r16.raw
# at_least DESC SECONDS ARGS...: qimg ARGS succeeds and takes SECONDS or
# more (the least its limits allow).
at_least()
{
	local d=$1 min=$2 t0 t1
	shift 2
	t0=$(date +%s%N)
	if ! qimg "$@" >"$T/al.out" 2>&1; then
		fail "$d"
		diag_file "$T/al.out"
		return
	fi
	t1=$(date +%s%N)
	if [ $(((t1 - t0) / 1000000)) -ge "$min" ]; then
		pass "$d: $(((t1 - t0) / 1000000)) ms >= $min ms"
	else
		fail "$d: $(((t1 - t0) / 1000000)) ms < $min ms"
	fi
}
# 16 MiB at 4 MiB/s, less one request of at most 4 MiB and the 0.4 MiB let
# through at once: 2.9 s at least.
at_least "reads held to 4 MiB/s" 2900 convert -O raw \
	--object throttle-group,id=g,x-bps-read=4194304 \
	--image-opts driver=throttle,throttle-group=g,file.filename=r16.raw o.raw
ok "reads held: the copy is whole" cmp r16.raw o.raw
spawn "$QEMU_IMG" create -q -f raw o.raw 16M
at_least "writes held to 4 MiB/s" 2900 convert -n r16.raw \
	--object throttle-group,id=g,x-bps-write=4194304 \
	--target-image-opts driver=throttle,throttle-group=g,file.filename=o.raw
ok "writes held: the copy is whole" cmp r16.raw o.raw
# One group for source and target: 32 MiB at 8 MiB/s together, less two
# requests and 0.8 MiB: 2.9 s; each alone would take half.
spawn "$QEMU_IMG" create -q -f raw o.raw 16M
at_least "a shared group holds both nodes" 2900 convert -n \
	--object throttle-group,id=g,x-bps-total=8388608 \
	--image-opts driver=throttle,throttle-group=g,file.filename=r16.raw \
	--target-image-opts driver=throttle,throttle-group=g,file.filename=o.raw
ok "shared group: the copy is whole" cmp r16.raw o.raw
# Bursts of 8 MiB/s for up to 2 s over 1 MiB/s: 16 MiB fit in the burst,
# at 8 MiB/s (less a request and 0.8 MiB): 1.4 s at least.
at_least "a burst runs at its rate" 1400 convert -O raw \
	--object throttle-group,id=g,x-bps-read=1048576,x-bps-read-max=8388608,x-bps-read-max-length=2 \
	--image-opts driver=throttle,throttle-group=g,file.filename=r16.raw o.raw

done_testing
