#!/bin/bash
# SPDX-License-Identifier: MIT
# The qed format against qemu-img 7.2: create with every option (images
# byte for byte qemu-img's, sizes not a multiple of 512 or of the cluster,
# over 4 GiB, at the limit, refused), info/map/check of images qemu-io
# wrote (data, zero clusters, backing files), convert both ways (qimg's
# qed files byte for byte qemu-img's), writes through qimg (bench, commit,
# rebase) read back by qemu-img with COW from the backing file, the
# NEED_CHECK flag (left by a read-only user, cleared by a read-write one
# and by a repair), leaks and corruptions (check, check -r), damaged
# headers refused with qemu-img's words, resize, rebase -u.
. "$(dirname "$0")/lib.sh"

have_qimg || skip_all "no qimg binary at $QIMG"

# qemu_clean IMG: qemu-img check finds nothing (exit 0).
qemu_clean()
{
	spawn "$QEMU_IMG" check -q "$1" >/dev/null 2>&1
}

# reads IMG: what a read-only user sees, against qemu-img; IMG unchanged.
reads()
{
	local img=$1 d=${1%.qed} sum
	sum=$(cksum <"$img")
	same "$d: info" info "../$img"
	same "$d: info json" info --output=json "../$img"
	same "$d: map" map "../$img"
	same "$d: map json" map --output=json "../$img"
	same "$d: check" check "../$img"
	same "$d: check json" check --output=json "../$img"
	spawn rm -f "$E"/o.* "$G"/o.*
	same "$d: convert to raw" convert -O raw "../$img" o.raw
	same_file "$d: convert to raw" o.raw
	same "$d: convert to qcow2" convert -O qcow2 "../$img" o.qcow2
	same_file "$d: convert to qcow2" o.qcow2
	same "$d: convert to qed" convert -O qed "../$img" o.qed
	same_file "$d: convert to qed" o.qed
	same "$d: compare with the raw copy" compare "../$img" o.raw
	if [ "$(cksum <"$img")" = "$sum" ]; then
		pass "$d: image unchanged"
	else
		fail "$d: image unchanged"
	fi
}

# --- create -------------------------------------------------------------
n=0
for args in "1G" "3000000" "3000064" "5G" "0" "1" "64T" "100T" \
	"-o cluster_size=4k 16G" "-o cluster_size=4k 17G" \
	"-o cluster_size=1M,table_size=16 1G" "-o table_size=2 10M" \
	"-o table_size=1 10M" "-o cluster_size=64M,table_size=1 1G" \
	"-o cluster_size=2k 1M" "-o cluster_size=5k 1M" \
	"-o cluster_size=128M 1M" "-o table_size=3 1M" "-o table_size=32 1M" \
	"-o table_size=0 1M" "-o cluster_size=2k,table_size=3 100T" \
	"-o table_size=3 100T"; do
	n=$((n + 1))
	# shellcheck disable=SC2086
	same "create $args" create -f qed c$n.qed $args
	# (qemu-img leaves an empty file behind when it refuses; qimg
	# checks the options before it creates anything)
	[ -s "$E/c$n.qed" ] && same_file "create $args" c$n.qed
done
same "create -o help" create -f qed -o help
same "amend refused" amend -f qed -o size=2M c1.qed
spawn "$QEMU_IMG" create -q -f raw base.raw 10M
spawn "$QEMU_IO" -f raw -c 'write -P 0x11 0 10M' base.raw >/dev/null
spawn "$QEMU_IMG" create -q -f qed base.qed 12M
spawn "$QEMU_IO" -f qed -c 'write -P 0x22 0 12M' base.qed >/dev/null
same "create backing raw" create -f qed -b ../base.raw -F raw b1.qed
same_file "create backing raw" b1.qed
same "create backing qed" create -f qed -b ../base.qed -F qed b2.qed 20M
same_file "create backing qed" b2.qed
same "create backing without format" create -f qed -b ../base.qed b3.qed
same "create -u backing" create -f qed -u -b nowhere.raw -F raw b4.qed 1M
same_file "create -u backing" b4.qed
same "create backing_fmt without file" create -f qed -o backing_fmt=raw \
	b5.qed 1M

