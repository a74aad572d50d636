#!/bin/bash
# SPDX-License-Identifier: MIT
# `convert` against qemu-img: raw<->qcow2, qcow2->qcow2, compression,
# sparse detection (-S, judged by `qemu-img map` of the output), -B/-F,
# -n/--target-is-zero, concatenation, -m/-W, -p bytes, and the errors and
# exit codes of reference §2.7.  Default qcow2 output must be byte-identical
# to qemu-img's.
. "$(dirname "$0")/lib.sh"

mapj()
{
	spawn "$QEMU_IMG" map --output=json "$@" 2>&1
}

# same_map DESC OUT: the two outputs' maps are the same
same_map()
{
	if [ "$(mapj "$E/$2")" = "$(mapj "$G/$2")" ]; then
		pass "$1: same map"
	else
		fail "$1: same map"
		diff <(mapj "$E/$2") <(mapj "$G/$2") |
			sed -n '1,20p' | sed 's/^/# /'
	fi
}

# cv DESC OUT KIND ARGS...: `convert ARGS` with both tools (OUT the output
# file name); KIND says how to judge the two outputs:
#   exact  - same bytes (qcow2 default convert is reproducible)
#   map    - same content and same `qemu-img map --output=json`
#   stats  - same content, and same allocation line from qemu-img check
#   content - same content only (e.g. -W: host offsets may differ)
cv()
{
	local d=$1 out=$2 kind=$3 rc a
	shift 3
	# (-n converts into the target prep made: keep it)
	for a in "$@"; do [ "$a" = -n ] && break; done
	[ "$a" = -n ] || spawn rm -f "$E/$out" "$G/$out"
	same "$d" convert "$@"
	read -r rc <"$R/e.rc"
	if [ "$rc" != 0 ]; then
		if [ "$out" = none ] || [ -e "$E/$out" ] || [ ! -e "$G/$out" ]
		then
			pass "$d: no output left behind"
		else
			fail "$d: no output left behind"
		fi
		return
	fi
	[ "$out" = none ] && return
	if [ ! -f "$G/$out" ]; then
		fail "$d: output exists"
		return
	fi
	# (quick runs judge qemu-img's very bytes by the bytes alone: their
	# content, check and cluster statistics are qemu-img's own; only a
	# raw output's holes are left to compare)
	if ! whole && spawn cmp -s "$E/$out" "$G/$out"; then
		pass "$d: byte-identical"
		[ "$kind" = map ] || return
		same_map "$d" "$out"
		return
	fi
	if spawn "$QEMU_IMG" compare -q "$E/$out" "$G/$out" 2>/dev/null; then
		pass "$d: same content"
	else
		fail "$d: same content"
		"$QEMU_IMG" compare "$E/$out" "$G/$out" 2>&1 | sed 's/^/# /'
	fi
	case $("$QEMU_IMG" info "$E/$out" 2>/dev/null | sed -n 2p) in
	*qcow2*)
		if check_clean "$G/$out"; then
			pass "$d: qemu-img check clean"
		else
			fail "$d: qemu-img check clean"
			"$QEMU_IMG" check "$(qcow2_nobacking "$G/$out")" 2>&1 |
				sed -n '1,8p' | sed 's/^/# /'
		fi
		;;
	esac
	case $kind in
	exact)
		if spawn cmp -s "$E/$out" "$G/$out"; then
			pass "$d: byte-identical"
		else
			fail "$d: byte-identical"
			cmp "$E/$out" "$G/$out" 2>&1 | sed 's/^/# /'
		fi
		;;
	map)
		same_map "$d" "$out"
		;;
	stats)
		local se sg
		se=$("$QEMU_IMG" check "$(qcow2_nobacking "$E/$out")" |
			grep allocated)
		sg=$("$QEMU_IMG" check "$(qcow2_nobacking "$G/$out")" |
			grep allocated)
		if [ "$se" = "$sg" ]; then
			pass "$d: same cluster statistics"
		else
			fail "$d: same cluster statistics"
			diag "qemu-img: $se" "qimg:     $sg"
		fi
		;;
	esac
}

