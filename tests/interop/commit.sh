#!/bin/bash
# SPDX-License-Identifier: MIT
# `commit` against qemu-img (reference §2.9): the same output and exit
# status for its arguments and failures; for commits of chains of two and
# three qcow2 images (into the backing file, with -b into the bottom, -d, a
# raw base, a base shorter than the overlay, also over a longer backing file
# of its own, zero and compressed clusters, internal snapshots, v2,
# extended L2, lazy refcounts, small clusters) every image must read as
# qemu-img's copy does, pass qemu-img check and have the same allocation,
# the emptied overlay the same map and check report, and the committed base
# read as the overlay did.  Failures (I/O errors at each step of emptying,
# read-only and locked images) and a commit killed while copying must lose
# nothing the overlay showed.
. "$(dirname "$0")/lib.sh"

have_qimg || skip_all "no qimg binary at $QIMG"

spawn mkdir pristine
qio_w()
{
	spawn "$QEMU_IO" "$@" >/dev/null
}
mk()
{
	spawn "$QEMU_IMG" create -q "$@"
}
cd pristine || exit 1
# a chain of three: data at every level, overlapping
mk -f qcow2 base.qcow2 8M
qio_w -c 'write -P 1 0 8M' base.qcow2
mk -f qcow2 -b base.qcow2 -F qcow2 mid.qcow2 8M
qio_w -c 'write -P 2 1M 2M' -c 'write -P 5 5M 64k' mid.qcow2
mk -f qcow2 -b mid.qcow2 -F qcow2 top.qcow2 8M
qio_w -c 'write -P 3 2M 2M' -c 'write -z 6M 128k' -c 'write -c -P 4 7M 64k' \
	-c 'write -P 6 4095k 2k' top.qcow2
# overlays of base alone: zeros over data, compressed clusters, ...
mktop()
{
	local n=$1 b=$2 bf=$3
	shift 3
	mk -f qcow2 -b "$b" -F "$bf" "$@" "$n" 8M
	qio_w -c 'write -P 3 2M 1M' -c 'write -z 6M 64k' \
		-c 'write -c -P 4 7M 64k' -c 'write -P 6 100k 4k' "$n"
}
mktop top2.qcow2 base.qcow2 qcow2
mktop topv2.qcow2 base.qcow2 qcow2 -o compat=0.10
mktop topext.qcow2 base.qcow2 qcow2 -o extended_l2=on
mktop toplazy.qcow2 base.qcow2 qcow2 -o lazy_refcounts=on
mktop top4k.qcow2 base.qcow2 qcow2 -o cluster_size=4096
mktop topsnap.qcow2 base.qcow2 qcow2
spawn "$QEMU_IMG" snapshot -c s1 topsnap.qcow2
qio_w -c 'write -P 7 2560k 1M' -c 'write -z 1M 64k' topsnap.qcow2
mk -f raw base.raw 8M
qio_w -f raw -c 'write -P 1 0 4M' base.raw
mktop topraw.qcow2 base.raw raw
# a base shorter than the overlay, data beyond its end
mk -f qcow2 short.qcow2 3M
qio_w -c 'write -P 1 0 3M' short.qcow2
mk -f qcow2 -b short.qcow2 -F qcow2 topshort.qcow2 8M
qio_w -c 'write -P 3 1M 1M' -c 'write -P 7 6M 1M' topshort.qcow2
# a short base over a longer backing file of its own: the area it grows
# by reads as zeros, not as that file
mk -f qcow2 deep.qcow2 8M
qio_w -c 'write -P 1 0 8M' deep.qcow2
mk -f qcow2 -b deep.qcow2 -F qcow2 grown.qcow2 2M
mk -f qcow2 -b grown.qcow2 -F qcow2 topg.qcow2 8M
qio_w -c 'write -P 3 1M 64k' -c 'write -P 4 5M 64k' topg.qcow2
# a middle image shorter than the chain around it
mk -f qcow2 -b base.qcow2 -F qcow2 midshort.qcow2 3M
qio_w -c 'write -P 2 1M 1M' midshort.qcow2
mk -f qcow2 -b midshort.qcow2 -F qcow2 topms.qcow2 8M
qio_w -c 'write -P 3 5M 64k' topms.qcow2
# a base with small clusters
mk -f qcow2 -o cluster_size=512 base512.qcow2 8M
qio_w -c 'write -P 1 0 8M' base512.qcow2
mktop top512.qcow2 base512.qcow2 qcow2
# a large sparse v2 overlay (its empty L1 entries get tables)
mk -f qcow2 bigbase.qcow2 1100M
mk -f qcow2 -o compat=0.10 -b bigbase.qcow2 -F qcow2 bigtop.qcow2 1100M
qio_w -c 'write -P 3 1M 1M' -c 'write -P 5 1050M 64k' bigtop.qcow2
# three megabytes of data for the rate limit
mk -f qcow2 -b base.qcow2 -F qcow2 top3m.qcow2 8M
qio_w -c 'write -P 3 0 3M' top3m.qcow2
# relative names from a sub-directory
spawn mkdir sub
(cd sub && mk -f qcow2 b.qcow2 1M && mk -f qcow2 -b b.qcow2 -F qcow2 \
	m.qcow2 1M && mk -f qcow2 -b m.qcow2 -F qcow2 t.qcow2 1M &&
	qio_w -c 'write -P 9 0 64k' t.qcow2)
