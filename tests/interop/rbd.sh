#!/bin/bash
# SPDX-License-Identifier: MIT
# The rbd protocol (Ceph RBD through librbd/librados) against qemu-img's,
# with a throw-away one-node cluster started here (ceph-cluster.sh: one
# monitor, one memstore OSD, pool "rbd", cephx on).  Both tools find the
# cluster the same ways: CEPH_CONF in the environment, :conf= in the name,
# "conf" in json:, and a monitor address and key given outright (legacy
# :mon_host=...:key=..., json "server" and "key-secret").  info, map,
# check, compare, measure, snapshot, convert, resize and create on raw
# images, qcow2 images inside RBD images, a backing chain in RBD, a
# namespace, RBD snapshots and a clone; each tool's own images checked by
# the other; every name and option error, refusals (read-only snapshots,
# a missing pool, image, namespace or snapshot, a wrong key, a monitor that
# does not answer) and RBD encryption (LUKS) compared with qemu-img's words.
#
# Images a command creates or changes exist twice, one per tool: an
# argument's {T} becomes zE for qemu-img and zG for qimg, and both outputs
# name zT.  librados waits client_mount_timeout for a monitor that does not
# answer (300 s by default): the conf files here set it short, and every
# qemu-img run has a time limit too (RBD_QEMU_TIMEOUT, 30 s).
. "$(dirname "$0")/lib.sh"

need_server()
{
	[ "${CI:-}" = true ] && { echo "not ok 1 - $* (CI=true)"; echo "1..1"; exit 1; }
	skip_all "$*"
}
if "$QEMU_IMG" info 'json:{"driver":"rbd"}' 2>&1 | grep -q "Unknown driver"; then
	need_server "qemu-img has no rbd driver (qemu-block-extra)"
fi
command -v rbd >/dev/null 2>&1 || need_server "the rbd tool is not installed (ceph-common)"

# qemu-img with a time limit (exit 124 when it hangs), named qemu-img so
# that its messages' prefix stays "qemu-img:"
REAL_QEMU_IMG=$(command -v "$QEMU_IMG")
spawn mkdir -p "$T/bin"
# (sh, not bash: some 300 runs, each a shell's start)
cat >"$T/bin/qemu-img" <<EOF
#!/bin/sh
exec timeout -k 2 ${RBD_QEMU_TIMEOUT:-30} "$REAL_QEMU_IMG" "\$@"
EOF
spawn chmod +x "$T/bin/qemu-img"
QEMU_IMG=$T/bin/qemu-img

# --- the cluster --------------------------------------------------------------------
CD=$T/ceph
stop_ceph()
{
	"$ROOT/tests/interop/ceph-cluster.sh" stop "$CD"
}
at_exit stop_ceph
MON=$("$ROOT/tests/interop/ceph-cluster.sh" start "$CD" 2>"$T/ceph-start.log")
case $? in
0) ;;
77) need_server "the Ceph daemons are not installed (ceph-mon, ceph-osd)" ;;
*)
	diag_file "$T/ceph-start.log"
	echo "not ok 1 - the Ceph cluster did not start"
	echo "1..1"
	exit 1
	;;
esac
PORT=${MON##*:}
CONF=$CD/ceph.conf
KEY=$(cat "$CD/admin.key")
export CEPH_CONF=$CONF
# a conf naming no monitor and no key (they come with the image's name),
# and one whose monitor does not answer; both give up after 1 s
NOCONF=$CD/none.conf
printf '[global]\nclient mount timeout = 1\n' >"$NOCONF"
DEAD=$CD/dead.conf
printf '[global]\nmon host = v1:127.0.0.1:%s\nclient mount timeout = 1\nkeyring = %s\n' \
	"$(free_port)" "$CD/keyring" >"$DEAD"
diag "cluster at $MON ($CONF)"

NORM=norm_rbd
norm_rbd()
{
	norm_size | sed -e 's/z[EG]/zT/g'
}
# norm_rbd done by bash itself (lib.sh's NORM_THEN): the same text
NORM_THEN[norm_rbd]=zT_named
zT_named()
{
	local x
	[ -s "$1" ] || return 0
	if ! small_file "$1"; then
		sed -i -e 's/z[EG]/zT/g' "$1"
		return
	fi
	IFS= read -r -d '' x <"$1"
	case $x in
	*z[EG]*) printf '%s' "${x//z[EG]/zT}" >"$1" ;;
	esac
	return 0
}

# run_as WHO TOOL ARGS...: TOOL (qemu-img or qimg) with ARGS, {T} in them
# replaced by zE (WHO e) or zG (WHO g), its results in $R/WHO.*, run in $E
# or $G.
run_as()
{
	local who=$1 tool=$2 tag=zE a rc
	shift 2
	[ "$who" = g ] && tag=zG
	local -a args=()
	for a in "$@"; do
		args+=("${a//\{T\}/$tag}")
	done
	if [ "$tool" = qemu-img ]; then
		(cd "$E" && exec "$QEMU_IMG" "${args[@]}") >"$R/$who.out" \
			2>"$R/$who.err" </dev/null
	else
		(cd "$G" && exec "${QIMG_LIMIT[@]}" "$QIMG" "${args[@]}") \
			>"$R/$who.out" 2>"$R/$who.err" </dev/null
	fi
	rc=$?
	echo "$rc" >"$R/$who.rc"
	norm_files "$R/$who"
}