# sources
spawn "$QEMU_IMG" create -q -f raw src.raw 8M
spawn "$QEMU_IO" -f raw -c 'write -P 0x55 0 3M' -c 'write -P 0 4M 1M' \
	-c 'write -P 0x55 6M 4k' src.raw >/dev/null
spawn "$QEMU_IMG" create -q -f raw holes.raw 256k
spawn "$QEMU_IO" -f raw -c 'write -P 0x55 0 256k' -c 'write -P 0 64k 4k' \
	-c 'write -P 0 128k 8k' -c 'write -P 0 200k 512' \
	-c 'write -P 0 210k 3584' holes.raw >/dev/null
mkpattern pat.raw 4096
head -c 1M /dev/urandom >r1.raw
head -c 9M /dev/urandom >r9.raw
head -c 1000 /dev/urandom >odd.raw
yes 'text that compresses' | head -c 2M >text.raw
spawn truncate -s 2M text.raw
spawn "$QEMU_IMG" create -q -f qcow2 base.qcow2 4M
spawn "$QEMU_IO" -c 'write -P 1 0 4M' base.qcow2 >/dev/null
spawn "$QEMU_IMG" create -q -f qcow2 -b base.qcow2 -F qcow2 top.qcow2
spawn "$QEMU_IO" -c 'write -P 2 1M 64k' -c 'write -z 2M 64k' top.qcow2 >/dev/null
spawn "$QEMU_IMG" create -q -f qcow2 data.qcow2 16M
spawn "$QEMU_IO" -c 'write -P 0x55 0 1M' -c 'write -P 0x66 10M 64k' \
	-c 'write -z 12M 1M' -c 'write -c -P 7 14M 64k' data.qcow2 >/dev/null
spawn "$QEMU_IMG" create -q -f qcow2 -o compat=0.10,cluster_size=4k v2.qcow2 4M
spawn "$QEMU_IO" -c 'write -P 9 5000 100000' v2.qcow2 >/dev/null

# raw -> qcow2 (byte-identical), raw -> raw (same map); quick runs take
# each source to one of them, by turns
i=0
for s in src holes pat r1 odd text; do
	whole || [ $((i % 2)) = 0 ] &&
		cv "$s.raw -> qcow2" o.qcow2 exact -O qcow2 ../$s.raw o.qcow2
	whole || [ $((i % 2)) = 1 ] && cv "$s.raw -> raw" o.raw map ../$s.raw o.raw
	i=$((i + 1))
done
cv "-f raw explicit" o.qcow2 exact -f raw -O qcow2 ../src.raw o.qcow2
# (quick runs: every third option)
i=0
for o in cluster_size=4k cluster_size=512 cluster_size=2M compat=0.10 \
	refcount_bits=1 lazy_refcounts=on extended_l2=on \
	compression_type=zstd preallocation=metadata preallocation=falloc \
	preallocation=full 'cluster_size=16k,extended_l2=on'; do
	i=$((i + 1))
	quick_pick $((i - 1)) || continue
	cv "pat.raw -> qcow2 -o $o" o.qcow2 exact -O qcow2 -o "$o" ../pat.raw \
		o.qcow2
done
cv "-o size= is ignored" o.qcow2 exact -O qcow2 -o size=1G ../src.raw o.qcow2

# qcow2 -> raw / qcow2 (quick runs: data.qcow2 to both, the others to one
# of them by turns)
i=0
for s in data top base v2; do
	whole || [ $s = data ] || [ $((i % 2)) = 1 ] &&
		cv "$s.qcow2 -> raw" o.raw map -O raw ../$s.qcow2 o.raw
	whole || [ $s = data ] || [ $((i % 2)) = 0 ] &&
		cv "$s.qcow2 -> qcow2" o.qcow2 exact -O qcow2 ../$s.qcow2 o.qcow2
	i=$((i + 1))
done
cv "-f qcow2 explicit" o.raw map -f qcow2 -O raw ../data.qcow2 o.raw
cv "qcow2 -> qcow2 4k clusters" o.qcow2 exact -O qcow2 -o cluster_size=4k \
	../data.qcow2 o.qcow2
cv "-U source" o.raw map -U -O raw ../data.qcow2 o.raw

# compression (quick runs: each source with one of the codecs, by turns,
# and the pattern's first megabyte for pat.raw: every kind of its content
# is there, for a quarter of the work)
cpat=pat
if ! whole; then
	head -c 1M pat.raw >pat1M.raw
	cpat=pat1M
