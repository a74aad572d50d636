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
command -v python3 >/dev/null || skip_all "python3 not found"

SEC="--object secret,id=s,data=astrochicken"
SEC2="--object secret,id=t,data=furby"
BAD="--object secret,id=s,data=wrong"

fresh()
{
	spawn rm -rf "${E:?}"/* "${G:?}"/*
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
	if spawn "$QEMU_IMG" compare -q $SEC $SEC2 --image-opts \
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

# qemu-img's LUKS key derivation sometimes fails on this kernel ("Unable to
# get accurate CPU usage", iotests README): its runs are retried.
FLAKE='Unable to get accurate CPU usage'
retry_qemu_img_flake

# same_luks DESC ARGS...: same, qemu-img's run repeated while it flakes.
same_luks()
{
	local d=$1 i
	shift
	for i in 1 2 3 4 5; do
		run_tool e "$@"
		grep -q "$FLAKE" "$R/e.err" || break
		spawn rm -f "$E"/*.qcow2.tmp
	done
	same_from_e "$d" "$@"
}

# ref CMD...: a reference tool's set-up step, retried while qemu-img's
# LUKS key derivation flakes.
ref()
{
	local i
	for i in 1 2 3 4 5; do
		"$@" >"$R/ref" 2>&1 && return 0
		grep -q "$FLAKE" "$R/ref" || break
	done
	diag_file "$R/ref"
	return 1
}

# luks_same DESC FILE: E/FILE and G/FILE are equal byte for byte except for
# what LUKS makes random: the UUID, the master key digest, salts and
# iteration counts, and the active key slots' material.
luks_same()
{
	if python3 - "$E/$2" "$G/$2" >"$R/o" 2>&1 <<'PY'; then
import struct, sys
a, b = (open(f, "rb").read() for f in sys.argv[1:3])
if len(a) != len(b):
    sys.exit("lengths %d %d" % (len(a), len(b)))
def area(d):
    # the crypto header extension of a qcow2 image
    off = struct.unpack(">I", d[100:104])[0] if d[4:8] == b"\0\0\0\3" else 72
    while off + 8 <= 65536:
        t, l = struct.unpack(">II", d[off:off + 8])
        if t == 0:
            break
        if t == 0x0537BE77:
            return struct.unpack(">Q", d[off + 8:off + 16])[0]
        off += 8 + (l + 7) // 8 * 8
    sys.exit("no crypto extension")
o = area(a)
if o != area(b):
    sys.exit("LUKS areas at %d and %d" % (o, area(b)))
skip = [(o + 112, o + 208)]
kb = struct.unpack(">I", a[o + 108:o + 112])[0]
for k in range(8):
    s = o + 208 + 48 * k
    skip.append((s + 4, s + 40))
    if struct.unpack(">I", a[s:s + 4])[0] == 0x00AC71F3:
        km, st = struct.unpack(">II", a[s + 40:s + 48])
        skip.append((o + km * 512, o + km * 512 + kb * st))
m = bytearray(a), bytearray(b)
for lo, hi in skip:
    for x in m:
        x[lo:hi] = bytes(hi - lo)
if m[0] != m[1]:
    i = next(i for i in range(len(a)) if m[0][i] != m[1][i])
    sys.exit("differ at %#x" % i)
PY
		pass "$1: $2 is qemu-img's apart from random fields"
	else
		fail "$1: $2 is qemu-img's apart from random fields"
		diag_file "$R/o"
	fi
}

mkpattern in.raw 1024

# --- legacy AES: create -------------------------------------------------

j=0
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
		# (make check: each refusal once, half of them for each format)
		j=$((j + 1))
		whole || [ $((j % 2)) = $((j > 4)) ] || continue
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
	spawn "$QEMU_IMG" create -q $SEC -f $fmt -o encrypt.format=aes,encrypt.key-secret=s \
		a.$fmt 1M
	spawn "$QEMU_IO" $SEC --image-opts "$(spec $fmt a.$fmt)" \
		-c 'write -P 0x5a 0 64k' -c 'write -P 0x33 100k 3k' \
		-c 'write -z 300k 64k' >/dev/null
	spawn cp a.$fmt "$E/" && spawn cp a.$fmt "$G/"
	A=$(spec $fmt a.$fmt)
	same "$fmt aes: convert to raw" convert $SEC --image-opts "$A" \
		-O raw out.raw
	same_file "$fmt aes: convert to raw" out.raw
	same "$fmt aes: check" check $SEC --image-opts "$A"
	same "$fmt aes: map json" map $SEC --output=json --image-opts "$A"
	# (make check: these read-only ones of the qcow2 image alone)
	if whole || [ $fmt = qcow2 ]; then
		same "$fmt aes: map" map $SEC --image-opts "$A"
		same "$fmt aes: compare with raw" compare $SEC --image-opts "$A" \
			driver=raw,file.filename=out.raw
		same "$fmt aes: json: name" info $SEC \
			"json:{\"driver\":\"$fmt\",\"file\":{\"filename\":\"a.$fmt\"},\"encrypt\":{\"key-secret\":\"s\"}}"
	fi
	same "$fmt aes: missing secret" convert -O raw a.$fmt o2.raw
	whole || [ $fmt = qcow2 ] &&
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
	if spawn -C "$E" "$QEMU_IMG" convert $SEC $SEC2 --image-opts "$a" \
		-O raw "$R/e.raw" >"$R/o" 2>&1 &&
		spawn -C "$G" "$QEMU_IMG" convert $SEC $SEC2 --image-opts "$b" \
			-O raw "$R/g.raw" >>"$R/o" 2>&1 &&
		spawn cmp -s "$R/e.raw" "$R/g.raw"; then
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
	spawn "$QEMU_IMG" create -q $SEC -f "$f" -o "$bo" base.$f 1M
	spawn "$QEMU_IO" $SEC --image-opts "$(spec "$f" base.$f)" \
		-c 'write -P 0x5a 0 1M' -c 'write -z 256k 128k' >/dev/null
	spawn "$QEMU_IMG" create -q $SEC2 -f "$f" -o "$to" -b base.$f -F "$f" \
		top.$f
	ok "$f $bo: the chain was made" cp base.$f top.$f "$E/"
	spawn cp base.$f top.$f "$G/"
	spawn rm -f base.$f top.$f
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
		NORM=norm_date same "$f $bo: snapshot -l" snapshot $SEC $SEC2 -l \
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
		(cd "$d" && spawn "$QEMU_IMG" rebase $SEC2 -u -b base.$f -F "$f" \
			--image-opts "$(spec "$f" top.$f t)" &&
			spawn "$QEMU_IO" $SEC $SEC2 --image-opts "$(chain_spec "$f")" \
				-c 'write -P 0x21 4096 70000' >/dev/null)
	done
	same "$f $bo: commit" commit $SEC $SEC2 --image-opts "$C"
	both_equal "$f $bo: commit" base.$f "$f"
	same "$f $bo: wrong key for the base" check $BAD $SEC2 \
		--image-opts "$C"
}

chain qcow2 encrypt.format=aes,encrypt.key-secret=s \
	encrypt.format=aes,encrypt.key-secret=t
# (make check: the qcow2 chain alone; qcow's encryption is read and
# written above)
whole && chain qcow encrypt.format=aes,encrypt.key-secret=s \
	encrypt.format=aes,encrypt.key-secret=t

# --- LUKS: create -------------------------------------------------------
# (qemu-img 7.2 aborts on 192-bit keys outside xts: their key material is
# not a whole number of sectors; the matrix leaves them out.)

# info with what LUKS makes random (UUID, iteration counts) masked.
norm_luks()
{
	sed -e 's/^\(\( *\)disk size: \).*/\1X/' \
		-e 's/^\( *"actual-size": \)[0-9]*/\1X/' \
		-e 's/\(uuid"*: "*\)[-0-9a-f]*/\1UUID/' \
		-e 's/\(iters"*: \)[0-9]*/\1N/'
}

L="encrypt.format=luks,encrypt.key-secret=s,encrypt.iter-time=10"
i=0
for c in "" cipher-alg=aes-128 cipher-alg=aes-192,cipher-mode=xts,ivgen-alg=essiv \
	cipher-alg=aes-128,cipher-mode=cbc,ivgen-alg=plain,hash-alg=sha1 \
	cipher-alg=serpent-256,cipher-mode=xts,hash-alg=sha512 \
	cipher-alg=twofish-128,cipher-mode=cbc,ivgen-alg=essiv,ivgen-hash-alg=sha1 \
	cipher-alg=cast5-128,cipher-mode=cbc,ivgen-alg=plain64 \
	cipher-alg=cast5-128,cipher-mode=xts \
	cipher-alg=aes-256,cipher-mode=ctr,hash-alg=sha384 \
	cipher-alg=aes-256,cipher-mode=ecb \
	cipher-alg=aes-128,cipher-mode=cbc,ivgen-alg=plain64,ivgen-hash-alg=md5 \
	cipher-alg=serpent-192,cipher-mode=xts,ivgen-alg=essiv,ivgen-hash-alg=sha256 \
	cipher-alg=twofish-256,hash-alg=ripemd160 cipher-alg=bogus \
	cipher-alg=aes-256,ivgen-alg=essiv,ivgen-hash-alg=sha512; do
	i=$((i + 1))
	# (make check: the sixth alone, a key size both tools refuse.  Each
	# LUKS create costs qemu-img two key derivation benchmarks, over 2 s
	# of processor time; the images below have the default cipher, and
	# luks.sh's sample reads and writes the others.)
	whole || [ "$i" = 6 ] || continue
	o=$L${c:+,encrypt.${c//,/,encrypt.}}
	fresh
	same_luks "luks $c: create" create $SEC -f qcow2 -o "$o" x.qcow2 4M
	[ -e "$G/x.qcow2" ] || continue
	luks_same "luks $c" x.qcow2
	NORM=norm_luks
	same "luks $c: info" info x.qcow2 --output=json
	# qemu-io writes into qimg's image, qimg reads it; and the reverse
	in_g "luks $c: qemu-io writes qimg's image" "$QEMU_IO" $SEC \
		--image-opts "$(spec qcow2 x.qcow2)" -c 'write -P 0x5a 0 100k' \
		-c 'write -P 0x11 1M 7k'
	spawn -C "$E" "$QEMU_IO" $SEC --image-opts "$(spec qcow2 x.qcow2)" \
		-c 'write -P 0x5a 0 100k' -c 'write -P 0x11 1M 7k' >/dev/null
	same "luks $c: convert to raw" convert $SEC --image-opts \
		"$(spec qcow2 x.qcow2)" -O raw x.raw
	same_file "luks $c: convert to raw" x.raw
	both_equal "luks $c: qemu-io's data" x.qcow2 qcow2
	NORM=norm_size
done

for o in preallocation=metadata preallocation=falloc preallocation=full \
	cluster_size=512 cluster_size=2048 cluster_size=32768 compat=0.10 \
	lazy_refcounts=on extended_l2=on cluster_size=2M; do
	i=$((i + 1))
	# (make check: extended_l2=on alone, for the same cost)
	whole || [ "$o" = extended_l2=on ] || continue
	fresh
	same_luks "luks $o: create" create $SEC -f qcow2 -o "$L,$o" x.qcow2 3M
	luks_same "luks $o" x.qcow2
	in_g "luks $o: qemu-img check" "$QEMU_IMG" check -q $SEC --image-opts \
		"$(spec qcow2 x.qcow2)"
	same "luks $o: map" map $SEC --output=json --image-opts \
		"$(spec qcow2 x.qcow2)"
done

fresh
j=0
for o in encrypt.format=luks "$L,encrypt.key-secret=nosuch" \
	"$L,encrypt.cipher-alg=bogus" "$L,encrypt.cipher-mode=bogus" \
	"$L,encrypt.ivgen-alg=bogus" "$L,encrypt.hash-alg=bogus" \
	"$L,encrypt.cipher-alg=aes-128,encrypt.key-secret=nosuch" \
	encrypt.format=bogus,encrypt.key-secret=s encrypt.iter-time=10 \
	"$L,encryption=on"; do
	j=$((j + 1))
	quick_pick $((j + 2)) || continue
	same "luks: create -o $o refused" create $SEC -f qcow2 -o "$o" y.qcow2 1M
done

# --- LUKS: secrets, measure, compression --------------------------------

fresh
ref "$QEMU_IMG" create -q $SEC -f qcow2 -o "$L" k.qcow2 1M
ref "$QEMU_IO" $SEC --image-opts "$(spec qcow2 k.qcow2)" -c 'write -P 7 0 70k'
spawn cp k.qcow2 "$E/" && spawn cp k.qcow2 "$G/"
K=$(spec qcow2 k.qcow2)
NORM=norm_luks
same "luks: info without the key" info k.qcow2
same "luks: info json without the key" info --output=json k.qcow2
NORM=norm_size
j=0
for c in check map "compare k.qcow2" "convert -O raw" "snapshot -l" \
	"measure -O raw" "amend -o lazy_refcounts=on" "resize" "commit" \
	"rebase -u -b ''" "bench -c 1"; do
	j=$((j + 1))
	quick_pick $((j + 2)) || continue
	case $c in
	convert*) a="k.qcow2 o.raw" ;;
	resize) a="k.qcow2 2M" ;;
	*) a=k.qcow2 ;;
	esac
	eval "refused \"luks: $c without the key\" k.qcow2 $c $a"