# --- images qemu-io wrote -----------------------------------------------
spawn "$QEMU_IMG" create -q -f qed w.qed 80M
spawn "$QEMU_IO" -f qed -c 'write -P 0xaa 4k 4k' -c 'write -P 0xbb 40M 64k' \
	-c 'write -z 1M 64k' -c 'write -P 0xcc 79M 1M' \
	-c 'write -z 2M 3M' w.qed >/dev/null
spawn "$QEMU_IMG" create -q -f qed -o cluster_size=4k,table_size=2 small.qed 3000000
spawn "$QEMU_IO" -f qed -c 'write -P 1 0 5k' -c 'write -P 2 2999808 512' \
	-c 'write -z 16k 8k' small.qed >/dev/null
spawn "$QEMU_IMG" create -q -f qed big.qed 6G
spawn "$QEMU_IO" -f qed -c 'write -P 3 4095M 2M' -c 'write -P 4 6143M 1M' \
	big.qed >/dev/null
spawn "$QEMU_IMG" create -q -f qed -b base.raw -F raw top.qed
spawn "$QEMU_IO" -f qed -c 'write -P 0x33 100k 8k' -c 'write -z 1M 64k' \
	top.qed >/dev/null
spawn "$QEMU_IMG" create -q -f qed -b base.qed -F qed top2.qed 20M
spawn "$QEMU_IO" -f qed -c 'write -P 0x44 11M 2M' top2.qed >/dev/null
for img in w small top top2; do
	reads $img.qed
done
same "big: info" info ../big.qed
same "big: map json" map --output=json ../big.qed
same "big: check" check ../big.qed
same "big: dd of the data" dd -O raw bs=1M skip=4094 count=4 \
	if=../big.qed of=o.big
same_file "big: dd of the data" o.big
same "json: filename" info \
	'json:{"driver":"qed","file":{"driver":"file","filename":"../w.qed"}}'
same "--image-opts map" map --output=json --image-opts \
	driver=qed,file.filename=../small.qed
same "compare qed with qed" compare ../top.qed ../top.qed
same "top: info --backing-chain" info --backing-chain ../top2.qed

# --- convert into qed: qemu-img's file byte for byte ---------------------
spawn "$QEMU_IMG" create -q -f raw r.raw 9M
spawn "$QEMU_IO" -f raw -c 'write -P 5 0 5M' -c 'write -P 6 8000k 12k' \
	-c 'write -P 7 9212k 4k' r.raw >/dev/null
spawn rm -f "$E"/o.* "$G"/o.*
same "convert raw to qed" convert -O qed ../r.raw o.qed
same_file "convert raw to qed" o.qed
ok "convert raw to qed: qemu-img check" qemu_clean "$G/o.qed"
ok "convert raw to qed: qemu-img compare" contents_equal r.raw "$G/o.qed"
same "convert -o cluster_size=4k,table_size=8" convert -O qed \
	-o cluster_size=4k,table_size=8 ../r.raw o2.qed
same_file "convert -o cluster_size=4k,table_size=8" o2.qed
same "convert -S 0" convert -S 0 -O qed ../r.raw o3.qed
same_file "convert -S 0" o3.qed
same "convert -B" convert -O qed -B ../base.raw -F raw ../r.raw o4.qed
ok "convert -B: qemu-img compare" contents_equal r.raw "$G/o4.qed"
ok "convert -B: qemu-img check" qemu_clean "$G/o4.qed"
same "convert -c refused" convert -c -O qed ../r.raw o5.qed
same "convert -m 8 -W" convert -m 8 -W -O qed ../r.raw o6.qed
ok "convert -m 8 -W: qemu-img compare" contents_equal r.raw "$G/o6.qed"
ok "convert -m 8 -W: qemu-img check" qemu_clean "$G/o6.qed"