# judge (lib.sh) compares the two runs of each check below.

# Every qemu-img run on the cluster costs 0.1 s or more (librados's
# connection): the two tools run side by side.  Nothing here runs two
# writers on one image at once: a command the two tools run on the same
# image only reads it or is refused.
# same DESC ARGS...: lib.sh's same, both tools at once.
same()
{
	local d=$1 p
	shift
	run_tool e "$@" &
	p=$!
	run_tool g "$@"
	wait "$p"
	judge "$d" "$@"
}

# pair DESC ARGS...: qemu-img on the zE images, qimg on the zG ones; the
# same outputs and exit status.
pair()
{
	local d=$1 p
	shift
	run_as e qemu-img "$@" &
	p=$!
	run_as g qimg "$@"
	wait "$p"
	judge "$d" "$@"
}

# cross DESC TOOL ARGS...: TOOL on the zE images and on the zG ones: each
# tool's work looks the same to TOOL.
cross()
{
	local d=$1 tool=$2 p
	shift 2
	run_as e "$tool" "$@" &
	p=$!
	run_as g "$tool" "$@"
	wait "$p"
	JUDGE_E="$tool on zE" JUDGE_G="$tool on zG" judge "$d ($tool reads both)" "$@"
}

# rbd_shape NAME: what the rbd tool says of an image, its names, ids and
# dates left out.
rbd_shape()
{
	rbd info --format json "$1" 2>&1 |
		sed -E -e 's/"(name|id|block_name_prefix|[a-z]+_timestamp)":"[^"]*",?//g'
}
# same_rbd DESC NAME: rbd/zENAME and rbd/zGNAME are alike to the rbd tool
# (size, object size, format, features, snapshot count).
same_rbd()
{
	local a b
	a=$(rbd_shape "rbd/zE$2") b=$(rbd_shape "rbd/zG$2")
	if [ "$a" = "$b" ]; then
		pass "$1: rbd info alike"
	else
		fail "$1: rbd info alike"
		diag "qemu-img's: $a" "qimg's:     $b"
	fi
}
# snaps NAME: the image's snapshot names, in order
snaps()
{
	rbd snap ls --format json "rbd/$1" 2>/dev/null | grep -o '"name":"[^"]*"' | tr '\n' ' '
}
# same_snaps DESC NAME: rbd/zENAME and rbd/zGNAME have the same snapshots
same_snaps()
{
	local a b
	a=$(snaps "zE$2") b=$(snaps "zG$2")
	if [ -n "$a$b" ] && [ "$a" = "$b" ]; then
		pass "$1: rbd snap ls alike ($a)"
	else
		fail "$1: rbd snap ls alike"
		diag "qemu-img's: $a" "qimg's:     $b"
	fi
}
# reads IMG PATTERN OFFSET LEN: qemu-io reads PATTERN there
reads()
{
	"$QEMU_IO" -f raw -c "read -P $2 $3 $4" "$1" 2>&1 | grep -q '^read '
}
# rbd_clean IMG: qemu-img check finds no errors and no leaks (a qcow2
# image inside an RBD image)
rbd_clean()
{
	spawn "$QEMU_IMG" check -q "$1" >/dev/null 2>&1
}
# images_equal A B: qemu-img compare finds the same guest bytes
images_equal()
{
	contents_equal "$1" "$2" || { diag "$1 and $2 differ"; false; }
}
# both CMD...: run CMD (a set-up step) twice, {T} in its arguments
# becoming zE, then zG
both()
{
	local tag a p=
	for tag in zE zG; do
		local -a args=()
		for a in "$@"; do
			args+=("${a//\{T\}/$tag}")
		done
		{ "${args[@]}" >"$T/both.$tag" 2>&1 ||
			diag "set-up failed: ${args[*]}: $(tail -n 1 "$T/both.$tag")"; } &
		p="$p $!"
	done
	# shellcheck disable=SC2086
	wait $p
}

