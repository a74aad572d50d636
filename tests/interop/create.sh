#!/bin/bash
# SPDX-License-Identifier: MIT
# `create` against qemu-img: the Formatting line, exit status and messages,
# and the image produced (qemu-img check clean, info JSON equal, and for
# qcow2 the very same bytes) for raw and qcow2 with every create option.
. "$(dirname "$0")/lib.sh"

# cr DESC NAME ARGS...: `create ARGS` with both tools (NAME is the image the
# command makes), then judge the images.
cr()
{
	local d=$1 name=$2 rc
	shift 2
	spawn rm -f "$E/$name" "$G/$name"
	same "$d" create "$@"
	read -r rc <"$R/e.rc"
	if [ "$rc" != 0 ]; then
		if [ -e "$E/$name" ] || [ ! -e "$G/$name" ]; then
			pass "$d: no file left behind"
		else
			fail "$d: no file left behind"
			diag "qimg left $name after a failed create"
		fi
		return
	fi
	[ "$name" = none ] && return
	if [ ! -f "$G/$name" ]; then
		fail "$d: image exists"
		return
	fi
	# (quick runs judge only the bytes when they are qemu-img's: its check
	# and info of its own image would say nothing more)
	if ! whole && spawn cmp -s "$E/$name" "$G/$name"; then
		pass "$d: same bytes"
		return
	fi
	case $name in
	*.qcow2)
		if check_clean "$G/$name"; then
			pass "$d: qemu-img check clean"
		else
			fail "$d: qemu-img check clean"
			"$QEMU_IMG" check "$(qcow2_nobacking "$G/$name")" 2>&1 | sed -n '1,10p' |
				sed 's/^/# /'
		fi
		;;
	esac
	if [ "$(cd "$E" && info_json "$name")" = \
	     "$(cd "$G" && info_json "$name")" ]; then
		pass "$d: info JSON equal"
	else
		fail "$d: info JSON equal"
		diff <(cd "$E" && info_json "$name") \
			<(cd "$G" && info_json "$name") | sed 's/^/# /'
	fi
	if spawn cmp -s "$E/$name" "$G/$name"; then
		pass "$d: same bytes"
	else
		fail "$d: same bytes"
		cmp "$E/$name" "$G/$name" 2>&1 | sed 's/^/# /'
		diag "sizes: $(stat -c %s "$E/$name") $(stat -c %s "$G/$name")"
	fi
}

# raw, sizes of §1.9 and preallocation modes
for s in 0 1 511 512 513 1000 1k 1.5k 1M 0x100 0X10 100b " 5M" +5M 64M; do
	# (quick runs leave out more plain numbers: 1 and 512 stand for them)
	case $s in 511 | 513 | 1000 | 1M | 64M) whole || continue ;; esac
	cr "raw size '$s'" r.raw -f raw r.raw "$s"
done
cr "raw default format" r.raw r.raw 1M
cr "raw -q" r.raw -q -f raw r.raw 1M
cr "raw -o size=" r.raw -f raw -o size=2M r.raw
for p in off falloc full; do
	cr "raw preallocation=$p" r.raw -f raw -o preallocation=$p r.raw 3M
done
cr "raw nocow,extent_size_hint" r.raw -f raw \
	-o nocow=on,preallocation=falloc,extent_size_hint=1M r.raw 1M

# qcow2 options, one at a time and in combinations
q()
{
	local opts=$1 size=${2:-64M}
	cr "qcow2 -o '$opts' $size" x.qcow2 -f qcow2 -o "$opts" x.qcow2 "$size"
}
cr "qcow2 defaults" x.qcow2 -f qcow2 x.qcow2 64M
cr "qcow2 1000 bytes" x.qcow2 -f qcow2 x.qcow2 1000
cr "qcow2 size 0" x.qcow2 -f qcow2 x.qcow2 0
cr "qcow2 1.5G" x.qcow2 -f qcow2 x.qcow2 1.5G
cr "qcow2 4T" x.qcow2 -f qcow2 x.qcow2 4T
# (quick runs: every third value of these lists, the first and last of
# the cluster sizes among them)
i=0
for c in 0.10 v2 1.1 v3; do
	quick_pick $i && q "compat=$c"
	i=$((i + 1))
