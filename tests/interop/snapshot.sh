#!/bin/bash
# SPDX-License-Identifier: MIT
# `snapshot -l/-c/-a/-d` against qemu-img (reference §2.13).  Arguments and
# messages: the same output (dates aside) and exit status.  Data: on
# images of several kinds the same history (writes, zero writes, discards,
# compressed writes between snapshot operations) is played with qemu-img
# on one copy and qimg on the other; after every step qimg's image must
# pass qemu-img check, read as qemu-img's does, and list the same
# snapshots, each of which must read the same (convert -l).  Then the
# tools take turns on one image: qimg's snapshots applied and deleted by
# qemu-img and the other way round.
. "$(dirname "$0")/lib.sh"

have_qimg || skip_all "no qimg binary at $QIMG"

NORM=norm_date

spawn mkdir pristine
spawn "$QEMU_IMG" create -q -f qcow2 pristine/a.qcow2 64M
spawn "$QEMU_IO" -c 'write -P 1 0 1M' pristine/a.qcow2 >/dev/null
spawn "$QEMU_IMG" create -q -f raw pristine/r.raw 1M

place()
{
	spawn cp "pristine/$1" "$E/$1"
	spawn cp "pristine/$1" "$G/$1"
}

# --- arguments and messages (one image through the whole list) ---------
place a.qcow2
place r.raw
while IFS= read -r args; do
	# shellcheck disable=SC2086
	same "snapshot $args" snapshot $args
done <<'EOF'
-l a.qcow2
-c s1 a.qcow2
-c s1 a.qcow2
-l a.qcow2
-c s2 a.qcow2
-a nope a.qcow2
-d nope a.qcow2
-a s1 a.qcow2
-d 1 a.qcow2
-a 2 a.qcow2
-l a.qcow2
a.qcow2
-l -c x a.qcow2
-c x
-U -c x a.qcow2
-U -l a.qcow2
-q -l a.qcow2
-l missing.qcow2
-c x -f raw a.qcow2
-d s1 a.qcow2
-l a.qcow2
-c x r.raw
-l r.raw
-a x r.raw
-d x r.raw
EOF

# --- histories -----------------------------------------------------------
# step IMG WHO ACTION...: WHO is io (qemu-io command) or snap (snapshot
# arguments); run on both copies, qemu-io by itself on both.
clean_and_same()
{
	local d=$1 img=$2
	ok "$d: qemu-img check free of corruption" check_no_corruption "$G/$img"
	# leaks too as on qemu-img's copy (a snapshot refused for a refcount
	# that would overflow leaks its new L1 table in both)
	ok "$d: qemu-img check reports as on qemu-img's copy" \
		cmp -s <(check_report "$E/$img") <(check_report "$G/$img")
	ok "$d: reads as qemu-img's" contents_equal "$E/$img" "$G/$img"
}

check_report()
{
	spawn "$QEMU_IMG" check "$1" 2>&1
	echo "rc=$?"
}

snapshots_same()
{
	local d=$1 img=$2 id
	for id in $("$QEMU_IMG" snapshot -l "$E/$img" |
		awk 'NR > 2 { print $1 }'); do
		spawn "$QEMU_IMG" convert -l "$id" -O raw "$E/$img" "$R/e.raw"
		spawn "$QEMU_IMG" convert -l "$id" -O raw "$G/$img" "$R/g.raw" 2>&1
		ok "$d: snapshot $id reads the same" cmp -s "$R/e.raw" "$R/g.raw"
	done
}

# history KIND OPTS I: the history on a new image made with OPTS.  Quick:
# the checks after a snapshot step come after every third step, shifted by
# I (0, 1 and 2 for the kinds quick runs: each step is checked in one).
history()
{
	local kind=$1 opts=$2 ki=$3 img=h-$1.qcow2 n=0 s=0 line
	spawn "$QEMU_IMG" create -q -f qcow2 -o "$opts" "pristine/$img" 16M
	place "$img"
	while IFS= read -r line; do
		n=$((n + 1))
		case $line in
		io\ *)
			for dir in "$E" "$G"; do
				eval "\"\$QEMU_IO\" ${line#io } \"\$dir/$img\"" \
					>/dev/null
			done
			;;
		snap\ *)
			# shellcheck disable=SC2086
			same "$kind step $n: snapshot ${line#snap }" \
				snapshot ${line#snap } "$img"
			s=$((s + 1))
			if quick_pick $((s + ki)); then
				clean_and_same "$kind step $n" "$img"
			fi
			;;
		esac
	done <<'EOF'
io -c 'write -P 1 0 1M' -c 'write -P 2 5M 64k' -c 'write -c -P 3 8M 64k'
snap -c a
io -c 'write -P 4 512k 1M' -c 'write -z 5M 32k' -c 'discard 8M 64k'
snap -c b
io -c 'write -P 5 0 4k' -c 'write -P 6 12M 2M'
snap -l
snap -a a
io -c 'write -P 7 100k 8k'
snap -c c
snap -d b
io -c 'write -P 8 6M 1M'
snap -a 3
snap -d a
snap -c d
snap -d c
snap -a d
snap -d d
EOF
	snapshots_same "$kind" "$img"
}

# (quick: v3, small and ext; v2, lazy and zstd only whole, for time: the
# three kept have v3's snapshot table, refcounts of 1 and 16 bits, normal
# and extended L2 entries and compressed clusters at 4 and 64 KiB)
history v3 "cluster_size=65536" 0
whole && history v2 "compat=0.10" 3
history small "cluster_size=4096,refcount_bits=1" 1
history ext "extended_l2=on" 2
if whole; then
	history lazy "lazy_refcounts=on" 4
	history zstd "compression_type=zstd,cluster_size=16384" 5
fi

# io_verify IMG ARGS...: qemu-io ARGS (reads with -P) find every pattern
io_verify()
{
	local img=$1
	shift
	spawn "$QEMU_IO" "$@" "$img" >"$R/io" 2>&1 &&
		! grep -q 'verification failed' "$R/io"
}

# --- the tools take turns on one image -----------------------------------
f=$G/turns.qcow2
spawn "$QEMU_IMG" create -q -f qcow2 "$f" 16M
spawn "$QEMU_IO" -c 'write -P 1 0 2M' "$f" >/dev/null
spawn "$QIMG" snapshot -c ours "$f"
spawn "$QEMU_IO" -c 'write -P 2 1M 2M' "$f" >/dev/null
spawn "$QEMU_IMG" snapshot -c theirs "$f"
spawn "$QEMU_IO" -c 'write -P 3 0 4M' "$f" >/dev/null
ok "turns: qimg applies qemu-img's snapshot" "$QIMG" snapshot -a theirs "$f"
ok "turns: it reads as taken" io_verify "$f" -c 'read -P 1 0 1M' \
	-c 'read -P 2 1M 2M'
ok "turns: check clean" check_clean "$f"
ok "turns: qemu-img applies qimg's snapshot" \
	"$QEMU_IMG" snapshot -a ours "$f"
ok "turns: it reads as taken" io_verify "$f" -c 'read -P 1 0 2M'
ok "turns: qimg deletes qemu-img's snapshot" "$QIMG" snapshot -d theirs "$f"
ok "turns: qemu-img deletes qimg's snapshot" \
	"$QEMU_IMG" snapshot -d ours "$f"
ok "turns: check clean at the end" check_clean "$f"
spawn "$QEMU_IMG" check "$f" >"$R/chk" 2>&1
ok "turns: no clusters left over" grep -q 'No errors' "$R/chk"

done_testing