# --- images to read, written by qemu-img, qemu-io and rbd ----------------------------
# rd: 64 MiB, written, an RBD snapshot (r1, by rbd), more writes, a
# discard and zeroes, a snapshot by qemu-img (q1); cs: 1 MiB objects;
# disc: an object written and discarded whole; empty: 0 bytes; cl: a clone
# of rd@r1 (r1 protected); ns1/nsi: in a namespace; base.q/top.q: qcow2
# images in RBD, top.q's backing file base.q; enc: a LUKS header (a quick
# key: made by qemu-img in a file, copied in) that librbd opens.
# Four independent groups, side by side.
{
	spawn "$QEMU_IMG" create -q -f raw rbd:rbd/rd 64M
	spawn "$QEMU_IO" -f raw -c 'write -P 7 0 1M' rbd:rbd/rd
	rbd snap create rbd/rd@r1
	rbd snap protect rbd/rd@r1
	spawn "$QEMU_IO" -f raw -c 'write -P 8 1M 1M' -c 'write -P 9 8M 64k' \
		-c 'write -P 10 20M 5M' -c 'discard 21M 1M' -c 'write -z 30M 8M' rbd:rbd/rd
	spawn "$QEMU_IMG" snapshot -c q1 rbd:rbd/rd
	rbd clone rbd/rd@r1 rbd/cl
	spawn "$QEMU_IO" -f raw -c 'write -P 4 16M 4k' rbd:rbd/cl
} >"$T/setup1.log" 2>&1 &
s1=$!
{
	rbd namespace create rbd/ns1
	spawn "$QEMU_IMG" create -q -f raw rbd:rbd/ns1/nsi 4M
	spawn "$QEMU_IO" -f raw -c 'write -P 5 0 64k' rbd:rbd/ns1/nsi
	spawn "$QEMU_IMG" create -q -f raw -o cluster_size=1M rbd:rbd/cs 8M
	spawn "$QEMU_IO" -f raw -c 'write -P 1 1M 1M' -c 'write -P 2 5M 512k' rbd:rbd/cs
	spawn "$QEMU_IMG" create -q -f raw rbd:rbd/disc 16M
	spawn "$QEMU_IO" -f raw -c 'write -P 3 0 8M' -c 'discard 0 4M' -c 'discard 8M 4M' rbd:rbd/disc
	spawn "$QEMU_IMG" create -q -f raw rbd:rbd/empty 0
} >"$T/setup2.log" 2>&1 &
s2=$!
{
	spawn "$QEMU_IMG" create -q -f qcow2 rbd:rbd/base.q 16M
	spawn "$QEMU_IO" -c 'write -P 0x55 0 2M' rbd:rbd/base.q
	spawn "$QEMU_IMG" create -q -f qcow2 -b rbd:rbd/base.q -F qcow2 rbd:rbd/top.q
	spawn "$QEMU_IO" -c 'write -P 0x56 1M 2M' rbd:rbd/top.q
} >"$T/setup3.log" 2>&1 &
s3=$!
{
	spawn "$QEMU_IMG" create -q -f raw src.raw 16M
	spawn "$QEMU_IO" -f raw -c 'write -P 0x41 0 1M' -c 'write -P 0x42 9M 100k' \
		-c 'write -P 0x43 12M 4M' src.raw
	# qemu-img's key derivation timer fails now and then (lib.sh's
	# retry_qemu_img_flake)
	for _ in 1 2 3 4 5 6; do
		"$REAL_QEMU_IMG" create -q -f luks --object secret,id=s0,data=abc123 \
			-o key-secret=s0,iter-time=10 enc.luks 12M && break
	done
	spawn "$QEMU_IMG" convert -f raw -O raw enc.luks rbd:rbd/enc
} >"$T/setup4.log" 2>&1 &
s4=$!
wait "$s1" "$s2" "$s3" "$s4"
cat "$T"/setup[1-4].log >"$T/setup.log"
if [ "$(rbd ls rbd 2>/dev/null | sort | tr '\n' ' ')" = "base.q cl cs disc empty enc rd top.q " ] &&
	[ "$(rbd ls rbd/ns1 2>/dev/null)" = nsi ] && [ -s enc.luks ]; then
	pass "set-up: images written by qemu-img, qemu-io and rbd"
else
	fail "set-up: images written by qemu-img, qemu-io and rbd"
	diag_file "$T/setup.log"
fi

# --- reading --------------------------------------------------------------------------
# QIMG_QUICK=1 runs a sample of each matrix (quick_pick): k counts variants
k=0
for i in rd cs disc empty cl ns1/nsi base.q top.q; do
	same "info --output=json $i" info --output=json "rbd:rbd/$i"
	same "map --output=json $i" map --output=json "rbd:rbd/$i"
	k=$((k + 1))
	quick_pick "$k" || continue
	same "info $i" info "rbd:rbd/$i"
	same "map $i" map "rbd:rbd/$i"
done
same "info -f raw rd" info -f raw rbd:rbd/rd
same "info -f rbd rd" info -f rbd rbd:rbd/rd
same "info of a snapshot (rbd's)" info rbd:rbd/rd@r1
same "info --output=json of a snapshot (qemu-img's)" info --output=json rbd:rbd/rd@q1
same "map of a snapshot" map --output=json rbd:rbd/rd@r1
same "map of a snapshot, human" map rbd:rbd/rd@q1
same "info --backing-chain, qcow2 in rbd" info --backing-chain rbd:rbd/top.q
same "snapshot -l (rbd's and qemu-img's snapshots)" snapshot -l rbd:rbd/rd
same "snapshot -l, json: raw over rbd" snapshot -l 'json:{"driver":"raw","file":{"driver":"rbd","pool":"rbd","image":"rd"}}'
same "snapshot -l, no snapshots" snapshot -l rbd:rbd/cs
same "snapshot -l of a snapshot" snapshot -l rbd:rbd/rd@r1
same "check raw" check rbd:rbd/rd
same "check qcow2 in rbd" check rbd:rbd/top.q
same "check --output=json qcow2 in rbd" check --output=json rbd:rbd/base.q
same "compare an image with its snapshot" compare rbd:rbd/rd rbd:rbd/rd@q1
same "compare a clone with its parent" compare rbd:rbd/cl rbd:rbd/rd@r1
same "compare qcow2 in rbd with its backing file" compare rbd:rbd/top.q rbd:rbd/base.q
same "compare rbd with a local file" compare -f raw -F raw rbd:rbd/cs ../src.raw
same "measure raw" measure -O qcow2 rbd:rbd/rd
same "measure qcow2" measure -O qcow2 rbd:rbd/top.q
same "convert rbd to a raw file" convert -O raw rbd:rbd/rd rd.raw
ok "convert rbd to a raw file: qemu-img's bytes" cmp "$E/rd.raw" "$G/rd.raw"
same "convert a snapshot to a raw file" convert -O raw rbd:rbd/rd@r1 r1.raw
ok "convert a snapshot: qemu-img's bytes" cmp "$E/r1.raw" "$G/r1.raw"
same "convert rbd to qcow2" convert -O qcow2 rbd:rbd/rd rd.qcow2
ok "convert rbd to qcow2: the image's bytes" images_equal "$G/rd.qcow2" rbd:rbd/rd
ok "convert rbd to qcow2: qemu-img checks it" check_clean "$G/rd.qcow2"
same "convert a chain in rbd to a raw file" convert -O raw rbd:rbd/top.q top.raw
ok "convert a chain: qemu-img's bytes" cmp "$E/top.raw" "$G/top.raw"
same "dd from rbd" dd if=rbd:rbd/cs of=dd.raw bs=1M count=6 -O raw
ok "dd from rbd: qemu-img's bytes" cmp "$E/dd.raw" "$G/dd.raw"