done
refused "luks: unknown secret" k.qcow2 check $SEC --image-opts "$K,encrypt.key-secret=x"
refused "luks: wrong passphrase" k.qcow2 check $BAD --image-opts "$K"
refused "luks: wrong passphrase, write" k.qcow2 resize $BAD --image-opts "$K" 4M
refused "luks: format mismatch" k.qcow2 check $SEC --image-opts "$K,encrypt.format=aes"
refused "luks: json: name, wrong passphrase" k.qcow2 map $BAD \
	'json:{"driver":"qcow2","file":{"filename":"k.qcow2"},"encrypt":{"key-secret":"s"}}'
same "luks: check" check $SEC --image-opts "$K"
same "luks: map" map $SEC --image-opts "$K"
same "luks: json: name" check $SEC --output=json \
	'json:{"driver":"qcow2","file":{"filename":"k.qcow2"},"encrypt":{"key-secret":"s"}}'
same "luks: compression refused" convert -c $SEC -O qcow2 -o "$L" ../in.raw c.qcow2
for o in "$L" "$L,encrypt.cipher-alg=aes-128" "$L,encrypt.cipher-alg=twofish-192,cluster_size=4k" \
	encrypt.format=luks "$L,encrypt.key-secret=x" "$L,encrypt.cipher-alg=bogus" \
	"$L,preallocation=full"; do
	i=$((i + 1))
	quick_pick $i || continue
	# (make check: of the options that work, the measure of an image
	# alone: each such measure costs qemu-img a key derivation benchmark)
	whole || [ "$o" != "$L,encrypt.cipher-alg=aes-128" ] &&
		same_luks "luks: measure -o $o" measure $SEC -O qcow2 -o "$o" --size 1G
	same_luks "luks: measure of an image -o $o" measure $SEC -O qcow2 -o "$o" \
		--image-opts "$K"