mk -f raw r.raw 1M
cd .. || exit 1

# place FILE...: fresh copies of pristine/FILE for both tools (the files of
# the top directory with one cp each: this runs hundreds of times)
place()
{
	local f d here=()
	for f in "$@"; do
		case $f in
		*/*)
			d=${f%/*}
			spawn mkdir -p "$E/$d" "$G/$d"
			spawn cp "pristine/$f" "$E/$f"
			spawn cp "pristine/$f" "$G/$f"
			;;
		*) here+=("pristine/$f") ;;
		esac
	done
	if [ ${#here[@]} != 0 ]; then
		spawn cp "${here[@]}" "$E/"
		spawn cp "${here[@]}" "$G/"
	fi
}

# an image by itself, its backing chain not opened
alone()
{
	case $1 in
	*.qcow2) qcow2_nobacking "$1" ;;
	*) printf '%s' "$1" ;;
	esac
}

# the image's own map with host offsets, and its check report
map_alone()
{
	spawn "$QEMU_IMG" map --output=json "$(alone "$1")" 2>&1
}
check_report()
{
	"$QEMU_IMG" check --output=json "$(alone "$1")" 2>&1 |
		grep -v '"filename"'
}

# holes_kept E G: every 64 KiB of file E that is a hole (what clusters
# freed left in it) is a hole in G too.
holes_kept()
{
	"$PY" - "$QEMU_IMG" "$1" "$2" <<'PY'
import json, subprocess, sys
def holes(f):
    out = subprocess.run([sys.argv[1], "map", "-f", "raw", "--output=json", f],
                         capture_output=True, text=True, check=True).stdout
    h = set()
    for e in json.loads(out):
        if not e["data"]:
            a = (e["start"] + 65535) // 65536
            h.update(range(a, (e["start"] + e["length"]) // 65536))
    return h
missing = sorted(holes(sys.argv[2]) - holes(sys.argv[3]))
if missing:
    print("# data where qemu-img left holes: 64 KiB units", missing[:10])
sys.exit(1 if missing else 0)
PY
}

# the chain of backing links from the image down
links()
{
	"$QEMU_IMG" info --backing-chain --output=json "$1" 2>&1 |
		grep -E '"backing-filename(-format)?"'
}

# commit_case DESC TARGET "FILES" ARGS...: FILES placed afresh (the last
# one the overlay), `commit ARGS` run by both tools; then TARGET must read
# as the overlay did, the overlay as before, and every image as qemu-img
# left its copy.  Quick runs judge each case's output, contents, checks
# and overlay map, and every third case's allocation, freed clusters and
# check report too (the costly part: several qemu-img maps and a python
# run for each image).
case_n=0
commit_case()
{
	local d=$1 target=$2 files=$3 top f deep= again=${again:-}
	shift 3
	top=${files##* }
	# under TSan (quick) the worker pool is the point: the commit, what the
	# target and the overlay read, the links; allocation and checks are
	# the release and ASan runs'
	tsan_build && again=1
	if [ -z "${again:-}" ]; then
		quick_pick $case_n && deep=1
		case_n=$((case_n + 1))
	fi
	whole && deep=1
	# shellcheck disable=SC2086
	place $files
	spawn "$QEMU_IMG" convert -O raw "$E/$top" "$R/before.raw"
	same "$d" commit "$@" || return
	ok "$d: $target reads as $top did" \
		contents_equal "$R/before.raw" "$G/$target"
	ok "$d: $top reads as before" contents_equal "$R/before.raw" "$G/$top"
	if whole || [ -z "${again:-}" ]; then
		for f in $files; do
			ok "$d: $f reads as qemu-img's" \
				contents_equal "$(alone "$E/$f")" "$(alone "$G/$f")"
			if [ -n "$deep" ]; then
				ok "$d: $f allocated as qemu-img's" \
					cmp -s <(map_shape "$(alone "$E/$f")" fold) \
					<(map_shape "$(alone "$G/$f")" fold)
				ok "$d: $f freed clusters leave the file as with qemu-img" \
					holes_kept "$E/$f" "$G/$f"
			fi
			case $f in
			*.qcow2) ok "$d: $f check clean" check_clean "$G/$f" ;;
			esac
		done
		ok "$d: $top map as qemu-img's" \
			cmp -s <(map_alone "$E/$top") <(map_alone "$G/$top")
	fi
	if [ -n "$deep" ]; then
		ok "$d: $top check report as qemu-img's" \
			cmp -s <(check_report "$E/$top") <(check_report "$G/$top")
	fi
	ok "$d: backing links as qemu-img's" \
		cmp -s <(cd "$E" && links "$top") <(cd "$G" && links "$top")
}

# commit_again DESC TARGET "FILES" ARGS...: commit_case for a commit an
# earlier case made with other options (the same images, the same result):
# quick runs judge its output, the target's and overlay's contents and the
# backing links only.
commit_again()
{
	local again=1
	commit_case "$@"
}

C3="base.qcow2 mid.qcow2 top.qcow2"
commit_case "into the backing file" mid.qcow2 "$C3" top.qcow2
commit_case "-b the bottom" base.qcow2 "$C3" -b base.qcow2 top.qcow2
commit_again "-b the backing file" mid.qcow2 "$C3" -b mid.qcow2 top.qcow2
commit_case "-d" mid.qcow2 "$C3" -d top.qcow2
commit_again "-q -t none -b" base.qcow2 "$C3" -q -t none -b base.qcow2 \
	top.qcow2
commit_again "-t writethrough" mid.qcow2 "$C3" -t writethrough top.qcow2
commit_case "two images" base.qcow2 "base.qcow2 top2.qcow2" top2.qcow2
commit_case "v2 overlay" base.qcow2 "base.qcow2 topv2.qcow2" topv2.qcow2
commit_case "extended L2 overlay" base.qcow2 "base.qcow2 topext.qcow2" \
	topext.qcow2
commit_case "lazy refcounts" base.qcow2 "base.qcow2 toplazy.qcow2" \
	toplazy.qcow2
commit_case "4 KiB clusters over 64 KiB" base.qcow2 \
	"base.qcow2 top4k.qcow2" top4k.qcow2
commit_case "64 KiB clusters over 512 bytes" base512.qcow2 \
	"base512.qcow2 top512.qcow2" top512.qcow2
commit_case "internal snapshots" base.qcow2 "base.qcow2 topsnap.qcow2" \
	topsnap.qcow2
commit_case "raw base" base.raw "base.raw topraw.qcow2" topraw.qcow2
commit_case "short base" short.qcow2 "short.qcow2 topshort.qcow2" \
	topshort.qcow2
commit_case "short base over a longer backing file" grown.qcow2 \
	"deep.qcow2 grown.qcow2 topg.qcow2" topg.qcow2
commit_case "-b past a short middle" base.qcow2 \
	"base.qcow2 midshort.qcow2 topms.qcow2" -b base.qcow2 topms.qcow2
commit_case "short middle" midshort.qcow2 \
	"base.qcow2 midshort.qcow2 topms.qcow2" topms.qcow2
commit_again "--image-opts" mid.qcow2 "$C3" --image-opts \
	driver=qcow2,file.filename=top.qcow2
commit_again "json: name, -b relative" base.qcow2 "$C3" -b ./base.qcow2 \
	'json:{"driver":"qcow2","file":{"filename":"top.qcow2"}}'
commit_case "large sparse v2" bigbase.qcow2 "bigbase.qcow2 bigtop.qcow2" \
	bigtop.qcow2

# the snapshot keeps its data
ok "internal snapshots: the snapshot list kept" \
	cmp -s <("$QEMU_IMG" snapshot -l "$E/topsnap.qcow2" | cut -c1-30) \
	<("$QEMU_IMG" snapshot -l "$G/topsnap.qcow2" | cut -c1-30)
spawn "$QEMU_IMG" convert -l s1 -O raw "$E/topsnap.qcow2" "$R/snap-e.raw"
spawn "$QEMU_IMG" convert -l s1 -O raw "$G/topsnap.qcow2" "$R/snap-g.raw"
ok "internal snapshots: the snapshot reads as before" \
	cmp -s "$R/snap-e.raw" "$R/snap-g.raw"
# zeros in the overlay become zeros, not the base's data showing
place base.qcow2 top2.qcow2
(cd "$G" && qimg commit -q top2.qcow2)
ok "zero clusters of the overlay read as zeros in the base" \
	"$QEMU_IO" -c 'read -q -P 0 6M 64k' "$G/base.qcow2"
ok "compressed cluster of the overlay in the base" \
	"$QEMU_IO" -c 'read -q -P 4 7M 64k' "$G/base.qcow2"
place short.qcow2 topshort.qcow2
(cd "$G" && qimg commit -q topshort.qcow2)
vsize()
{
	"$QEMU_IMG" info --output=json "$1" | grep '"virtual-size"'
}
ok "a short base grows to the overlay's size" \
	cmp -s <(vsize "$G/short.qcow2") <(vsize "$G/topshort.qcow2")

# relative names resolve against each overlay's directory, not the
# working directory
place sub/b.qcow2 sub/m.qcow2 sub/t.qcow2
same "-b relative to the overlay" commit -b m.qcow2 sub/t.qcow2
same "-b relative to the working directory" commit -b sub/m.qcow2 \
	sub/t.qcow2
# (an absolute name differs between the two directories: qimg alone)
(cd "$G" && qimg commit -q -b "$G/sub/b.qcow2" sub/t.qcow2)
ok "-b absolute: committed into the bottom" \
	"$QEMU_IO" -c 'read -q -P 9 0 64k' "$G/sub/b.qcow2"

# --- progress ----------------------------------------------------------
# qemu-img prints a nondeterministic number of updates (one per turn of
# its event loop): compare the first and the last ones, and the end.
norm_progress()
{
	tr '\r' '\n' | grep -v -E '^    \(([1-9][0-9]?\.[0-9]{2})/100%\)$' |
		uniq
}
NORM=norm_progress
commit_again "-p" mid.qcow2 "$C3" -p top.qcow2
same "-p -q" commit -p -q top.qcow2
same "-p, no backing file" commit -p base.qcow2
NORM=norm_size
place $C3
(cd "$G" && qimg commit -p top.qcow2) >"$R/prog"
percentages()
{
	tr '\r' '\n' <"$1" | sed -n 's/^    (\([0-9.]*\)\/100%)$/\1/p'
}
ok "-p: percentages only grow" sort -c -n <(percentages "$R/prog")

# --- rate limit ----------------------------------------------------------
# 3 MiB at 1 MiB/s: the first request goes at once, the other two wait
# for their second each (as qemu-img's job: 2 s here).  (Quick runs time
# qimg alone: the compared run sleeps 5 s in the two tools to print what
# every commit prints.)
if whole; then
	place base.qcow2 top3m.qcow2
	same "-r 1M" commit -r 1M top3m.qcow2
fi
place base.qcow2 top3m.qcow2
start=$(date +%s%N)
(cd "$G" && qimg commit -q -r 1M top3m.qcow2)
ms=$((($(date +%s%N) - start) / 1000000))
ok "-r 1M: 3 MiB take at least 2 s (${ms} ms)" test "$ms" -ge 1900

# --- arguments and failures ------------------------------------------------
while IFS= read -r args; do
	# (quick runs skip two rates refused with the same words as -r bogus
	# and -r 8E)
	case $args in
	"-r 1x "* | "-r 9223372036854775808 "*) whole || continue ;;
	esac
	place $C3 r.raw
	# shellcheck disable=SC2086
	same "commit $args" commit $args
	ok "commit $args: top unchanged" \
		cmp -s "$E/top.qcow2" "$G/top.qcow2"
done <<'EOF'
base.qcow2
-b nosuch.qcow2 top.qcow2
-b top.qcow2 top.qcow2
-b sub/base.qcow2 top.qcow2
-t bogus top.qcow2
-t bogus nosuch.qcow2
-r bogus top.qcow2
-r 1x top.qcow2
-r -1 top.qcow2
-r 9223372036854775808 top.qcow2
-r 8E top.qcow2
nosuch.qcow2

top.qcow2 base.qcow2
-x top.qcow2
--bogus top.qcow2
-b
-f raw top.qcow2
-f bogus top.qcow2
--object bogus top.qcow2
--image-opts -f qcow2 driver=qcow2,file.filename=top.qcow2
r.raw
-f raw r.raw
EOF
# (quick runs commit the small chain in sub/: 64 KiB go at once, where
# top.qcow2's megabytes sleep 2 s in each tool)
if whole; then
	place $C3
	same "-r 0x400k: warning, then committed" commit -r 0x400k top.qcow2
else
	place sub/b.qcow2 sub/m.qcow2 sub/t.qcow2
	same "-r 0x400k: warning, then committed" commit -r 0x400k sub/t.qcow2
fi
place $C3
same "-r 0" commit -r 0 -d top.qcow2

# a base that cannot be written
ro_json='json:{"driver":"qcow2","file":{"filename":"top.qcow2"},"backing":{"driver":"qcow2","file":{"driver":"file","filename":"mid.qcow2","read-only":true}}}'
place $C3
same "base file read-only=on" commit "$ro_json"
ok "base file read-only=on: mid unchanged" \
	cmp -s "pristine/mid.qcow2" "$G/mid.qcow2"
place $C3
same "base read-only=on gives way" commit \
	'json:{"driver":"qcow2","file":{"filename":"top.qcow2"},"backing":{"driver":"qcow2","read-only":true,"file":{"filename":"mid.qcow2"}}}'
ok "base read-only=on gives way: mid as qemu-img's" \
	contents_equal "$(alone "$E/mid.qcow2")" "$(alone "$G/mid.qcow2")"
place $C3
if chattr +i "$E/mid.qcow2" 2>/dev/null && chattr +i "$G/mid.qcow2"; then
	same "immutable base" commit top.qcow2
	chattr -i "$E/mid.qcow2" "$G/mid.qcow2"
	ok "immutable base: top unchanged" \
		cmp -s "pristine/top.qcow2" "$G/top.qcow2"
else
	skip "immutable base (chattr +i not possible here)"
	skip "immutable base: top unchanged"
fi

# a base another process holds
place $C3
holders=
hold()
{
	"$QEMU_IO" "$@" -c 'sleep 60000' >/dev/null 2>&1 &
	holders="$holders $!"
}
release()
{
	local p
	for p in $holders; do
		kill "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	holders=
}
at_exit release
hold -r "$E/mid.qcow2"
hold -r "$G/mid.qcow2"
sleep 1
same "base opened by a reader" commit top.qcow2
release
hold "$E/top.qcow2"
hold "$G/top.qcow2"
sleep 1
same "overlay opened by a writer" commit top.qcow2
release

# I/O errors: writing the base, reading the overlay, emptying it
# errjson EVENT ERRNO FILE: FILE's qcow2 over blkdebug failing every
# request after EVENT with ERRNO, or only the first with a fourth argument
errjson()
{
	printf 'json:{"driver":"qcow2","file":{"driver":"blkdebug","inject-error":[{"event":"%s","errno":%s%s}],"image":{"driver":"file","filename":"%s"}}}' \
		"$1" "$2" "${4:+,\"once\":true}" "$3"
}
for who in e g; do
	d=$T/$who
	spawn cp pristine/base.qcow2 "$d/wbase.qcow2"
	spawn "$QEMU_IMG" create -q -f qcow2 -F qcow2 \
		-b "$(errjson write_aio 28 "$d/wbase.qcow2" once)" "$d/wtop.qcow2"
	qio_w -c 'write -P 3 0 64k' "$d/wtop.qcow2"
done
same "write error in the base" commit wtop.qcow2
ok "write error in the base: overlay keeps its data" \
	"$QEMU_IO" -c 'read -q -P 3 0 64k' "$G/wtop.qcow2"
ok "write error in the base: base not corrupt" \
	check_no_corruption "$G/wbase.qcow2"
for ev in read_aio:5 l1_update:5 empty_image_prepare:5 \
	reftable_update:28 refblock_alloc:5; do
	place base.qcow2 top2.qcow2
	spawn "$QEMU_IMG" convert -O raw "$E/top2.qcow2" "$R/before.raw"
	same "error at ${ev%:*}" commit "$(errjson "${ev%:*}" "${ev#*:}" \
		top2.qcow2)"
	ok "error at ${ev%:*}: overlay reads as before" \
		contents_equal "$R/before.raw" "$G/top2.qcow2"
	ok "error at ${ev%:*}: overlay as qemu-img left it" \
		cmp -s <(check_report "$E/top2.qcow2" | grep -v -- -offset) \
		<(check_report "$G/top2.qcow2" | grep -v -- -offset)
done

# --- killed while copying ---------------------------------------------------
place base.qcow2 top3m.qcow2
spawn "$QEMU_IMG" convert -O raw "$G/top3m.qcow2" "$R/before.raw"
(cd "$G" && exec "$QIMG" commit -r 1M top3m.qcow2) >/dev/null 2>&1 &
pid=$!
sleep 1.5
kill -9 "$pid" 2>/dev/null
wait "$pid" 2>/dev/null
ok "killed while copying: overlay reads as before" \
	contents_equal "$R/before.raw" "$G/top3m.qcow2"
ok "killed while copying: base not corrupt" \
	check_no_corruption "$G/base.qcow2"
(cd "$G" && qimg commit -q top3m.qcow2)
ok "killed while copying: committed again, base reads as the overlay did" \
	contents_equal "$R/before.raw" "$G/base.qcow2"

done_testing
