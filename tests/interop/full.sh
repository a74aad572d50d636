#!/bin/bash
# SPDX-License-Identifier: MIT
# A full disk: on a small tmpfs, commands that run out of space exit 1 with
# one stderr line naming the file and "No space left on device"; a target
# the command created is removed again (qemu-img leaves it); an existing
# qcow2 image written until the space ran out keeps no corruption (leaks
# allowed) and its old data where nothing new landed.  Needs a tmpfs mount
# (root); skipped otherwise.
. "$(dirname "$0")/lib.sh"

have_qimg || skip_all "no qimg binary at $QIMG"
MNT=$T/full
spawn mkdir -p "$MNT"
mount -t tmpfs -o size=2m qimg-full "$MNT" 2>/dev/null ||
	skip_all "cannot mount a tmpfs here (needs root)"
unmount_full()
{
	umount "$MNT"
}
at_exit unmount_full

head -c 8M /dev/urandom >src.raw

# no_space DESC FILE ARGS...: qimg ARGS fails with exit 1 and one line
# naming FILE and the full disk.
no_space()
{
	local d=$1 f=$2 rc
	shift 2
	qimg "$@" >"$R/out" 2>"$R/err"
	rc=$?
	if [ "$rc" = 1 ] && [ "$(wc -l <"$R/err")" = 1 ] &&
		grep -qF "$f" "$R/err" &&
		grep -q 'No space left on device' "$R/err"; then
		pass "$d: one line naming the file and the full disk"
	else
		fail "$d: one line naming the file and the full disk"
		diag "exit $rc"
		diag_file "$R/err"
	fi
}

# gone DESC FILE: the file a failed command created is not left behind.
gone()
{
	if [ -e "$2" ]; then
		fail "$1: no half-written $2 left"
		ls -l "$2" | diag_file /dev/stdin
	else
		pass "$1: no half-written file left"
	fi
	spawn rm -f "$2"
}

for fmt in qcow2 raw; do
	f=$MNT/new.$fmt
	no_space "convert -O $fmt" "$f" convert -O "$fmt" src.raw "$f"
	gone "convert -O $fmt" "$f"
	if [ "$fmt" = qcow2 ]; then
		no_space "convert -c -O $fmt" "$f" convert -c -O "$fmt" \
			src.raw "$f"
		gone "convert -c -O $fmt" "$f"
	fi
	for p in full falloc; do
		no_space "create -f $fmt preallocation=$p" "$f" \
			create -q -f "$fmt" -o preallocation=$p "$f" 8M
		gone "create -f $fmt preallocation=$p" "$f"
	done
done

# convert -n into an existing image: it stays free of corruption, and what
# was there before is still there where the conversion did not reach.
for o in "cluster_size=65536" "cluster_size=4096,refcount_bits=1" \
	"compat=0.10"; do
	f=$MNT/old.qcow2
	spawn "$QEMU_IMG" create -q -f qcow2 -o "$o" "$f" 8M
	spawn "$QEMU_IO" -c 'write -P 0x5a 7M 1M' "$f" >/dev/null
	head -c $((1536 * 1024)) /dev/zero >"$MNT/filler" 2>/dev/null
	no_space "convert -n into $o" "$f" convert -n -O qcow2 src.raw "$f"
	spawn rm -f "$MNT/filler"
	ok "convert -n into $o: no corruption" check_no_corruption "$f"
	# every 64 KiB piece holds the source's bytes or the old ones
	spawn "$QEMU_IMG" convert -O raw "$f" "$R/got.raw"
	ok "convert -n into $o: each piece old or new" perl -e '
		open(G, "<:raw", $ARGV[0]) or die; open(S, "<:raw", $ARGV[1]) or die;
		for ($i = 0; read(G, $g, 65536); $i++) {
			read(S, $s, 65536);
			$old = ($i >= 112 ? "\x5a" : "\0") x 65536;
			exit 1 if $g ne $s && $g ne $old;
		}' "$R/got.raw" src.raw
	spawn rm -f "$f"
done

done_testing