done

# --- LUKS: writes, copy-on-write, zeros ---------------------------------

fresh
same_luks "luks: convert from raw" convert $SEC -O qcow2 -o "$L" ../in.raw w.qcow2
in_g "luks: qimg's image is in.raw for qemu-img" "$QEMU_IMG" compare -q $SEC \
	--image-opts "$(spec qcow2 w.qcow2)" driver=raw,file.filename=../in.raw
in_g "luks: qimg's image passes qemu-img check" "$QEMU_IMG" check -q $SEC \
	--image-opts "$(spec qcow2 w.qcow2)"
same "luks: map of the converted image" map $SEC --output=json \
	--image-opts "$(spec qcow2 w.qcow2)"
same "luks: bench -w over old data and holes" bench $SEC -w -c 9 -s 5k \
	-S 100k -o 2560 --pattern=0x3c --image-opts "$(spec qcow2 w.qcow2)"
both_equal "luks: bench -w" w.qcow2 qcow2
whole && same_luks "luks: convert, preallocation=metadata" convert $SEC -O qcow2 \
	-o "$L,preallocation=metadata" ../in.raw m.qcow2
whole && in_g "luks: preallocated image is in.raw for qemu-img" "$QEMU_IMG" compare \
	-q $SEC --image-opts "$(spec qcow2 m.qcow2)" driver=raw,file.filename=../in.raw