fi
i=0
for s in $cpat text r1 src; do
	whole || [ $((i % 2)) = 0 ] &&
		cv "$s.raw -c zlib" o.qcow2 stats -c -O qcow2 ../$s.raw o.qcow2
	whole || [ $((i % 2)) = 1 ] && cv "$s.raw -c zstd" o.qcow2 stats -c \
		-O qcow2 -o compression_type=zstd ../$s.raw o.qcow2
	i=$((i + 1))
done
cv "-c 4k clusters" o.qcow2 stats -c -O qcow2 -o cluster_size=4k \
	../$cpat.raw o.qcow2
cv "-c 2M clusters" o.qcow2 stats -c -O qcow2 -o cluster_size=2M \
	../$cpat.raw o.qcow2
cv "-c v2" o.qcow2 stats -c -O qcow2 -o compat=0.10 ../$cpat.raw o.qcow2
cv "-c qcow2 source" o.qcow2 stats -c -O qcow2 ../data.qcow2 o.qcow2
cv "-c -W" o.qcow2 content -c -W -O qcow2 ../$cpat.raw o.qcow2

# sparse detection (§2.7 captures; quick runs: 4k, the least, 0 and the
# most, each with one of the sources by turns)
i=0
for S in 4k 4096 512 8k 64k 1M 0 16M; do
	case $S in 4096 | 8k | 64k | 1M) whole || continue ;; esac
	i=$((i + 1))
	whole || [ $((i % 2)) = 1 ] &&
		cv "holes.raw -S $S -> raw" o.raw map -S $S -O raw ../holes.raw o.raw
	whole || [ $((i % 2)) = 0 ] &&
		cv "src.raw -S $S -> raw" o.raw map -S $S -O raw ../src.raw o.raw
done
i=0
for S in 4k 512 0 64k; do
	[ $S != 64k ] || whole || continue
	whole || [ $((i % 3)) = 0 ] &&
		cv "holes.raw -S $S -> qcow2 4k" o.qcow2 exact -S $S -O qcow2 \
			-o cluster_size=4k ../holes.raw o.qcow2
	whole || [ $((i % 3)) = 1 ] &&
		cv "src.raw -S $S -> qcow2" o.qcow2 exact -S $S -O qcow2 \
			../src.raw o.qcow2
	whole || [ $((i % 3)) = 2 ] &&
		cv "data.qcow2 -S $S -> qcow2" o.qcow2 exact -S $S -O qcow2 \
			../data.qcow2 o.qcow2
	i=$((i + 1))
done

# target backing file
cv "-B -F" o.qcow2 exact -O qcow2 -B ../base.qcow2 -F qcow2 ../top.qcow2 \
	o.qcow2
cv "-o backing_file" o.qcow2 exact -O qcow2 \
	-o backing_file=../base.qcow2,backing_fmt=qcow2 ../top.qcow2 o.qcow2
cv "-B over a shorter backing" o.qcow2 exact -O qcow2 -B ../base.qcow2 \
	-F qcow2 ../data.qcow2 o.qcow2
cv "-B without -F" o.qcow2 exact -O qcow2 -B ../base.qcow2 ../top.qcow2 \
	o.qcow2
cv "-B with raw output" o.raw map -O raw -B ../base.qcow2 -F qcow2 \
	../top.qcow2 o.raw
cv "-B with several sources" o.qcow2 exact -O qcow2 -B ../base.qcow2 \
	-F qcow2 ../base.qcow2 ../top.qcow2 o.qcow2

# several sources
cv "concatenate raw" o.raw map -O raw ../src.raw ../holes.raw ../odd.raw o.raw
cv "concatenate to qcow2" o.qcow2 exact -O qcow2 ../base.qcow2 ../top.qcow2 \
	../odd.raw o.qcow2

# -m / -W
for m in 1 2 16; do
	# (quick runs: the least and the most)
	[ $m != 2 ] || whole || continue
	cv "-m $m" o.qcow2 exact -m $m -O qcow2 ../pat.raw o.qcow2