done
i=0
for cs in 512 1k 2k 4k 8k 16k 32k 64k 128k 256k 512k 1M 2M; do
	quick_pick $i && q "cluster_size=$cs"
	i=$((i + 1))
done
q "cluster_size=0x1000"
q "cluster_size=512,compat=0.10" 16M
q "cluster_size=2M" 1G
i=0
for rb in 1 2 4 8 16 32 64; do
	quick_pick $i && q "refcount_bits=$rb"
	i=$((i + 1))
done
q "refcount_bits=1,cluster_size=512" 16M
q "refcount_bits=64,cluster_size=2M,lazy_refcounts=on" 1G
q "refcount_bits=16,compat=0.10"
q "lazy_refcounts=on"
# (quick runs: on, the bare flag and its no- form are enough spellings)
whole && q "lazy_refcounts=yes"
whole && q "lazy_refcounts=off"
q "lazy_refcounts"
q "nolazy_refcounts"
for cs in 16k 64k 2M; do
	# (quick runs: the smallest and largest clusters)
	[ $cs != 64k ] || whole || continue
	q "extended_l2=on,cluster_size=$cs"
done
q "extended_l2=off"
q "compression_type=zstd"
q "compression_type=zlib"
q "compression_type=zlib,compat=0.10"
# (quick runs: each mode once, with 64k and 4k clusters by turns)
i=0
for p in off metadata falloc full; do
	whole || [ $((i % 2)) = 0 ] && q "preallocation=$p" 4M
	whole || [ $((i % 2)) = 1 ] && q "preallocation=$p,cluster_size=4k" 1M
	i=$((i + 1))
done
q "preallocation=metadata,extended_l2=on" 8M
q "preallocation=metadata,compat=0.10" 8M
q "cluster_size=4k,cluster_size=8k"
q "cluster_size=4k -o lazy_refcounts=on" 1M
cr "qcow2 two -o" x.qcow2 -f qcow2 -o cluster_size=4k -o lazy_refcounts=on \
	x.qcow2 1M
cr "qcow2 -o size=" x.qcow2 -f qcow2 -o size=3M x.qcow2
cr "qcow2 -q" x.qcow2 -q -f qcow2 x.qcow2 1M

# backing files
spawn "$QEMU_IMG" create -q -f qcow2 base.qcow2 32M
spawn "$QEMU_IO" -c 'write -P 0x11 0 1M' base.qcow2 >/dev/null
spawn "$QEMU_IMG" create -q -f raw base.raw 16M
cr "backing qcow2, size from backing" x.qcow2 -f qcow2 -b ../base.qcow2 \
	-F qcow2 x.qcow2
cr "backing qcow2, own size" x.qcow2 -f qcow2 -b ../base.qcow2 -F qcow2 \
	x.qcow2 64M
cr "backing raw" x.qcow2 -f qcow2 -b ../base.raw -F raw x.qcow2
cr "backing -o backing_file" x.qcow2 -f qcow2 \
	-o backing_file=../base.qcow2,backing_fmt=qcow2 x.qcow2
cr "backing -u, missing file" x.qcow2 -f qcow2 -u -b nosuch.qcow2 -F qcow2 \
	x.qcow2 8M
cr "backing -u, existing" x.qcow2 -f qcow2 -u -b ../base.qcow2 -F qcow2 \
	x.qcow2 8M
cr "backing v2" x.qcow2 -f qcow2 -o compat=0.10 -b ../base.qcow2 -F qcow2 \
	x.qcow2
cr "backing name with comma" x.qcow2 -f qcow2 -u \
	-o 'backing_file=a,,b.qcow2,backing_fmt=qcow2' x.qcow2 1M

# help
cr "qcow2 -o help" none -f qcow2 -o help
cr "qcow2 -o ? with name" none -f qcow2 -o '?' x.qcow2
cr "raw -o help" none -f raw -o help
cr "help after valid option" none -f qcow2 -o cluster_size=4k,help x.qcow2 1M