# (make check: the convert from raw above went through zeros already, and
# another LUKS create costs qemu-img over 2 s of processor time)
if whole; then
	same_luks "luks: convert qemu-io's zero writes" convert $SEC --image-opts \
		"$(spec qcow2 ../k.qcow2)" -O qcow2 -o "$L,cluster_size=4k" z.qcow2
	same "luks: map of converted zeros" map $SEC --output=json \
		--image-opts "$(spec qcow2 z.qcow2)"
fi
# an external data file holds the encrypted clusters
if whole; then
	same_luks "luks: data file" convert $SEC -O qcow2 \
		-o "$L,data_file=d.raw" ../in.raw d.qcow2
	in_g "luks: data file: qemu-img compare" "$QEMU_IMG" compare -q $SEC \
		--image-opts "$(spec qcow2 d.qcow2)" driver=raw,file.filename=../in.raw
fi

# (make check: the qcow2 aes chain ran the same commands, and qemu-img's
# two LUKS creates here cost it over 5 s of processor time)
whole &&
	chain qcow2 "$L" "encrypt.format=luks,encrypt.key-secret=t,encrypt.iter-time=10"

# --- LUKS: key slots ----------------------------------------------------

NEW="--object secret,id=n,data=platypus"
fresh
ref "$QEMU_IMG" create -q $SEC -f qcow2 -o "$L" a.qcow2 1M
ref "$QEMU_IO" $SEC --image-opts "$(spec qcow2 a.qcow2)" -c 'write -P 9 0 1M'
spawn cp a.qcow2 "$E/" && spawn cp a.qcow2 "$G/"
A=$(spec qcow2 a.qcow2)
# slots: the active flags of E's and G's images agree
slots_same()
{
	local e g
	e=$("$QEMU_IMG" info "$E/a.qcow2" | grep -E 'active:|\[[0-9]\]')
	g=$("$QEMU_IMG" info "$G/a.qcow2" | grep -E 'active:|\[[0-9]\]')
	if [ "$e" = "$g" ]; then
		pass "$1: key slots as qemu-img's"
	else
		fail "$1: key slots as qemu-img's"
		diag "$e" "$g"
	fi
}
opens_with()
{
	in_g "$1: qemu-img opens it with secret $2" "$QEMU_IMG" compare -q \
		$SEC $NEW --image-opts "$(spec qcow2 a.qcow2 "$2")" \
		driver=raw,file.filename=../x9.raw
}
head -c 1M /dev/zero | tr '\0' '\11' >x9.raw
j=0
for o in encrypt.state=bogus encrypt.state=active encrypt.new-secret=n \
	encrypt.state=inactive encrypt.state=active,encrypt.new-secret=nosuch \
	encrypt.state=active,encrypt.new-secret=n,encrypt.keyslot=9 \
	encrypt.state=active,encrypt.new-secret=n,encrypt.keyslot=-1 \
	encrypt.state=active,encrypt.new-secret=n,encrypt.old-secret=s \
	encrypt.state=active,encrypt.new-secret=n,encrypt.keyslot=0 \
	encrypt.state=inactive,encrypt.keyslot=3 \
	encrypt.state=inactive,encrypt.old-secret=n \
	encrypt.state=inactive,encrypt.new-secret=n \
	encrypt.state=inactive,encrypt.keyslot=0 \
	encrypt.keyslot=1 encrypt.iter-time=10; do
	j=$((j + 1))
	quick_pick $j || continue
	refused "luks amend -o $o refused" a.qcow2 amend $SEC $NEW \
		--image-opts "$A" -o "$o"
