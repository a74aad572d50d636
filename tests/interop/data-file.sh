#!/bin/bash
# SPDX-License-Identifier: MIT
# qcow2 external data files (data_file, data_file_raw) against qemu-img:
# create in every preallocation mode (both files byte for byte as qemu-img
# writes them, nothing left behind by a refused create), info, map, check,
# convert to and from such images, amend (a new name, no name, raw cleared),
# resize, snapshot, commit and rebase; images qemu-io writes read by qimg,
# images qimg writes read by qemu-io and passing qemu-img check/compare, a
# raw data file readable as a raw image; the errors of a missing or
# unwanted data file.  Data file names are relative to the working
# directory (as qemu-img opens them), so each tool works in its own
# directory on its own copy: E/ for qemu-img, G/ for qimg.
. "$(dirname "$0")/lib.sh"

fresh()
{
	spawn rm -rf "${E:?}"/* "${G:?}"/*
}

# in_both CMD...: run CMD (a set-up with the reference tools) in E/ and G/.
in_both()
{
	(cd "$E" && "$@" >/dev/null 2>&1) && (cd "$G" && "$@" >/dev/null 2>&1)
}

qcreate()
{
	spawn "$QEMU_IMG" create -q -f qcow2 "$@"
}

# same_files DESC FILE...: each FILE is byte-identical in E/ and G/ (or
# absent from both), and the directories hold the same names.
same_files()
{
	local d=$1 f bad=
	shift
	for f in "$@"; do
		if [ -e "$E/$f" ] || [ -e "$G/$f" ]; then
			spawn cmp -s "$E/$f" "$G/$f" || bad="$bad $f"
		fi
	done
	[ "$(cd "$E" && ls)" = "$(cd "$G" && ls)" ] || bad="$bad (file list)"
	if [ -z "$bad" ]; then
		pass "$d"
	else
		fail "$d"
		diag "differ:$bad"
		diag "qemu-img: $(cd "$E" && ls -l | tr '\n' ' ')"
		diag "qimg:     $(cd "$G" && ls -l | tr '\n' ' ')"
	fi
}

# in_g DESC CMD...: CMD (a reference tool) succeeds in G/.
in_g()
{
	local d=$1
	shift
	if (cd "$G" && "$@") >"$R/o" 2>&1; then
		pass "$d"
	else
		fail "$d"
		diag_file "$R/o"
	fi
}

clean_in_g()
{
	in_g "$1: qemu-img check" "$QEMU_IMG" check -q "$2"
}

# --- create --------------------------------------------------------------

for size in 1M 1100k; do
	for p in off metadata falloc full; do
		for raw in off on; do
			d="create $size preallocation=$p raw=$raw"
			fresh
			same "$d" create -f qcow2 \
				-o data_file=x.data,data_file_raw=$raw,preallocation=$p \
				x.qcow2 $size
			same_files "$d: files" x.qcow2 x.data
			clean_in_g "$d" x.qcow2
		done
	done
done
for o in cluster_size=512 cluster_size=2M extended_l2=on \
	extended_l2=on,preallocation=metadata refcount_bits=1 \
	lazy_refcounts=on compression_type=zstd; do
	fresh
	same "create with $o" create -f qcow2 -o data_file=x.data,$o x.qcow2 4M
	same_files "create with $o: files" x.qcow2 x.data
done
fresh
same "create: absolute data file name" create -f qcow2 \
	-o data_file="$T/abs.data" x.qcow2 1M
ok "create: absolute data file made" test -f "$T/abs.data"
fresh
spawn mkdir "$E/sub" "$G/sub"
same "create: image in a subdirectory" create -q -f qcow2 \
	-o data_file=x.data sub/x.qcow2 1M
same_files "create: the data file is relative to the working directory" \
	sub/x.qcow2 x.data

# Refused: same text and status, and no file left (qimg refuses before it
# creates anything).
for o in data_file_raw=on data_file=x.data,compat=0.10 \
	data_file=x.data,compat=0.10,data_file_raw=on \
	data_file=x.data,data_file_raw=on,backing_file=b.qcow2,backing_fmt=qcow2 \
	data_file=/nonexistent/x.data data_file= \
	data_file=x.data,extended_l2=on,compat=0.10 \
	data_file=x.data,lazy_refcounts=on,compat=0.10,data_file_raw=on \
	data_file=x.data,preallocation=bogus; do
	fresh
	in_both qcreate b.qcow2 1M
	same "create refused: $o" create -f qcow2 -o "$o" x.qcow2 1M
	same_files "create refused: $o: no file left" x.qcow2 x.data
done

# The image as its own data file: refused (qemu-img's locks refuse it and
# it prints a line of its own first), nothing left.
fresh
run_tool e create -q -f qcow2 -o data_file=x.qcow2 x.qcow2 1M
run_tool g create -q -f qcow2 -o data_file=x.qcow2 x.qcow2 1M
ok "create: the image as its own data file is refused" \
	test "$(cat "$R/g.rc")" = 1 -a "$(cat "$R/e.rc")" = 1
ok "create: the image as its own data file: qemu-img's lock message" \
	grep -q 'Failed to get shared "resize" lock' "$R/g.err"
same_files "create: the image as its own data file: nothing left" x.qcow2

# --- reading what qemu-io wrote -------------------------------------------

scribble()
{
	qcreate -o "data_file=x.data$1" x.qcow2 64M &&
		spawn "$QEMU_IO" -c 'write -P 0x11 1M 4M' -c 'discard 2M 2M' \
			-c 'write -z 3M 3M' -c 'write -P 0x22 0 64k' \
			-c 'write -z -u 8M 128k' -c 'write -P 0x33 9000k 5k' \
			x.qcow2
}

for raw in off on; do
	fresh
	in_both scribble ",data_file_raw=$raw"
	same "raw=$raw: info" info x.qcow2
	same "raw=$raw: info json" info --output=json x.qcow2
	same "raw=$raw: map" map x.qcow2
	same "raw=$raw: map json" map --output=json x.qcow2
	same "raw=$raw: check" check x.qcow2
	same "raw=$raw: check json" check --output=json x.qcow2
	same "raw=$raw: convert to raw" convert -O raw x.qcow2 out.raw
	same_files "raw=$raw: converted contents" out.raw
	same "raw=$raw: compare with its copy" compare x.qcow2 out.raw
	same "raw=$raw: image opts" compare --image-opts \
		"driver=qcow2,file.filename=x.qcow2,data-file.filename=x.data" \
		"driver=raw,file.filename=out.raw"
	same "raw=$raw: json name" map --output=json \
		'json:{"driver":"qcow2","file":{"filename":"x.qcow2"},"data-file":{"driver":"file","filename":"x.data"}}'
	same "raw=$raw: measure" measure -O qcow2 x.qcow2
	same "raw=$raw: measure with a data file" measure -O qcow2 \
		-o data_file=y.data x.qcow2
done
fresh
in_both scribble ",data_file_raw=on"
same "raw: the data file is the image" compare -f raw -F qcow2 x.data x.qcow2

# --- writing: convert into an image with a data file ----------------------

mksrc()
{
	qcreate src.qcow2 8M &&
		spawn "$QEMU_IO" -c 'write -P 0x11 0 1M' -c 'write -P 0x22 2M 64k' \
			-c 'write -P 0x33 3000k 1k' -c 'write -z 5M 1M' \
			src.qcow2
}

for o in "" ",data_file_raw=on" ",preallocation=metadata" \
	",preallocation=falloc" ",cluster_size=4k" ",extended_l2=on"; do
	d="convert -o data_file$o"
	fresh
	in_both mksrc
	same "$d" convert -O qcow2 -o "data_file=x.data$o" src.qcow2 x.qcow2
	same_files "$d: files" x.qcow2 x.data
	clean_in_g "$d" x.qcow2
	in_g "$d: qemu-img compare" "$QEMU_IMG" compare src.qcow2 x.qcow2
	in_g "$d: qemu-io reads it" "$QEMU_IO" -c 'read -P 0x11 0 1M' \
		-c 'read -P 0x22 2M 64k' -c 'read -P 0x33 3000k 1k' \
		-c 'read -P 0 5M 3M' x.qcow2
done
fresh
in_both mksrc
same "convert -c into a data file" convert -c -O qcow2 -o data_file=x.data \
	src.qcow2 x.qcow2
fresh
in_both mksrc
same "convert with compat=0.10" convert -O qcow2 \
	-o data_file=x.data,compat=0.10 src.qcow2 x.qcow2
same_files "convert with compat=0.10: nothing left" x.qcow2 x.data

# qimg writing into an existing raw-mode image: the data file stays a raw
# image of the same contents.
fresh
in_both mksrc
in_both qcreate -o data_file=x.data,data_file_raw=on x.qcow2 8M
same "convert -n into a raw data file" convert -n -O qcow2 src.qcow2 x.qcow2
same_files "convert -n into a raw data file: files" x.qcow2 x.data
in_g "raw data file reads as the source" "$QEMU_IMG" compare -f raw \
	-F qcow2 x.data src.qcow2
clean_in_g "convert -n into a raw data file" x.qcow2

# --- amend ------------------------------------------------------------------

amend_case()
{
	local cr=$1 d
	shift
	d="amend $* (created with $cr)"
	fresh
	in_both qcreate -o "$cr" x.qcow2 1M
	in_both "$QEMU_IO" -c 'write -P 1 0 64k' x.qcow2
	same "$d" amend "$@" x.qcow2
	same_files "$d: files" x.qcow2 x.data
	same "$d: info" info x.qcow2
}
amend_case data_file=x.data -o data_file=y.data
amend_case data_file=x.data -o data_file=
amend_case data_file=x.data -o data_file="$T/abs.data"
amend_case data_file=x.data -o data_file_raw=on
amend_case data_file=x.data -o data_file_raw=off
amend_case data_file=x.data,data_file_raw=on -o data_file_raw=off
amend_case data_file=x.data,data_file_raw=on -o data_file_raw=on
amend_case data_file=x.data -o data_file=y.data,data_file_raw=on
amend_case data_file=x.data,data_file_raw=on -o data_file=y.data,data_file_raw=off
amend_case data_file=x.data -o compat=0.10
amend_case data_file=x.data,data_file_raw=on -o data_file_raw=off,compat=0.10
amend_case data_file=x.data -o size=2M
amend_case data_file=x.data,data_file_raw=on -o size=3M
amend_case data_file=x.data -o refcount_bits=1
amend_case data_file=x.data -o lazy_refcounts=on
amend_case data_file=x.data -o backing_file=foo
amend_case data_file=x.data -o data_file=y.data,lazy_refcounts=on,refcount_bits=64,size=4M
amend_case compat=1.1 -o data_file=y.data
amend_case compat=1.1 -o data_file_raw=on

# Without a name the image needs the data-file option (iotest 061).
fresh
in_both qcreate -o data_file=x.data x.qcow2 1M
in_both "$QEMU_IO" -c 'write -P 7 0 64k' x.qcow2
in_both "$QEMU_IMG" amend -o data_file= x.qcow2
same "no name: check" check x.qcow2
same "no name: info" info x.qcow2
same "no name: info with the option" info --image-opts \
	file.filename=x.qcow2,data-file.filename=x.data
same "no name: check with the option" check --image-opts \
	file.filename=x.qcow2,data-file.filename=x.data
same "no name: amend a new name through the option" amend \
	-o data_file=x.data --image-opts \
	file.filename=x.qcow2,data-file.filename=x.data
same_files "no name: amend a new name: files" x.qcow2 x.data
in_g "no name: the new name opens" "$QEMU_IO" -c 'read -P 7 0 64k' x.qcow2

# --- missing or unwanted data files ------------------------------------------

fresh
in_both qcreate -o data_file=x.data x.qcow2 1M
in_both rm x.data
same "missing: info" info x.qcow2
same "missing: check" check x.qcow2
same "missing: map" map x.qcow2
same "missing: convert" convert -O raw x.qcow2 out.raw
same_files "missing: convert leaves nothing" out.raw
same "missing: other name in the options" check --image-opts \
	file.filename=x.qcow2,data-file.filename=nonexistent
fresh
in_both qcreate x.qcow2 1M
in_both touch x.data
same "unwanted: check" check --image-opts \
	file.filename=x.qcow2,data-file.filename=x.data
same "unwanted, missing: check" check --image-opts \
	file.filename=x.qcow2,data-file.filename=nonexistent
same "unwanted: info" info --image-opts \
	file.filename=x.qcow2,data-file.filename=nonexistent
# Feature bits set by hand: raw without a data file; a data file without a
# name.
setbits()
{
	qcreate x.qcow2 1M &&
		printf "$1" | dd of=x.qcow2 bs=1 seek="$2" conv=notrunc
}
fresh
in_both setbits '\0\0\0\0\0\0\0\2' 88
same "raw bit alone: info" info x.qcow2
same "raw bit alone: check" check x.qcow2
fresh
in_both setbits '\0\0\0\0\0\0\0\4' 72
same "data file bit alone: info json" info --output=json x.qcow2
same "data file bit alone: check" check x.qcow2
# A stored name is a file name: neither json: nor a protocol is parsed.
fresh
in_both qcreate -o data_file=x.data x.qcow2 1M
in_both "$QEMU_IMG" amend \
	-o 'data_file=json:{"driver":"file",,"filename":"x.data"}' x.qcow2
same "json: stored name is a file name" check x.qcow2

# --- resize -------------------------------------------------------------------

resize_case()
{
	local cr=$1 d
	shift
	d="resize $* (created with $cr${TRUNC:+, data file $TRUNC})"
	fresh
	in_both qcreate -o "$cr" x.qcow2 1M
	[ -n "${TRUNC:-}" ] && in_both truncate -s "$TRUNC" x.data
	in_both "$QEMU_IO" -c 'write -P 1 0 64k' -c 'write -P 2 700k 64k' \
		x.qcow2
	same "$d" resize "$@" x.qcow2
	same_files "$d: files" x.qcow2 x.data
	clean_in_g "$d" x.qcow2
}
for raw in off on; do
	c=data_file=x.data,data_file_raw=$raw
	resize_case $c 2M
	resize_case $c 1100k
	resize_case $c --shrink 512k
	resize_case $c --shrink 1000k
	resize_case $c 1000k
	for p in metadata falloc full; do
		resize_case $c --preallocation=$p 2M
		resize_case $c --preallocation=$p 1100k
		TRUNC=4M resize_case $c --preallocation=$p 1100k
	done
	TRUNC=4M resize_case $c 2M
done
# iotest 244: data appended to a raw data file shows after growing.
fresh
in_both qcreate -o data_file=x.data,data_file_raw=on x.qcow2 1M
in_both truncate -s 2M x.data
in_both "$QEMU_IO" -f raw -c 'write -P 84 1M 1M' x.data
same "raw: grown over written data" resize x.qcow2 2M
same "raw: grown over written data: compare" compare -f raw x.data x.qcow2

# --- snapshots, commit, rebase --------------------------------------------

fresh
in_both qcreate -o data_file=x.data x.qcow2 1M
same "snapshot -c refused" snapshot -c s1 x.qcow2
same "snapshot -a refused" snapshot -a s1 x.qcow2
same "snapshot -l" snapshot -l x.qcow2
same_files "snapshots: image unchanged" x.qcow2 x.data

chain()
{
	qcreate -o data_file=b.data b.qcow2 4M &&
		spawn "$QEMU_IO" -c 'write -P 1 0 1M' b.qcow2 &&
		qcreate -b b.qcow2 -F qcow2 -o data_file=t.data t.qcow2 &&
		spawn "$QEMU_IO" -c 'write -P 2 512k 1M' -c 'write -z 3M 64k' t.qcow2 &&
		qcreate n.qcow2 4M &&
		spawn "$QEMU_IO" -c 'write -P 3 1M 2M' n.qcow2
}
fresh
in_both chain
same "chain: map" map t.qcow2
same "chain: map json" map --output=json t.qcow2
same "chain: info --backing-chain" info --backing-chain t.qcow2
same "chain: rebase" rebase -b n.qcow2 -F qcow2 t.qcow2
same_files "chain: rebase: files" t.qcow2 t.data b.qcow2 b.data
same "chain: rebase -u" rebase -u -b b.qcow2 -F qcow2 t.qcow2
same "chain: commit" commit t.qcow2
same_files "chain: commit: files" t.qcow2 t.data b.qcow2 b.data
clean_in_g "chain: commit: top" t.qcow2
clean_in_g "chain: commit: base" b.qcow2
same "chain: convert -n -C" convert -n -C -O qcow2 n.qcow2 t.qcow2
same "chain: compare after convert -n" compare n.qcow2 t.qcow2
fresh
in_both qcreate -o data_file=x.data x.qcow2 1M
in_both qcreate -b x.qcow2 -F qcow2 t.qcow2
in_both "$QEMU_IO" -c 'write -P 5 0 128k' t.qcow2
same "commit into a data file image" commit t.qcow2
same_files "commit into a data file image: files" x.qcow2 x.data t.qcow2
clean_in_g "commit into a data file image" x.qcow2

# --- locks: the data file is locked as qemu-img locks it -------------------

pids=
kill_helpers()
{
	local p
	for p in $pids; do
		kill "$p" 2>/dev/null
	done
	wait 2>/dev/null
}
at_exit kill_helpers
qcreate -o data_file="$T/lk.data" lk.qcow2 1M
spawn cp lk.qcow2 other.qcow2
"$QEMU_IO" -c 'sleep 600000' other.qcow2 >/dev/null 2>&1 &
pids="$pids $!"
ino=$(stat -c %i lk.data)
for _ in $(seq 1 100); do
	grep -q ":$ino 100 101\$" /proc/locks 2>/dev/null && break
	sleep 0.1
done
same "data file in use elsewhere: check" check ../lk.qcow2
same "data file in use elsewhere: check -U" check -U ../lk.qcow2
same "data file in use elsewhere: map" map --output=json ../lk.qcow2
same "data file in use elsewhere: resize" resize ../lk.qcow2 2M
same "data file in use elsewhere: amend" amend -o lazy_refcounts=on ../lk.qcow2
kill_helpers
pids=
same "data file free again: resize" resize ../lk.qcow2 2M

# A data file on NBD: an export cannot grow, so an image larger than it
# is refused in qemu-img's words (and qimg leaves no half-made image, where
# qemu-img leaves one); one it holds is made and read.
QEMU_NBD=${QEMU_NBD:-qemu-nbd}
if command -v "$QEMU_NBD" >/dev/null 2>&1; then
	spawn truncate -s 1M nbd-data.raw
	NS=$T/data.sock
	"$QEMU_NBD" -t -k "$NS" -f raw nbd-data.raw &
	pids="$pids $!"
	wait_sock "$NS"
	ND="nbd+unix:///?socket=$NS"
	run_tool e create -f qcow2 -o data_file="$ND" big.qcow2 2M
	run_tool g create -f qcow2 -o data_file="$ND" big.qcow2 2M
	ok "data file on NBD, larger image: qemu-img's error" \
		grep -qx "qemu-img: big.qcow2: Could not resize image: Cannot grow NBD nodes" "$R/e.err"
	ok "data file on NBD, larger image: qimg's error" \
		grep -qx "qimg: big.qcow2: Could not resize image: Cannot grow NBD nodes" "$R/g.err"
	ok "data file on NBD, larger image: no image left" test ! -e "$G/big.qcow2"
	same "data file on NBD, smaller image" create -f qcow2 -o data_file="$ND" small.qcow2 512K
	# qemu-img writes an empty name (docs/DIFFERENCES.md); qimg the one given
	ok "data file on NBD: qimg's image names the export" grep -qxF \
		"    data file: $ND" <("$QEMU_IMG" info "$G/small.qcow2")
	NJ="\"data-file\":{\"driver\":\"nbd\",\"server\":{\"type\":\"unix\",\"path\":\"$NS\"}}"
	same "data file on NBD, smaller image: map with the data file's options" \
		map --output=json "json:{\"driver\":\"qcow2\",\"file\":{\"driver\":\"file\",\"filename\":\"small.qcow2\"},$NJ}"
	same "data file on NBD, raw, preallocated" create -f qcow2 \
		-o data_file="$ND",data_file_raw=on,preallocation=full full.qcow2 1M
	same "data file on NBD, raw, preallocated: check" \
		check "json:{\"driver\":\"qcow2\",\"file\":{\"driver\":\"file\",\"filename\":\"full.qcow2\"},$NJ}"
	ok "data file on NBD, raw, preallocated: qemu-img check of qimg's" \
		"$QEMU_IMG" check -q "json:{\"driver\":\"qcow2\",\"file\":{\"driver\":\"file\",\"filename\":\"$G/full.qcow2\"},$NJ}"
	kill_helpers
	pids=
elif [ "${CI:-}" = true ]; then
	fail "data file on NBD: qemu-nbd is needed"
else
	skip "data file on NBD: no qemu-nbd"
fi

done_testing