# errors (§2.1)
cr "cluster size 3000" c.qcow2 -f qcow2 -o cluster_size=3000 c.qcow2 1M
# (quick runs: one of each of the refusals worded alike)
whole && cr "cluster size 256" c.qcow2 -f qcow2 -o cluster_size=256 \
	c.qcow2 1M
whole && cr "cluster size 4M" c.qcow2 -f qcow2 -o cluster_size=4M c.qcow2 1M
cr "refcount_bits 3" c.qcow2 -f qcow2 -o refcount_bits=3 c.qcow2 1M
whole && cr "refcount_bits 128" c.qcow2 -f qcow2 -o refcount_bits=128 \
	c.qcow2 1M
cr "refcount_bits abc" c.qcow2 -f qcow2 -o refcount_bits=abc c.qcow2 1M
cr "refcount_bits 8 on v2" c.qcow2 -f qcow2 -o compat=0.10,refcount_bits=8 \
	c.qcow2 1M
cr "compat 1.2" c.qcow2 -f qcow2 -o compat=1.2 c.qcow2 1M
cr "lazy refcounts on v2" c.qcow2 -f qcow2 -o compat=0.10,lazy_refcounts=on \
	c.qcow2 1M
cr "lazy_refcounts=maybe" c.qcow2 -f qcow2 -o lazy_refcounts=maybe c.qcow2 1M
cr "compression lz4" c.qcow2 -f qcow2 -o compression_type=lz4 c.qcow2 1M
cr "zstd on v2" c.qcow2 -f qcow2 -o compat=0.10,compression_type=zstd \
	c.qcow2 1M
cr "preallocation bogus" c.qcow2 -f qcow2 -o preallocation=bogus c.qcow2 1M
cr "raw preallocation bogus" c.raw -f raw -o preallocation=bogus c.raw 1M
# a format with no preallocation of its own leaves it to the file, judged
# before the format's own options (vhdx, vpc, qed, qcow) or after them
# (vmdk); luks judges its own mode before its names and secret
for f in vmdk vhdx vpc qed qcow; do
	cr "$f preallocation bogus" c.img -f $f -o preallocation=bogus c.img 1M
	cr "$f preallocation=metadata" c.img -f $f -o preallocation=metadata c.img 1M
done
for o in vhdx:block_size=3 vpc:subformat=x qed:cluster_size=3 \
	qcow:encrypt.format=x vmdk:adapter_type=x vmdk:backing_fmt=raw \
	luks:cipher-alg=x luks:key-secret=s; do
	cr "${o%%:*} preallocation bogus and ${o#*:}" c.img -f "${o%%:*}" \
		-o "preallocation=bogus,${o#*:}" c.img 1M
done
# the file's extent size hint (32 bits), judged before the options QEMU
# judges after it makes the file, after those it judges before
k=0
for o in raw: file: qcow2: qcow2:cluster_size=3 qcow2:compat=x vmdk: \
	vmdk:subformat=x vpc:subformat=x vhdx:block_size=3 qed:backing_fmt=foo \
	qcow:backing_fmt=foo qcow:encrypt.format=x vdi: parallels:cluster_size=0 \
	luks:cipher-alg=x luks: raw:preallocation=metadata raw:preallocation=x; do
	k=$((k + 1))
	quick_pick $k || continue
	cr "${o%%:*} extent_size_hint=5G ${o#*:}" c.img -f "${o%%:*}" \
		-o "extent_size_hint=5G${o#*:+,${o#*:}}" c.img 1M
done
cr "extent_size_hint 4G-1" c.img -f raw -o extent_size_hint=4294967295 c.img 1M
# a backing format QEMU's schema does not name (qcow2, qed), one qemu-img
# has no driver of (qcow); qcow2 judges preallocation before compression
for o in qcow2:foo qcow2: qcow2:nvme qcow2:iser qcow2:blkreplay qed:foo \
	qed:iser qcow:foo qcow:nvme qcow:blkreplay qcow:iser; do
	cr "${o%%:*} backing_fmt '${o#*:}'" c.img -f "${o%%:*}" \
		-o "backing_fmt=${o#*:}" c.img 1M
done
cr "qcow2 backing_fmt foo and compat x" c.img -f qcow2 -o backing_fmt=foo,compat=x c.img 1M
cr "qcow2 backing_fmt foo and encrypt.format x" c.img -f qcow2 \
	-o backing_fmt=foo,encrypt.format=x c.img 1M