done
same_luks "luks amend: add a slot" amend $SEC $NEW --image-opts "$A" \
	-o encrypt.state=active,encrypt.new-secret=n,encrypt.iter-time=10
slots_same "luks amend: add a slot"
opens_with "luks amend: add a slot" n
opens_with "luks amend: add a slot" s
same_luks "luks amend: slot 5 and a new size" amend $SEC $NEW --image-opts "$A" \
	-o encrypt.state=active,encrypt.new-secret=n,encrypt.iter-time=10,encrypt.keyslot=5,size=2M
slots_same "luks amend: slot 5"
same "luks amend: erase by password" amend $SEC $NEW --image-opts "$A" \
	-o encrypt.state=inactive,encrypt.old-secret=s
slots_same "luks amend: erase by password"
opens_with "luks amend: erase by password" n
refused "luks amend: the old password is gone" a.qcow2 check $SEC \
	--image-opts "$A"
same "luks amend: erase slot 1" amend $SEC $NEW --image-opts \
	"$(spec qcow2 a.qcow2 n)" -o encrypt.state=inactive,encrypt.keyslot=1
slots_same "luks amend: erase slot 1"
refused "luks amend: the last slot" a.qcow2 amend $SEC $NEW --image-opts \
	"$(spec qcow2 a.qcow2 n)" -o encrypt.state=inactive,encrypt.keyslot=5