done
cv "-W" o.qcow2 content -W -O qcow2 ../pat.raw o.qcow2
cv "-W raw" o.raw map -W -O raw ../pat.raw o.raw
cv "-t none -T none" o.raw map -t none -T none -O raw ../pat.raw o.raw
cv "-t writeback" o.qcow2 exact -t writeback -O qcow2 ../pat.raw o.qcow2

# -n and --target-is-zero into existing targets
# prep NAME SIZE CREATE-OPTIONS...: the same target in both directories
prep()
{
	local d name=$1 size=$2
	shift 2
	for d in "$E" "$G"; do
		spawn rm -f "$d/$name"
		spawn -C "$d" "$QEMU_IMG" create -q "$@" "$name" $size || return 1
	done
}
prep n.qcow2 8M -f qcow2
cv "-n into fresh qcow2" n.qcow2 exact -n -O qcow2 ../src.raw n.qcow2
prep n.qcow2 8M -f qcow2
cv "-n --target-is-zero" n.qcow2 exact -n --target-is-zero -O qcow2 \
	../src.raw n.qcow2
prep n.qcow2 8M -f qcow2 -o compat=0.10
cv "-n into v2 qcow2" n.qcow2 exact -n -O qcow2 ../src.raw n.qcow2
prep n.raw 8M -f raw
cv "-n into raw" n.raw map -n ../src.raw n.raw
prep n.raw 16M -f raw
cv "-n into larger raw" n.raw map -n ../src.raw n.raw
prep n.raw 1M -f raw
cv "-n smaller target" none exact -n ../src.raw n.raw
prep n.qcow2 '' -f qcow2 -b ../base.qcow2 -F qcow2
cv "--target-is-zero with backing" none exact -n --target-is-zero \
	-O qcow2 ../top.qcow2 n.qcow2

# progress output bytes
for s in src r1 r9; do
	# (quick runs: the smallest and the largest; src.raw's progress is
	# judged below)
	[ $s != src ] || whole || continue
	cv "-p $s.raw -> raw" o.raw map -p -O raw ../$s.raw o.raw
done
cv "-p -> qcow2" o.qcow2 exact -p -O qcow2 ../src.raw o.qcow2
cv "-p -q" o.raw map -p -q -O raw ../src.raw o.raw

# errors
cv "-S 1000" o.raw map -S 1000 ../src.raw o.raw
# (quick runs: -S 1000 and -m 0 stand for the other sizes refused with the
# same words)
whole && cv "-S 32M" o.raw map -S 32M ../src.raw o.raw
cv "-S abc" o.raw map -S abc ../src.raw o.raw
cv "-m 0" o.raw map -m 0 ../src.raw o.raw
whole && cv "-m 17" o.raw map -m 17 ../src.raw o.raw
cv "-m x" o.raw map -m x ../src.raw o.raw
cv "-r abc" o.raw map -r abc ../src.raw o.raw
cv "-o empty" o.raw map -o '' ../src.raw o.raw
cv "--skip-broken-bitmaps alone" o.qcow2 exact --skip-broken-bitmaps \
	-O qcow2 ../data.qcow2 o.qcow2
cv "-C -c" o.qcow2 exact -C -c -O qcow2 ../src.raw o.qcow2
cv "-C -S" o.raw map -C -S 4k ../src.raw o.raw
cv "-C --salvage" o.raw map -C --salvage ../src.raw o.raw
# -C copies by offload (copy_file_range) where it can, else falls back
# (quick runs leave out a few: the holes and the odd-sized source stand for
# a plain raw one, -t none -T none is judged without -C, and the copies to
# qcow2 of a qcow2 and of a chain, and the offload of r9.raw below, stand
# for those of raw sources)
whole && cv "-C raw" o.raw map -C -O raw ../src.raw o.raw
cv "-C holes" o.raw map -C -O raw ../holes.raw o.raw
cv "-C odd-sized source" o.raw map -C -O raw ../odd.raw o.raw
cv "-C concatenate" o.raw map -C -O raw ../src.raw ../odd.raw ../pat.raw o.raw
cv "-C qcow2 with compressed and zero clusters" o.raw map -C -O raw \
	../data.qcow2 o.raw
cv "-C backing chain" o.raw map -C -O raw ../top.qcow2 o.raw
whole && cv "-C -t none -T none" o.raw map -C -t none -T none -O raw \
	../pat.raw o.raw