cr "qcow2 preallocation before compression_type" c.img -f qcow2 \
	-o compression_type=x,preallocation=x c.img 1M
# qcow's encryption format names (aes is qcow's old name)
for v in x luks qcow ''; do
	cr "qcow encrypt.format '$v'" c.img -f qcow -o "encrypt.format=$v" c.img 1M
done
cr "extended_l2 with 4k clusters" c.qcow2 -f qcow2 \
	-o extended_l2=on,cluster_size=4k c.qcow2 1M
cr "extended_l2 on v2" c.qcow2 -f qcow2 -o extended_l2=on,compat=0.10 \
	c.qcow2 1M
cr "data_file_raw without data_file" c.qcow2 -f qcow2 -o data_file_raw=on \
	c.qcow2 1M
cr "too large for 512-byte clusters" c.qcow2 -f qcow2 -o cluster_size=512 \
	c.qcow2 64T
cr "bogus parameter" c.qcow2 -f qcow2 -o bogus=1 c.qcow2 1M
cr "invalid option list ,x" c.qcow2 -f qcow2 -o ,cluster_size=4k c.qcow2 1M
whole && cr "invalid option list x," c.qcow2 -f qcow2 -o cluster_size=4k, \
	c.qcow2 1M
cr "invalid option list empty" c.qcow2 -f qcow2 -o '' c.qcow2 1M
cr "value with escaped comma" c.qcow2 -f qcow2 -o cluster_size=4k,, c.qcow2 1M
cr "no size" c.qcow2 -f qcow2 c.qcow2
cr "size twice" c.qcow2 -f qcow2 -o size=1M c.qcow2 2M
cr "-o size= bad" c.qcow2 -f qcow2 -o size=1x c.qcow2
cr "-o size= 16E" c.qcow2 -f qcow2 -o size=16E c.qcow2
cr "backing without -F" c.qcow2 -f qcow2 -b ../base.qcow2 c.qcow2
cr "backing without -F, -u" c.qcow2 -f qcow2 -u -b ../base.qcow2 c.qcow2 1M
cr "backing missing" c.qcow2 -f qcow2 -b nosuch.qcow2 -F qcow2 c.qcow2
cr "backing same name" c.qcow2 -f qcow2 -b c.qcow2 -F qcow2 c.qcow2 1M
cr "backing empty name" c.qcow2 -f qcow2 -b '' -F qcow2 c.qcow2 1M
cr "backing on raw" c.raw -f raw -b ../base.raw -F raw c.raw 1M
cr "unknown format" c.x -f foo c.x 1M
cr "format without create" c.dmg -f dmg c.dmg 1M
cr "dmg -o help" none -f dmg -o help
cr "no file name" none -f qcow2
cr "extra argument" c.qcow2 -f qcow2 c.qcow2 1M extra
cr "bad size" c.qcow2 -f qcow2 c.qcow2 1.5
cr "size out of range" c.qcow2 -f qcow2 c.qcow2 16E
cr "in a missing directory" c.qcow2 -f qcow2 nodir/c.qcow2 1M
# a protocol or filter named as the format
cr "-f file" c.img -f file c.img 1M
cr "-f file -o help" none -f file -o help
cr "-f file, preallocation" c.img -f file -o preallocation=full c.img 1M
# -f file takes the name as a path, whatever protocol it looks like
cr "-f file, a name like a protocol's" "nbd:x" -f file "nbd:x" 1M
cr "-f file, an NBD URI as a path" none -f file "nbd://127.0.0.1:1/x" 1M
cr "-f file, file: prefix" f2.img -f file "file:f2.img" 1M
cr "-f blkdebug" c.img -f blkdebug c.img 1M
cr "-f null-co" c.img -f null-co c.img 1M
cr "-f throttle" c.img -f throttle c.img 1M
same "measure -O file" measure -O file --size 1M
same "measure -O blkdebug" measure -O blkdebug --size 1M
same "convert -O file" convert -O file ../base.raw c.img
ok "convert -O file: qemu-img's bytes" cmp "$E/c.img" "$G/c.img"

done_testing