# --- creating, converting, resizing ----------------------------------------------------
pair "create -f raw" create -f raw "rbd:rbd/{T}new" 64M
same_rbd "create -f raw" new
cross "info of the new image" qemu-img info "rbd:rbd/{T}new"
cross "info of the new image" qimg info "rbd:rbd/{T}new"
pair "create an image that exists" create -f raw "rbd:rbd/{T}new" 64M
pair "create -q" create -q -f raw "rbd:rbd/{T}q" 1M
pair "create, a size not a multiple of 512" create -f raw "rbd:rbd/{T}odd" 1000
cross "the size rounded up" qemu-img info "rbd:rbd/{T}odd"
pair "create, size 0" create -f raw "rbd:rbd/{T}zero" 0
pair "create -f rbd" create -f rbd "rbd:rbd/{T}frbd" 1M
for cs in 1M 4k 0 64k; do
	k=$((k + 1))
	quick_pick "$k" || [ "$cs" = 1M ] || continue
	pair "create -o cluster_size=$cs" create -f raw -o "cluster_size=$cs" "rbd:rbd/{T}cs$cs" 8M
	same_rbd "create -o cluster_size=$cs" "cs$cs"
done
for cs in 3M 2k 64M 1x; do
	k=$((k + 1))
	quick_pick "$k" || continue
	pair "create -o cluster_size=$cs (refused)" create -f raw -o "cluster_size=$cs" "rbd:rbd/{T}bcs$cs" 8M
done
same "create -o help" create -f raw -o help rbd:rbd/x
same "create -f rbd -o help" create -f rbd -o help rbd:rbd/x
pair "create -o preallocation (not an rbd option)" create -f raw -o preallocation=full "rbd:rbd/{T}pa" 1M
pair "create -o password-secret, no such secret" create -f raw -o password-secret=nope "rbd:rbd/{T}pw" 1M
same "create in a pool that is not there" create -f raw rbd:nopool/x 1M
same "create in a namespace that is not there" create -f raw rbd:rbd/nons/x 1M
pair "create in a namespace" create -f raw "rbd:rbd/ns1/{T}n" 4M
cross "info in a namespace" qemu-img info "rbd:rbd/ns1/{T}n"
pair "create with a snapshot name" create -f raw "rbd:rbd/{T}sn@s" 1M
pair "create with :conf=" create -f raw "rbd:rbd/{T}c1:conf=$CONF" 1M
pair "create with :id= and :mon_host=" create -f raw "rbd:rbd/{T}c2:id=admin:mon_host=127.0.0.1\\:$PORT" 1M
pair "create -f qcow2 in rbd" create -f qcow2 "rbd:rbd/{T}qc" 16M
cross "qcow2 in rbd" qemu-img info "rbd:rbd/{T}qc"
ok "qcow2 in rbd: qemu-img checks qimg's" rbd_clean "rbd:rbd/zGqc"
pair "create qcow2 with a backing file in rbd" \
	create -f qcow2 -b rbd:rbd/base.q -F qcow2 "rbd:rbd/{T}ov"
cross "the overlay" qemu-img info --backing-chain "rbd:rbd/{T}ov"
both "$QEMU_IO" -c 'write -P 0x66 3M 1M' "rbd:rbd/{T}ov"
cross "the overlay written" qimg map --output=json "rbd:rbd/{T}ov"
ok "the overlay: qemu-img checks qimg's" rbd_clean "rbd:rbd/zGov"
pair "create qcow2 over an rbd snapshot" create -f qcow2 -b rbd:rbd/rd@r1 -F raw "rbd:rbd/{T}ovs"
cross "the overlay of a snapshot" qemu-img compare "rbd:rbd/{T}ovs" rbd:rbd/rd@r1