whole && cv "-C to qcow2" o.qcow2 exact -C -O qcow2 ../src.raw o.qcow2
whole && cv "-C odd-sized to qcow2" o.qcow2 exact -C -O qcow2 ../odd.raw \
	o.qcow2
cv "-C qcow2 with compressed and zero clusters to qcow2 4k" o.qcow2 exact \
	-C -O qcow2 -o cluster_size=4k ../data.qcow2 o.qcow2
cv "-C backing chain to qcow2 extended_l2" o.qcow2 exact -C -O qcow2 \
	-o extended_l2=on ../top.qcow2 o.qcow2
# (a data file's name is the directory's own: same data file, not image)
for d in "$E" "$G"; do spawn rm -f "$d/o.qcow2" "$d/o.dat"; done
spawn "$QEMU_IMG" convert -C -O qcow2 -o data_file="$E/o.dat" src.raw "$E/o.qcow2"
if spawn "$QIMG" convert -C -O qcow2 -o data_file="$G/o.dat" src.raw \
	"$G/o.qcow2" && check_clean "$G/o.qcow2" &&
	spawn "$QEMU_IMG" compare -q src.raw "$G/o.qcow2" &&
	spawn cmp -s "$E/o.dat" "$G/o.dat"; then
	pass "-C to qcow2 with a data file: clean, same content and data file"
else
	fail "-C to qcow2 with a data file"
fi
prep n.qcow2 8M -f qcow2
for d in "$E" "$G"; do
	spawn "$QEMU_IO" -c 'write -P 0x77 0 8M' "$d/n.qcow2" >/dev/null
done
# (the clusters zeroing frees leave the file: byte-identical)
cv "-C -n over qcow2 data (in place)" n.qcow2 exact -C -n -O qcow2 \
	../src.raw n.qcow2
prep n.qcow2 8M -f qcow2
for d in "$E" "$G"; do
	spawn "$QEMU_IO" -c 'write -P 0x77 0 8M' "$d/n.qcow2" >/dev/null
done
cv "-n over qcow2 data" n.qcow2 exact -n -O qcow2 ../src.raw n.qcow2
if spawn cmp -s <("$QEMU_IMG" map -f raw --output=json "$E/n.qcow2") \
	<("$QEMU_IMG" map -f raw --output=json "$G/n.qcow2"); then
	pass "-n over qcow2 data: freed clusters leave the file as qemu-img's"
else
	fail "-n over qcow2 data: freed clusters leave the file as qemu-img's"
fi
# encrypted clusters need the bytes in memory: -C falls back
sec="--object secret,id=s0,data=pw"
spawn rm -f "$G/o.qcow2"
if spawn "$QIMG" convert $sec -C -O qcow2 -o encrypt.format=luks,encrypt.key-secret=s0,encrypt.iter-time=10 \
	src.raw "$G/o.qcow2" &&
	spawn "$QEMU_IMG" compare $sec --image-opts driver=raw,file.filename=src.raw \
		"driver=qcow2,encrypt.key-secret=s0,file.filename=$G/o.qcow2" \
		>/dev/null &&
	spawn "$QEMU_IMG" check -q $sec --image-opts \
		"driver=qcow2,encrypt.key-secret=s0,file.filename=$G/o.qcow2"
then
	pass "-C to encrypted qcow2: same content, check clean"
else
	fail "-C to encrypted qcow2"
fi
# ... and the bytes really went by offload: copy_file_range, not write
if command -v strace >/dev/null; then
	spawn rm -f "$G/o.qcow2"
	(cd "$G" && strace -f -qq -e trace=copy_file_range -o strace.out \
		"$QIMG" convert -C -O qcow2 ../r9.raw o.qcow2)
	n=$(grep -c '^[0-9]* *copy_file_range' "$G/strace.out")
	if [ "$n" -gt 0 ] && spawn "$QEMU_IMG" compare -q r9.raw "$G/o.qcow2"; then
		pass "-C to qcow2: $n copy_file_range calls, same content"
	else
		fail "-C to qcow2: $n copy_file_range calls"
	fi
	spawn rm -f "$G/strace.out"
elif [ "${CI:-}" = true ]; then
	fail "-C to qcow2 by offload: strace not found (CI=true)"