same "luks amend: the last slot, --force" amend --force $SEC $NEW \
	--image-opts "$(spec qcow2 a.qcow2 n)" \
	-o encrypt.state=inactive,encrypt.keyslot=5
slots_same "luks amend: --force"
# qimg adds a slot, qemu-img erases the first; and the reverse
fresh
spawn cp a.qcow2 "$G/"
in_g "luks amend: qimg adds a slot" "$QIMG" amend $SEC $NEW --image-opts "$A" \
	-o encrypt.state=active,encrypt.new-secret=n,encrypt.iter-time=10
in_g "luks amend: qemu-img erases slot 0 of it" ref "$QEMU_IMG" amend $SEC \
	$NEW --image-opts "$(spec qcow2 a.qcow2 n)" \
	-o encrypt.state=inactive,encrypt.keyslot=0
opens_with "luks amend: both ways" n
in_g "luks amend: qemu-img adds slot 7" ref "$QEMU_IMG" amend $SEC $NEW \
	--image-opts "$(spec qcow2 a.qcow2 n)" \
	-o encrypt.state=active,encrypt.new-secret=s,encrypt.iter-time=10,encrypt.keyslot=7
in_g "luks amend: qimg erases slot 1 of it" "$QIMG" amend $SEC $NEW \
	--image-opts "$A" -o encrypt.state=inactive,encrypt.old-secret=n
opens_with "luks amend: both ways, back" s
in_g "luks amend: qemu-img check" "$QEMU_IMG" check -q $SEC --image-opts "$A"

done_testing