both "$QEMU_IMG" create -q -f raw "rbd:rbd/{T}tgt" 16M
pair "convert -n a file onto rbd" convert -n -f raw -O raw ../src.raw "rbd:rbd/{T}tgt"
ok "convert -n: the bytes" contents_equal rbd:rbd/zGtgt "$T/src.raw"
cross "convert -n: the map" qemu-img map --output=json "rbd:rbd/{T}tgt"
pair "convert a file to rbd (create path)" convert -f raw -O raw ../src.raw "rbd:rbd/{T}cv"
ok "convert, create path: the bytes" contents_equal rbd:rbd/zGcv "$T/src.raw"
same_rbd "convert, create path" cv
pair "convert onto an image that exists (no -n)" convert -f raw -O raw ../src.raw "rbd:rbd/{T}cv"
pair "convert -O qcow2 into rbd" convert -f raw -O qcow2 ../src.raw "rbd:rbd/{T}cq"
ok "convert -O qcow2 into rbd: qemu-img checks it" rbd_clean "rbd:rbd/zGcq"
ok "convert -O qcow2 into rbd: the bytes" contents_equal rbd:rbd/zGcq "$T/src.raw"
pair "convert -o cluster_size" convert -f raw -O raw -o cluster_size=1M ../src.raw "rbd:rbd/{T}cv1"
same_rbd "convert -o cluster_size" cv1
pair "convert rbd to rbd" convert -O raw rbd:rbd/rd "rbd:rbd/{T}rr"
ok "convert rbd to rbd: the bytes" contents_equal rbd:rbd/zGrr rbd:rbd/rd
cross "convert rbd to rbd: the map" qemu-img map --output=json "rbd:rbd/{T}rr"
pair "convert to a snapshot" convert -n -f raw -O raw ../src.raw "rbd:rbd/{T}tgt@nosnap"
pair "convert to a pool that is not there" convert -f raw -O raw ../src.raw "rbd:nopool/{T}x"
pair "dd into a new rbd image" dd -O raw if=../src.raw "of=rbd:rbd/{T}dd" bs=64k
ok "dd into rbd: the bytes" contents_equal rbd:rbd/zGdd "$T/src.raw"

both "$QEMU_IMG" create -q -f raw "rbd:rbd/{T}rs" 16M
both "$QEMU_IO" -f raw -c 'write -P 0x71 0 12M' "rbd:rbd/{T}rs"
pair "resize: grow" resize -f raw "rbd:rbd/{T}rs" 32M
pair "resize: grow, format probed" resize "rbd:rbd/{T}rs" +4M
pair "resize: shrink without --shrink" resize -f raw "rbd:rbd/{T}rs" 8M
pair "resize --shrink" resize -f raw --shrink "rbd:rbd/{T}rs" 6M
cross "resized" qemu-img info "rbd:rbd/{T}rs"
cross "resized: the map" qemu-img map --output=json "rbd:rbd/{T}rs"
pair "resize --shrink to 0" resize -f raw --shrink "rbd:rbd/{T}rs" 0
pair "resize --preallocation=full" resize -f raw --preallocation=full "rbd:rbd/{T}rs" 1M
pair "resize qcow2 in rbd" resize "rbd:rbd/{T}qc" 32M
ok "resized qcow2 in rbd: qemu-img checks it" rbd_clean "rbd:rbd/zGqc"
same "resize a snapshot" resize -f raw rbd:rbd/rd@r1 128M
same "resize an image that is not there" resize -f raw rbd:rbd/nope 1M

# --- snapshots --------------------------------------------------------------------------
both "$QEMU_IMG" create -q -f raw "rbd:rbd/{T}s" 8M
both "$QEMU_IO" -f raw -c 'write -P 0x21 0 1M' "rbd:rbd/{T}s"
both rbd snap create "rbd/{T}s@bysnap"
pair "snapshot -c" snapshot -c one "rbd:rbd/{T}s"
both "$QEMU_IO" -f raw -c 'write -P 0x22 0 512k' "rbd:rbd/{T}s"
# qemu-img's snapshot has no -f: a json: name says raw (no probing, no
# warning)
RAWS='json:{"driver":"raw","file":{"driver":"rbd","pool":"rbd","image":"{T}s"}}'
pair "snapshot -f (not an option of snapshot)" snapshot -f raw -c two "rbd:rbd/{T}s"
pair "snapshot -c, json: raw over rbd" snapshot -c two "$RAWS"
same_snaps "snapshot -c" s
pair "snapshot -l" snapshot -l "rbd:rbd/{T}s"
cross "the snapshots" qemu-img snapshot -l "rbd:rbd/{T}s"
cross "the snapshots" qimg info --output=json "rbd:rbd/{T}s"
pair "snapshot -c of a name in use" snapshot -c one "rbd:rbd/{T}s"
pair "snapshot -c, a snapshot's name with @" snapshot -c "a@b" "rbd:rbd/{T}s"
both "$QEMU_IO" -f raw -c 'write -P 0x23 0 64k' "rbd:rbd/{T}s"
pair "snapshot -a" snapshot -a one "rbd:rbd/{T}s"
ok "snapshot -a: the data" reads rbd:rbd/zGs 0x21 0 1M
cross "snapshot -a" qemu-img compare "rbd:rbd/{T}s" "rbd:rbd/{T}s@one"
pair "snapshot -a, json: raw over rbd" snapshot -a two "$RAWS"
cross "snapshot -a, json: raw over rbd" qemu-img compare "rbd:rbd/{T}s" "rbd:rbd/{T}s@two"
pair "snapshot -a, no such snapshot" snapshot -a nope "rbd:rbd/{T}s"
pair "snapshot -d" snapshot -d one "rbd:rbd/{T}s"
pair "snapshot -d, no such snapshot" snapshot -d one "rbd:rbd/{T}s"
pair "snapshot -d, rbd's snapshot" snapshot -d bysnap "$RAWS"
same_snaps "snapshot -d" s
both rbd snap protect "rbd/{T}s@two"
pair "snapshot -d of a protected snapshot" snapshot -d two "rbd:rbd/{T}s"
pair "snapshot -c on a snapshot" snapshot -c three "rbd:rbd/{T}s@two"
pair "snapshot -l -q" snapshot -l -q "rbd:rbd/{T}s"
# one tool makes, the other lists
run_as g qimg snapshot -c byqimg rbd:rbd/rd
if [ "$(cat "$R/g.rc")" = 0 ] && snaps rd | grep -q '"byqimg"'; then
	pass "qimg's snapshot -c: rbd lists it"
