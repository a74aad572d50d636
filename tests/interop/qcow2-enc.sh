#!/bin/bash
# SPDX-License-Identifier: MIT
# Encrypted qcow2 and qcow against qemu-img 7.2: legacy AES (crypt_method
# 1: create byte for byte, data qemu-io writes read by qimg and the
# reverse), qcow2 encrypt.format=luks (create with the encrypt.* options,
# the LUKS area and the header as qemu-img lays them out apart from the
# random fields, data both ways, copy-on-write over backing files and
# zeros, check, map, measure, resize, snapshots, amend of key slots both
# ways), --object secret and --image-opts / json: in every command, and the
# refusals (missing secret, unknown secret, wrong passphrase, compression)
# with qemu-img's one line, the file left unchanged.  Key derivation is
# kept short (iter-time=10).
. "$(dirname "$0")/lib.sh"

SEC="--object secret,id=s,data=astrochicken"
SEC2="--object secret,id=t,data=furby"
BAD="--object secret,id=s,data=wrong"

fresh()
{
	rm -rf "${E:?}"/* "${G:?}"/*
}

# in_both CMD...: run CMD (a set-up with the reference tools) in E/ and G/.
in_both()
{
	(cd "$E" && "$@" >/dev/null 2>&1) && (cd "$G" && "$@" >/dev/null 2>&1)
}

# spec DRIVER FILE [SECRET]: --image-opts text for an encrypted image.
spec()
{
	printf 'driver=%s,file.filename=%s,encrypt.key-secret=%s' "$1" "$2" \
		"${3:-s}"
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

# equal_in_g DESC SPEC1 SPEC2 [objects]: qemu-img compare (image opts) of
# two images in G/.
equal_in_g()
{
	local d=$1 a=$2 b=$3
	shift 3
	in_g "$d: qemu-img compare" "$QEMU_IMG" compare -q $SEC $SEC2 "$@" \
		--image-opts "$a" "$b"
}

# both_equal DESC FILE DRIVER [SECRET]: E/FILE and G/FILE hold the same
# guest data (each tool's copy after the same command).
both_equal()
{
	local d=$1 f=$2 drv=$3 k=${4:-s}
	if "$QEMU_IMG" compare -q $SEC $SEC2 --image-opts \
		"$(spec "$drv" "$E/$f" "$k")" "$(spec "$drv" "$G/$f" "$k")" \
		>"$R/o" 2>&1; then
		pass "$d: same data as qemu-img's"
	else
		fail "$d: same data as qemu-img's"
		diag_file "$R/o"
	fi
}

# refused DESC FILE ARGS...: qimg and qemu-img both fail the same way (one
# stderr line, same status) and FILE (in G/) is left as it was.
refused()
{
	local d=$1 f=$2 sum
	shift 2
	sum=$(cksum <"$G/$f")
	same "$d" "$@"
	if [ "$(wc -l <"$R/g.err")" = 1 ]; then
		pass "$d: one line"
	else
		fail "$d: one line"
		diag_file "$R/g.err"
	fi
	unchanged "$d" "$G/$f" "$sum"
}

mkpattern in.raw 1024

# --- legacy AES: create -------------------------------------------------

for fmt in qcow2 qcow; do
	fresh
	same "$fmt aes: create" create $SEC -f $fmt \
		-o encrypt.format=aes,encrypt.key-secret=s x.$fmt 16M
	same_file "$fmt aes: create" x.$fmt
	fresh
	same "$fmt aes: create encryption=on" create $SEC -f $fmt \
		-o encryption=on,encrypt.key-secret=s x.$fmt 1M
	same_file "$fmt aes: encryption=on" x.$fmt
	same "$fmt aes: info" info x.$fmt
	same "$fmt aes: info json" info --output=json x.$fmt
	same "$fmt aes: info json image-opts" info $SEC --output=json \
		--image-opts "$(spec $fmt x.$fmt)"
	for o in encryption=on encrypt.format=aes,encrypt.key-secret=nosuch \
		encryption=on,encrypt.format=aes,encrypt.key-secret=s \
		encrypt.key-secret=s; do
		fresh
		same "$fmt aes: create -o $o refused" create $SEC -f $fmt -o "$o" \
			y.$fmt 1M
	done
done
same "qcow: luks refused" create $SEC -f qcow \
	-o encrypt.format=luks,encrypt.key-secret=s y.qcow 1M
fresh
same "qcow2 aes: luks-only option refused" create $SEC -f qcow2 \
	-o encrypt.format=aes,encrypt.key-secret=s,encrypt.cipher-alg=aes-128 \
	y.qcow2 1M
same "qcow2 aes: v2" create $SEC -f qcow2 \
	-o encrypt.format=aes,encrypt.key-secret=s,compat=0.10 x.qcow2 1M
same_file "qcow2 aes: v2" x.qcow2
same "qcow2: compression and encryption" convert -c $SEC -O qcow2 \
	-o encrypt.format=aes,encrypt.key-secret=s ../in.raw c.qcow2

# --- legacy AES: data both ways -----------------------------------------

for fmt in qcow2 qcow; do
	fresh
	"$QEMU_IMG" create -q $SEC -f $fmt -o encrypt.format=aes,encrypt.key-secret=s \
		a.$fmt 1M
	"$QEMU_IO" $SEC --image-opts "$(spec $fmt a.$fmt)" \
		-c 'write -P 0x5a 0 64k' -c 'write -P 0x33 100k 3k' \
		-c 'write -z 300k 64k' >/dev/null
	cp a.$fmt "$E/" && cp a.$fmt "$G/"
	A=$(spec $fmt a.$fmt)
	same "$fmt aes: convert to raw" convert $SEC --image-opts "$A" \
		-O raw out.raw
	same_file "$fmt aes: convert to raw" out.raw
	same "$fmt aes: check" check $SEC --image-opts "$A"
	same "$fmt aes: map json" map $SEC --output=json --image-opts "$A"
	same "$fmt aes: map" map $SEC --image-opts "$A"
	same "$fmt aes: compare with raw" compare $SEC --image-opts "$A" \
		driver=raw,file.filename=out.raw
	same "$fmt aes: json: name" info $SEC \
		"json:{\"driver\":\"$fmt\",\"file\":{\"filename\":\"a.$fmt\"},\"encrypt\":{\"key-secret\":\"s\"}}"
	same "$fmt aes: missing secret" convert -O raw a.$fmt o2.raw
	same "$fmt aes: unknown secret" convert $SEC --image-opts \
		"$(spec $fmt a.$fmt nosuch)" -O raw o2.raw
	same "$fmt aes: format mismatch" info $SEC --image-opts \
		"$A,encrypt.format=luks"
	# qimg writes, qemu-io reads
	same "$fmt aes: convert from raw" convert $SEC -O $fmt \
		-o encrypt.format=aes,encrypt.key-secret=s ../in.raw w.$fmt
	both_equal "$fmt aes: convert from raw" w.$fmt $fmt
	in_g "$fmt aes: qimg's image is in.raw for qemu-img" "$QEMU_IMG" \
		compare -q $SEC --image-opts "$(spec $fmt w.$fmt)" \
		driver=raw,file.filename=../in.raw
	[ $fmt = qcow2 ] &&
		in_g "$fmt aes: qemu-img check" "$QEMU_IMG" check -q $SEC \
			--image-opts "$(spec $fmt w.$fmt)"
done

# --- chains: every command with --image-opts and secrets ------------------

# chain_spec FMT: the top image over its base, each with its own key.
chain_spec()
{
	printf '%s,backing.driver=%s,backing.file.filename=base.%s,backing.encrypt.key-secret=s' \
		"$(spec "$1" top."$1" t)" "$1" "$1"
}

# both_chain DESC FMT: top over base (both tools' copies) read the same.
both_chain()
{
	local d=$1 f=$2 a b
	a=$(cd "$E" && chain_spec "$f")
	b=$(cd "$G" && chain_spec "$f")
	if (cd "$E" && "$QEMU_IMG" convert $SEC $SEC2 --image-opts "$a" \
		-O raw "$R/e.raw") >"$R/o" 2>&1 &&
		(cd "$G" && "$QEMU_IMG" convert $SEC $SEC2 --image-opts "$b" \
			-O raw "$R/g.raw") >>"$R/o" 2>&1 &&
		cmp -s "$R/e.raw" "$R/g.raw"; then
		pass "$d: the chain reads as qemu-img's"
	else
		fail "$d: the chain reads as qemu-img's"
		diag_file "$R/o"
	fi
}

# chain FMT BASEOPTS TOPOPTS: a base written by qemu-io and a top over it,
# with different keys; then each command in both tools on their copies.
chain()
{
	local f=$1 bo=$2 to=$3 C
	fresh
	"$QEMU_IMG" create -q $SEC -f "$f" -o "$bo" base.$f 1M
	"$QEMU_IO" $SEC --image-opts "$(spec "$f" base.$f)" \
		-c 'write -P 0x5a 0 1M' -c 'write -z 256k 128k' >/dev/null
	"$QEMU_IMG" create -q $SEC2 -f "$f" -o "$to" -b base.$f -F "$f" \
		top.$f
	cp base.$f top.$f "$E/" && cp base.$f top.$f "$G/"
	rm -f base.$f top.$f
	C=$(chain_spec "$f")
	same "$f $bo: info --backing-chain" info --backing-chain top.$f
	same "$f $bo: info image-opts" info $SEC $SEC2 --image-opts "$C"
	# partial clusters written over the backing file (copy-on-write)
	same "$f $bo: bench -w" bench $SEC $SEC2 -w -c 7 -s 3k -S 40k \
		-o 1536 --pattern=0x77 --image-opts "$C"
	both_chain "$f $bo: bench -w" "$f"
	same "$f $bo: check" check $SEC $SEC2 --image-opts "$C"
	same "$f $bo: map" map $SEC $SEC2 --output=json --image-opts "$C"
	same "$f $bo: compare" compare $SEC $SEC2 --image-opts "$C" "$C"
	same "$f $bo: measure" measure $SEC $SEC2 -O raw --image-opts "$C"
	same "$f $bo: convert from" convert $SEC $SEC2 --image-opts "$C" \
		-O raw out.raw
	same_file "$f $bo: convert from" out.raw
	same "$f $bo: dd" dd $SEC $SEC2 --image-opts if="$C" of=dd.raw bs=64k \
		count=5 skip=1
	same_file "$f $bo: dd" dd.raw
	same "$f $bo: resize" resize $SEC $SEC2 --image-opts "$C" 2M
	both_chain "$f $bo: resize" "$f"
	if [ "$f" = qcow2 ]; then
		same "$f $bo: amend" amend $SEC $SEC2 --image-opts "$C" \
			-o lazy_refcounts=on
		same "$f $bo: snapshot -c" snapshot $SEC $SEC2 -c s1 \
			--image-opts "$C"
		same "$f $bo: snapshot -l" snapshot $SEC $SEC2 -l \
			--image-opts "$C"
		same "$f $bo: snapshot -a" snapshot $SEC $SEC2 -a s1 \
			--image-opts "$C"
		same "$f $bo: snapshot -d" snapshot $SEC $SEC2 -d s1 \
			--image-opts "$C"
	fi
	same "$f $bo: rebase onto nothing" rebase $SEC $SEC2 -b '' \
		--image-opts "$C"
	# (qcow cannot change its backing file)
	[ "$f" = qcow2 ] || return 0
	both_equal "$f $bo: rebase" top.$f "$f" t
	same "$f $bo: check after rebase" check $SEC2 --image-opts \
		"$(spec "$f" top.$f t)"
	# commit back into the base (the top rewritten over it first)
	for d in "$E" "$G"; do
		(cd "$d" && "$QEMU_IMG" rebase $SEC2 -u -b base.$f -F "$f" \
			--image-opts "$(spec "$f" top.$f t)" &&
			"$QEMU_IO" $SEC $SEC2 --image-opts "$(chain_spec "$f")" \
				-c 'write -P 0x21 4096 70000' >/dev/null)
	done
	same "$f $bo: commit" commit $SEC $SEC2 --image-opts "$C"
	both_equal "$f $bo: commit" base.$f "$f"
	same "$f $bo: wrong key for the base" check $BAD $SEC2 \
		--image-opts "$C"
}

chain qcow2 encrypt.format=aes,encrypt.key-secret=s \
	encrypt.format=aes,encrypt.key-secret=t
chain qcow encrypt.format=aes,encrypt.key-secret=s \
	encrypt.format=aes,encrypt.key-secret=t

done_testing