# --- writes through qimg: partial clusters, COW from the backing file ----
for fmt in raw qed; do
	for w in "-s 4096 -S 70000 -o 1024 -c 16" "-s 512 -S 65536 -o 65024 -c 8" \
		"-s 200000 -S 300000 -o 3 -c 30"; do
		spawn "$QEMU_IMG" create -q -f qed -b base.$fmt -F $fmt e.qed 10M
		spawn cp e.qed g.qed
		# shellcheck disable=SC2086
		spawn "$QEMU_IMG" bench -w -f qed -d 1 $w e.qed >/dev/null
		# shellcheck disable=SC2086
		qimg bench -w -f qed -d 1 $w g.qed >/dev/null
		ok "bench -w $w over $fmt: qemu-img check" qemu_clean g.qed
		ok "bench -w $w over $fmt: same content as qemu-img's" \
			contents_equal e.qed g.qed
		same "bench -w $w over $fmt: map" map --output=json ../g.qed
	done
done
# zero writes: whole clusters become zero clusters
spawn "$QEMU_IMG" create -q -f qed -b base.raw -F raw z.qed
spawn "$QEMU_IO" -f qed -c 'write -P 9 0 256k' z.qed >/dev/null
spawn cp z.qed ze.qed
spawn "$QEMU_IO" -f qed -c 'write -z 64k 320k' -c 'write -z 1000 3000' \
	ze.qed >/dev/null
spawn "$QEMU_IMG" create -q -f raw zeros.raw 512k
spawn cp z.qed zg.qed
spawn "$QEMU_IMG" create -q -f qcow2 -b "$T/zg.qed" -F qed zt.qcow2
spawn "$QEMU_IO" -f qcow2 -c 'write -z 64k 320k' -c 'write -z 1000 3000' \
	zt.qcow2 >/dev/null
qimg commit -q zt.qcow2
ok "commit of zeros: qemu-img check" qemu_clean zg.qed
ok "commit of zeros: content" contents_equal ze.qed zg.qed
same "commit of zeros: map" map --output=json ../zg.qed

# commit into a qed base, and of a qed top
spawn cp top.qed te.qed
spawn cp top.qed tg.qed
spawn cp base.raw be.raw
spawn cp base.raw bg.raw
spawn "$QEMU_IMG" rebase -q -u -b be.raw -F raw te.qed
spawn "$QEMU_IMG" rebase -q -u -b bg.raw -F raw tg.qed
spawn "$QEMU_IMG" commit -q te.qed
qimg commit -q tg.qed
ok "commit of a qed top: the base is qemu-img's" cmp be.raw bg.raw
ok "commit of a qed top: the top is kept" contents_equal te.qed tg.qed
spawn "$QEMU_IMG" create -q -f qed bq.qed 10M
spawn "$QEMU_IO" -f qed -c 'write -P 0x55 0 3M' bq.qed >/dev/null
spawn cp bq.qed bqg.qed
spawn "$QEMU_IMG" create -q -f qcow2 -b "$T/bqg.qed" -F qed tq.qcow2
spawn "$QEMU_IO" -f qcow2 -c 'write -P 0x66 1000 5000' -c 'write -P 0x67 2M 2M' \
	tq.qcow2 >/dev/null
spawn "$QEMU_IMG" convert -O raw tq.qcow2 want.raw
qimg commit -q tq.qcow2
ok "commit into a qed base: qemu-img check" qemu_clean bqg.qed
ok "commit into a qed base: content" contents_equal want.raw bqg.qed

# rebase (safe) of a qed image onto another backing file
for who in e g; do
	spawn cp top.qed rb-$who.qed
done
spawn "$QEMU_IMG" rebase -q -b base.qed -F qed rb-e.qed
qimg rebase -q -b base.qed -F qed rb-g.qed
ok "rebase: qemu-img check" qemu_clean rb-g.qed
ok "rebase: same content" contents_equal rb-e.qed rb-g.qed
ok "rebase: same header" cmp <(head -c 128 rb-e.qed) <(head -c 128 rb-g.qed)