else
	fail "qimg's snapshot -c: rbd lists it"
	diag_file "$R/g.err"
fi
run_as e qemu-img snapshot -l rbd:rbd/rd
run_as g qimg snapshot -l rbd:rbd/rd
judge "a snapshot qimg made, listed by both" snapshot -l rbd:rbd/rd
run_as e qemu-img snapshot -d byqimg rbd:rbd/rd
if [ "$(cat "$R/e.rc")" = 0 ]; then
	pass "qemu-img deletes qimg's snapshot"
else
	fail "qemu-img deletes qimg's snapshot"
	diag_file "$R/e.err"
fi
same "snapshot -l after" snapshot -l rbd:rbd/rd

# --- names and options ------------------------------------------------------------------
S='"server":[{"host":"127.0.0.1","port":"'$PORT'"}]'
J='"driver":"rbd","pool":"rbd","image":"rd"'
# QEMU's key-secret holds the key's bytes: the base64 text of admin.key
# (with its newline) needs format=base64
SEC="secret,id=sec0,file=$CD/admin.key,format=base64"
for c in \
	"rbd:rbd/rd:conf=$CONF" "rbd:rbd/rd:conf=$CONF:id=admin" "rbd:rbd/rd:id=admin" \
	"rbd:rbd/rd@r1:conf=$CONF" "rbd:rbd/ns1/nsi:conf=$CONF" "rbd:rbd/rd:" \
	"rbd:rbd/rd:conf=/nonexistent" "rbd:rbd/rd:conf=$CONF:conf=/nonexistent" \
	"rbd:rbd/rd:foo=bar" "rbd:rbd/rd:user=admin" "rbd:rbd/rd:=x" "rbd:rbd/rd:id" \
	"rbd:rbd/rd:id=nobody" "rbd:rbd/rd:id=admin:id=nobody" "rbd:rbd/rd:key=garbage" \
	"rbd:rbd/rd:mon_host=127.0.0.1:$PORT" "rbd:rbd/rd:client_mount_timeout=x" \
	"rbd:rbd/rd@" "rbd:rbd/rd\\@r1" "rbd:rbd\\/rd" "rbd:rbd/rd\\:x" "rbd:rbd/rd@r1@r2" \
	"rbd:" "rbd:rbd" "rbd:rbd/" "rbd:/rd" "rbd:rbd/@r1" "rbd:rbd//rd" "rbd:rbd/ns1/" \
	"rbd:nopool/rd" "rbd:rbd/nope" "rbd:rbd/rd@nosnap" "rbd:rbd/nons/rd" \
	"rbd:rbd/ns1/nsi/x" "rbd:rbd/ns1/nsi@nosnap" "rbd:rbd/ns1/rd" \
	"json:{$J}" "json:{$J,\"conf\":\"$CONF\"}" "json:{$J,\"snapshot\":\"r1\"}" \
	"json:{$J,\"namespace\":\"\"}" \
	'json:{"driver":"rbd","pool":"rbd","namespace":"ns1","image":"nsi"}' \
	"json:{$J,\"user\":\"admin\"}" "json:{$J,\"user\":\"nobody\"}" \
	"json:{$J,\"server\":[]}" "json:{$J,$S}" \
	"json:{$J,\"server\":[{\"host\":\"127.0.0.1\",\"port\":$PORT}]}" \
	"json:{$J,\"server\":[{\"host\":\"127.0.0.1\"}]}" \
	"json:{$J,\"server\":{\"host\":\"127.0.0.1\",\"port\":\"$PORT\"}}" \
	"json:{$J,\"auth-client-required\":[\"cephx\"]}" \
	"json:{$J,\"auth-client-required\":[\"cephx\",\"none\"]}" \
	"json:{$J,\"auth-client-required\":[\"foo\"]}" \
	"json:{$J,\"auth-client-required\":\"cephx\"}" \
	"json:{$J,\"key-secret\":\"nosec\"}" "json:{$J,\"conf\":\"/nonexistent\"}" \
	"json:{$J,\"snapshot\":\"nosnap\"}" "json:{$J,\"foo\":1}" \
	"json:{$J,\"encrypt\":{\"format\":\"luks\"}}" \
	"json:{$J,\"encrypt\":{\"format\":\"luks-any\",\"key-secret\":\"x\"}}" \
	'json:{"driver":"rbd","pool":"rbd"}' 'json:{"driver":"rbd","image":"rd"}' \
	'json:{"driver":"rbd","pool":"rbd","image":""}' 'json:{"driver":"rbd","pool":"","image":"rd"}' \
	'json:{"driver":"rbd","pool":"rbd","image":"rd","namespace":"nons"}' \
	'json:{"driver":"rbd","filename":"rbd:rbd/rd"}' \
	'json:{"driver":"rbd","filename":"rbd:rbd/rd","pool":"x"}' \
	"json:{\"driver\":\"raw\",\"file\":{$J}}" \
	"json:{\"driver\":\"qcow2\",\"file\":{\"driver\":\"rbd\",\"pool\":\"rbd\",\"image\":\"top.q\"}}"; do
	k=$((k + 1))
	quick_pick "$k" || continue
	same "info $c" info "$c"