else
	skip "-C to qcow2 by offload: strace not found"
fi
prep n.raw 8M -f raw
cv "-C -n into raw" n.raw map -C -n ../src.raw n.raw
cv "--target-image-opts without -n" o.raw map --target-image-opts \
	../src.raw driver=raw,file.filename=o.raw
cv "-n -o" o.qcow2 exact -n -o cluster_size=4k -O qcow2 ../src.raw o.qcow2
cv "--target-is-zero without -n" o.raw map --target-is-zero ../src.raw o.raw
cv "-O qcow2 -o help" none exact -O qcow2 -o help
cv "-o help raw" none exact -o help
cv "no output name" none exact -O raw ../src.raw
cv "no names" none exact -O raw
cv "-T bogus" o.raw map -T bogus ../src.raw o.raw
cv "-t bogus" o.raw map -t bogus ../src.raw o.raw
cv "missing source" o.raw map ../nosuch.raw o.raw
cv "source is a directory" o.raw map .. o.raw
cv "-f qcow2 on raw source" o.raw map -f qcow2 ../src.raw o.raw
cv "-O bogus" o.x exact -O bogus ../src.raw o.x
cv "-c to raw" o.raw map -c -O raw ../src.raw o.raw
cv "-c with preallocation" o.qcow2 exact -c -O qcow2 \
	-o preallocation=metadata ../src.raw o.qcow2
cv "bad create option" o.qcow2 exact -O qcow2 -o bogus=1 ../src.raw o.qcow2
cv "bad cluster size" o.qcow2 exact -O qcow2 -o cluster_size=3000 \
	../src.raw o.qcow2
# -l: reading an internal snapshot (made by qemu-img; the image grew after
# the first one, so snapshot 1's L1 table is shorter than the image)
spawn "$QEMU_IMG" create -q -f qcow2 snap.qcow2 4M
spawn "$QEMU_IO" -c 'write -P 1 0 1M' -c 'write -P 7 3M 64k' snap.qcow2 >/dev/null
spawn "$QEMU_IMG" snapshot -c one snap.qcow2
spawn "$QEMU_IO" -c 'write -P 2 0 512k' -c 'discard 3M 64k' snap.qcow2 >/dev/null
spawn "$QEMU_IMG" resize -q snap.qcow2 8M
spawn "$QEMU_IO" -c 'write -P 3 6M 1M' snap.qcow2 >/dev/null
spawn "$QEMU_IMG" snapshot -c two snap.qcow2
spawn "$QEMU_IO" -c 'write -P 4 0 64k' snap.qcow2 >/dev/null
for l in one two 1 2 snapshot.id=2 snapshot.name=one \
	snapshot.id=1,snapshot.name=one snapshot.id=2,snapshot.name=one \
	nosuch snapshot.name=two,snapshot.id=; do
	# (quick runs: "one" and "2" stand for a name and an id alone, the
	# pairs of keys for one key)
	case $l in two | 1 | snapshot.id=2 | snapshot.name=one)
		whole || continue ;;
	esac
	cv "-l $l to raw" o.raw map -l "$l" ../snap.qcow2 o.raw
done
cv "-l one to qcow2" o.qcow2 exact -O qcow2 -l one ../snap.qcow2 o.qcow2
QIMG_COMPRESS=qemu cv "-l one to compressed qcow2" o.qcow2 exact -O qcow2 -c \
	-l snapshot.id=1 ../snap.qcow2 o.qcow2
cv "-l one to compressed qcow2, qimg's codec" o.qcow2 stats -O qcow2 -c \
	-l snapshot.id=1 ../snap.qcow2 o.qcow2
cv "-l on a raw image" o.raw map -l one -f raw ../src.raw o.raw
cv "-l with two sources" o.raw map -l one ../snap.qcow2 ../snap.qcow2 o.raw
cv "-l missing snapshot" o.raw map -l snapshot.id=9 ../data.qcow2 o.raw
cv "-l bad key" o.raw map -l snapshot.foo=1 ../data.qcow2 o.raw
cv "output in missing directory" none exact -O raw ../src.raw nodir/o.raw
cv "unknown option" o.raw map --bogus ../src.raw o.raw

done_testing