# rebase -u: the name in the header area, as qemu-img writes it
for b in "-b ../base.qed -F qed" "-b ../base.raw -F raw" "-b ''" \
	"-b $(printf 'n%.0s' $(seq 1 3000)) -F raw"; do
	spawn cp top2.qed "$E/u.qed"
	spawn cp top2.qed "$G/u.qed"
	eval "same \"rebase -u $(echo "$b" | cut -c1-30)\" rebase -u $b u.qed"
	same_file "rebase -u $(echo "$b" | cut -c1-30)" u.qed
done

# --- NEED_CHECK ---------------------------------------------------------
spawn cp w.qed dirty.qed
poke dirty.qed 16 02
reads dirty.qed
for c in "check -r leaks" "check -r all" "resize" "rebase -u -b ''"; do
	spawn cp dirty.qed "$E/d.qed"
	spawn cp dirty.qed "$G/d.qed"
	case $c in
	resize) same "dirty: $c" resize d.qed 2G ;;
	rebase*) same "dirty: $c" rebase -u -b '' d.qed ;;
	*) eval "same \"dirty: $c\" $c d.qed" ;;
	esac
	same_file "dirty: $c" d.qed
done
# a dirty image with an entry past the end: repaired at read-write open
spawn cp dirty.qed dirty2.qed
poke dirty2.qed $((0x60008)) 0000001000000000
spawn cp dirty2.qed "$E/d2.qed"
spawn cp dirty2.qed "$G/d2.qed"
same "dirty, damaged: commit repairs first" rebase -u -b '' d2.qed
same_file "dirty, damaged: commit repairs first" d2.qed
# an unknown autoclear bit goes at a read-write open
spawn cp w.qed ac.qed
poke ac.qed 32 01
reads ac.qed
spawn cp ac.qed "$E/ac.qed"
spawn cp ac.qed "$G/ac.qed"
same "autoclear: resize" resize ac.qed 2G
same_file "autoclear: resize" ac.qed

# --- leaks and corruptions ------------------------------------------------
spawn cp w.qed leak.qed
spawn truncate -s $(($(stat -c %s w.qed) + 0x20000)) leak.qed
spawn cp w.qed tail.qed
spawn truncate -s $(($(stat -c %s w.qed) + 0x2000)) tail.qed
spawn cp w.qed bad-l2.qed
poke bad-l2.qed $((0x60008)) 0000001000000000
spawn cp w.qed bad-align.qed
poke bad-align.qed $((0x60010)) 0110050000000000
spawn cp w.qed bad-l1.qed
poke bad-l1.qed $((0x10000)) 0010001000000000
spawn cp w.qed double.qed
poke double.qed $((0x60010)) 0000050000000000
for img in leak tail bad-l2 bad-align bad-l1 double; do
	same "$img: check" check ../$img.qed
	same "$img: check json" check --output=json ../$img.qed
	same "$img: convert" convert -O raw ../$img.qed o.$img
	for r in leaks all; do
		spawn cp $img.qed "$E/f.qed"
		spawn cp $img.qed "$G/f.qed"
		same "$img: check -r $r" check -r $r f.qed
		same_file "$img: check -r $r" f.qed
	done
done
# writing after a leak: the next cluster goes where qemu puts it
for who in e g; do
	spawn cp tail.qed tw-$who.qed
done
spawn "$QEMU_IO" -f qed -c 'write -P 8 3M 64k' tw-e.qed >/dev/null
spawn "$QEMU_IMG" create -q -f qcow2 -b tw-g.qed -F qed tw.qcow2
spawn "$QEMU_IO" -f qcow2 -c 'write -P 8 3M 64k' tw.qcow2 >/dev/null
qimg commit -q tw.qcow2
ok "write over a partial last cluster: qimg's file is qemu's" \
	cmp tw-e.qed tw-g.qed