done
same "--image-opts" info --image-opts driver=rbd,pool=rbd,image=rd
same "--image-opts, conf and snapshot" info --image-opts "driver=rbd,pool=rbd,image=rd,conf=$CONF,snapshot=q1"
same "--image-opts, raw over rbd" info --image-opts driver=raw,file.driver=rbd,file.pool=rbd,file.image=rd
same "--image-opts, an unknown option" info --image-opts driver=rbd,pool=rbd,image=rd,foo=bar
same "--image-opts, no image" info --image-opts driver=rbd,pool=rbd
same "--image-opts, server" info --image-opts "driver=rbd,pool=rbd,image=rd,server.0.host=127.0.0.1,server.0.port=$PORT"
same "map --image-opts" map --output=json --image-opts driver=rbd,pool=rbd,image=cs
same "info, the conf from CEPH_CONF" info --output=json rbd:rbd/cs
# the monitor's address and the key in the name or the options, no conf
export CEPH_CONF=$NOCONF
same "no conf, no monitor" info rbd:rbd/rd
same "legacy :mon_host= (':' escaped) and :key=" info "rbd:rbd/rd:mon_host=127.0.0.1\\:$PORT:key=$KEY"
same "legacy :id=, :mon_host=, :key=" info "rbd:rbd/rd:id=admin:mon_host=127.0.0.1\\:$PORT:key=$KEY"
same "legacy :keyring=" info "rbd:rbd/rd:mon_host=127.0.0.1\\:$PORT:keyring=$CD/keyring"
same "legacy :mon_host= with v1: and brackets" info "rbd:rbd/rd:mon_host=[v1\\:127.0.0.1\\:$PORT]:key=$KEY"
same "legacy :mon_host=, a host name" info "rbd:rbd/rd:mon_host=localhost\\:$PORT:key=$KEY"
same "legacy :mon_host= without escaping" info "rbd:rbd/rd:mon_host=127.0.0.1:$PORT:key=$KEY"
whole && same "legacy, a wrong key" info "rbd:rbd/rd:mon_host=127.0.0.1\\:$PORT:key=AQCxSxVr9+A2ChAAaMiVuUi4xW5gkmfb9QRbab=="
same "legacy, a key that is not base64" info "rbd:rbd/rd:mon_host=127.0.0.1\\:$PORT:key=garbage"
same "json server and key-secret" info --object "$SEC" "json:{$J,$S,\"user\":\"admin\",\"key-secret\":\"sec0\"}"
same "json server and key-secret (data=, no newline)" info --object "secret,id=sec0,data=$KEY,format=base64" "json:{$J,$S,\"key-secret\":\"sec0\"}"
same "json server and key-secret, --output=json" info --output=json --object "$SEC" "json:{$J,$S,\"key-secret\":\"sec0\"}"
same "json, raw over rbd with key-secret" info --object "$SEC" "json:{\"driver\":\"raw\",\"file\":{$J,$S,\"key-secret\":\"sec0\"}}"
same "--image-opts server and key-secret" map --object "$SEC" --image-opts "driver=rbd,pool=rbd,image=cs,server.0.host=127.0.0.1,server.0.port=$PORT,key-secret=sec0"
same "key-secret not format=base64" info --object "secret,id=sec0,file=$CD/admin.key" "json:{$J,$S,\"key-secret\":\"sec0\"}"
same "key-secret, a wrong key" info --object "secret,id=sec0,data=AQCxSxVr9+A2ChAAaMiVuUi4xW5gkmfb9QRbab==,format=base64" "json:{$J,$S,\"key-secret\":\"sec0\"}"
same "key-secret, a missing secret object" info "json:{$J,$S,\"key-secret\":\"sec0\"}"
same "a monitor that does not answer (json)" info --object "$SEC" "json:{$J,\"server\":[{\"host\":\"127.0.0.1\",\"port\":\"$(free_port)\"}],\"key-secret\":\"sec0\"}"
whole && same "a monitor that does not answer (legacy)" info "rbd:rbd/rd:mon_host=127.0.0.1\\:$(free_port):key=$KEY"
whole && same "auth_supported=none against cephx" info "rbd:rbd/rd:mon_host=127.0.0.1\\:$PORT:auth_supported=none"
pair "create with the monitor and key in the name" create -f raw "rbd:rbd/{T}nc:mon_host=127.0.0.1\\:$PORT:key=$KEY" 1M
export CEPH_CONF=$CONF
same "a conf whose monitor does not answer" info "rbd:rbd/rd:conf=$DEAD"
whole && same "json conf whose monitor does not answer" info "json:{$J,\"conf\":\"$DEAD\"}"

# --- read-only snapshots, missing things ------------------------------------------------
for c in \
	"convert -n -f raw -O raw ../src.raw rbd:rbd/rd@r1" \
	"snapshot -c x rbd:rbd/rd@r1" "snapshot -d r1 rbd:rbd/rd@r1" \
	"amend -f raw -o size=1M rbd:rbd/rd@r1" "rebase -u -b rbd:rbd/cs -F raw rbd:rbd/rd@r1" \
	"commit rbd:rbd/rd@r1" "bench -w -c 1 -f raw rbd:rbd/rd@r1" \
	"check -r all rbd:rbd/rd@r1" \
	"dd -O raw if=../src.raw of=rbd:rbd/rd@r1" \
	"map rbd:rbd/nope" "check rbd:rbd/nope" "snapshot -l rbd:rbd/nope" \
	"snapshot -l rbd:nopool/rd" "compare rbd:rbd/rd rbd:rbd/rd@nosnap" \
	"convert -O raw rbd:rbd/nope x.raw" "measure -O raw rbd:rbd/rd@nosnap"; do
	k=$((k + 1))
	quick_pick "$k" || continue
	# shellcheck disable=SC2086
	same "$c" $c
done

# --- encryption (librbd's LUKS) ---------------------------------------------------------
EJ='"driver":"rbd","pool":"rbd","image":"enc","encrypt":{"format":"luks","key-secret":"sec0"}'
PW="secret,id=sec0,data=abc123"
same "info of a LUKS image (unopened)" info rbd:rbd/enc
same "info with encrypt" info --object "$PW" "json:{$EJ}"
same "info --output=json with encrypt" info --output=json --object "$PW" "json:{$EJ}"
same "raw over rbd with encrypt" info --object "$PW" "json:{\"driver\":\"raw\",\"file\":{$EJ}}"
same "map with encrypt" map --output=json --object "$PW" "json:{$EJ}"
same "convert with encrypt to a file" convert -O raw --object "$PW" "json:{$EJ}" dec.raw
ok "convert with encrypt: qemu-img's bytes" cmp "$E/dec.raw" "$G/dec.raw"
same "encrypt, a wrong passphrase" info --object secret,id=sec0,data=wrong "json:{$EJ}"
same "encrypt, format luks2 on a LUKS1 image" info --object "$PW" \
	"json:{\"driver\":\"rbd\",\"pool\":\"rbd\",\"image\":\"enc\",\"encrypt\":{\"format\":\"luks2\",\"key-secret\":\"sec0\"}}"
same "encrypt on an image that is not encrypted" info --object "$PW" \
	"json:{\"driver\":\"rbd\",\"pool\":\"rbd\",\"image\":\"cs\",\"encrypt\":{\"format\":\"luks\",\"key-secret\":\"sec0\"}}"
same "encrypt, no such secret" info "json:{$EJ}"
same "the luks driver over rbd" info --object "$PW" \
	"json:{\"driver\":\"luks\",\"key-secret\":\"sec0\",\"file\":{\"driver\":\"rbd\",\"pool\":\"rbd\",\"image\":\"enc\"}}"
pair "create -o encrypt.format=luks without a secret" create -f raw -o encrypt.format=luks "rbd:rbd/{T}e1" 16M
pair "create -o encrypt.format=foo" create --object "$PW" -f raw -o encrypt.format=foo,encrypt.key-secret=sec0 "rbd:rbd/{T}e2" 16M
pair "create -o encrypt.key-secret, no such secret" create -f raw -o encrypt.format=luks,encrypt.key-secret=nope "rbd:rbd/{T}e3" 16M
pair "create -o encrypt.cipher-alg=des" create --object "$PW" -f raw -o encrypt.format=luks,encrypt.key-secret=sec0,encrypt.cipher-alg=des "rbd:rbd/{T}e4" 16M
pair "create -o encrypt.format=luks2, too small for its header" create --object "$PW" -f raw \
	-o encrypt.format=luks2,encrypt.key-secret=sec0,encrypt.cipher-alg=aes-128 "rbd:rbd/{T}e5" 16M
# librbd derives the key for 2 s or so at each format and each open of an
# image it formatted: the whole runs only
if whole; then
	pair "create -o encrypt.format=luks" create --object "$PW" -f raw -o encrypt.format=luks,encrypt.key-secret=sec0 "rbd:rbd/{T}e6" 16M
	NORM=norm_luks
	norm_luks()
	{
		norm_rbd | sed -E -e 's/(uuid: ).*/\1U/' -e 's/(iters: ).*/\1N/'
	}
	cross "the LUKS image" qemu-img info "rbd:rbd/{T}e6"
	NORM=norm_rbd
	cross "opened with encrypt" qemu-img info --object "$PW" \
		"json:{\"driver\":\"rbd\",\"pool\":\"rbd\",\"image\":\"{T}e6\",\"encrypt\":{\"format\":\"luks\",\"key-secret\":\"sec0\"}}"
else
	skip "create -o encrypt.format=luks (librbd's key derivation takes seconds: QIMG_QUICK=0 runs it)"
fi

done_testing