# --- damaged headers: qemu-img's refusals ---------------------------------
spawn "$QEMU_IMG" create -q -f qed h.qed 1M
n=0
for p in "4 00080000" "4 00001000" "4 00000008" "4 00000110" "8 03" "8 20" \
	"8 00" "12 00" "12 02" "16 08" "16 01" "17 01" "24 01" "32 01" \
	"40 0010" "40 0100" "41 000001" "48 01" "48 0000000000000001" \
	"50 00" "48 000200" "48 000000000004" "48 00000000000001" \
	"16 01 56 4000000000040000" "16 01 56 4000000000000100" \
	"16 01 56 0000010005000000" "16 01 56 feff000005000000" \
	"16 05 56 4000000003000000" "16 04" "0 51454401"; do
	n=$((n + 1))
	spawn cp h.qed dmg$n.qed
	set -- $p
	while [ $# -ge 2 ]; do
		poke dmg$n.qed "$1" "$2"
		shift 2
	done
	same "damaged header $p: info" info ../dmg$n.qed
done
same "short file" info -f qed ../base.raw

# --- big tables ------------------------------------------------------------
# 1 MiB clusters and 16-cluster tables: 16 MiB tables, each L2 table
# spanning 2 TiB (the largest tables qemu-img's size limit leaves room
# for).  qemu-img holds L1 and every L2 table it uses whole; qimg reads
# them a page at a time.
spawn "$QEMU_IMG" create -q -f qed -o cluster_size=1M,table_size=16 bigt.qed 16T
qio -f qed -c 'write -P 7 1T 3M' -c 'write -P 8 5T 1M' -c 'write -P 9 9T 1M' \
	-c 'write -P 10 13T 2M' bigt.qed
for args in "info bigt.qed" "check bigt.qed" \
	"convert -O qcow2 bigt.qed big-out.qcow2" \
	"compare bigt.qed big-out.qcow2" "map --output=json bigt.qed"; do
	# shellcheck disable=SC2086
	bounded "16 TiB, 16 MiB tables: $args" $args
done
# (qemu-img 7.2's map of it fails an assertion in its block layer)
ok "16 TiB: map shows the data at 13 TiB" grep -q \
	'"start": 14293651161088, "length": 2097152, .*"data": true' \
	"$T/bounded.out"
same "16 TiB: check" check ../bigt.qed
ok "16 TiB: the qcow2 copy holds the data" "$QEMU_IO" -r -f qcow2 \
	-c 'read -P 7 1T 3M' -c 'read -P 10 13T 2M' \
	-c "read -P 0 $(((13 << 40) + (2 << 20))) 1M" big-out.qcow2
# a write into the one unused 2 TiB span makes a 16 MiB table (written in
# 1 MiB pieces)
bounded "16 TiB: bench -w writes 4 MiB at 3 TiB (a new L2 table)" \
	bench -q -w -c 4 -s 1M --pattern=0x5c -o $((3 << 40)) -f qed bigt.qed
ok "16 TiB: qemu-img check clean after it" "$QEMU_IMG" check -q bigt.qed
ok "16 TiB: qemu-io reads every write back" "$QEMU_IO" -f qed -r \
	-c "read -P 0x5c 3T 4M" -c 'read -P 7 1T 3M' -c 'read -P 8 5T 1M' \
	-c "read -P 0 $(((3 << 40) + (4 << 20))) 1M" bigt.qed
rm -f bigt.qed big-out.qcow2

# --- resize ---------------------------------------------------------------
for s in 2M +1G 3000000 3000064 2098176 64T 100T 512K; do
	cp small.qed "$E/rs.qed"
	cp small.qed "$G/rs.qed"
	same "resize $s" resize rs.qed $s
	same_file "resize $s" rs.qed
done
cp small.qed "$E/rs.qed"
cp small.qed "$G/rs.qed"
same "resize --shrink refused" resize --shrink rs.qed 1M
same_file "resize --shrink refused" rs.qed

done_testing
