#!/bin/bash
# SPDX-License-Identifier: MIT
# The nfs protocol against qemu-img's, with files served by an NFS-Ganesha
# (a user-space NFSv3 server, VFS backend) started here on its own ports
# and export directory, registered with rpcbind (started here too when
# none runs).  info, map, check, compare, measure, convert and dd through
# both tools on raw and qcow2 images and a backing chain over NFS; images
# qimg writes there (convert -n, convert's create path, create, resize)
# checked by qemu-img; every name and option check and the server's
# refusals (export, file, permission) compared with qemu-img's words.
. "$(dirname "$0")/lib.sh"

GANESHA=${GANESHA:-/usr/bin/ganesha.nfsd}
need_server()
{
	[ "${CI:-}" = true ] && { echo "not ok 1 - $* (CI=true)"; echo "1..1"; exit 1; }
	skip_all "$*"
}
if [ ! -x "$GANESHA" ] || [ ! -x /usr/sbin/rpcbind ] || ! command -v rpcinfo >/dev/null; then
	need_server "ganesha.nfsd, rpcbind or rpcinfo not found (nfs-ganesha-vfs, rpcbind)"
fi
[ "$(id -u)" = 0 ] || skip_all "rpcbind and ganesha.nfsd need root"
"$QEMU_IMG" info 'json:{"driver":"nfs"}' 2>&1 | grep -q "Unknown driver" &&
	need_server "qemu-img has no nfs driver (qemu-block-extra)"
# One NFS server per machine at a time: rpcbind knows one per program.
exec 9>"${TMPDIR:-/tmp}/qimg-nfs-suite.lock"
flock 9

# --- the server -------------------------------------------------------------------
X=$T/export
spawn mkdir -p "$X" "$T/recov"
rpcbind_pid='' ganesha_pid=''
stop_nfs()
{
	local p
	for p in $ganesha_pid $rpcbind_pid; do
		kill "$p" 2>/dev/null
		for _ in $(seq 60); do
			kill -0 "$p" 2>/dev/null || break
			sleep 0.05
		done
		kill -9 "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
}
at_exit stop_nfs
if ! rpcinfo -p 127.0.0.1 >/dev/null 2>&1; then
	/usr/sbin/rpcbind -f >"$T/rpcbind.log" 2>&1 &
	rpcbind_pid=$!
	for _ in $(seq 100); do
		rpcinfo -p 127.0.0.1 >/dev/null 2>&1 && break
		sleep 0.05
	done
fi
NP=$(free_port) MP=$(free_port)
cat >"$T/ganesha.conf" <<EOF
NFS_CORE_PARAM { NFS_Port = $NP; MNT_Port = $MP; Bind_addr = 127.0.0.1;
	Protocols = 3; Enable_NLM = false; Enable_RQUOTA = false;
	Mount_Path_Pseudo = true; }
NFSV4 { RecoveryBackend = fs; RecoveryRoot = "$T/recov"; Graceless = true; }
EXPORT { Export_Id = 1; Path = "$X"; Pseudo = /export; Access_Type = RW;
	Squash = No_Root_Squash; SecType = sys; Protocols = 3; Transports = TCP;
	FSAL { Name = VFS; } }
LOG { Default_Log_Level = WARN; }
EOF
# Images the server shows as they are: made before it starts.  16 MiB: a
# copy of a.raw goes through NFS whole (raw has no block status there).
spawn "$QEMU_IMG" create -q -f raw "$X/a.raw" 16M
spawn "$QEMU_IO" -f raw -c 'write -P 0x61 1M 1M' -c 'write -P 0x62 3M 64k' "$X/a.raw" >/dev/null
spawn "$QEMU_IMG" create -q -f qcow2 "$X/a.qcow2" 16M
spawn "$QEMU_IO" -c 'write -P 0x11 0 1M' -c 'write -P 0x12 5M 512k' -c 'write -z 9M 1M' "$X/a.qcow2" >/dev/null
spawn "$QEMU_IMG" create -q -f qcow2 "$X/base.qcow2" 32M
spawn "$QEMU_IO" -c 'write -P 0x21 0 2M' "$X/base.qcow2" >/dev/null
spawn "$QEMU_IMG" create -q -f qcow2 -u -b nfs://127.0.0.1/export/base.qcow2 -F qcow2 "$X/top.qcow2" 32M
spawn "$QEMU_IO" -c 'write -P 0x22 1M 2M' "json:{\"driver\":\"qcow2\",\"backing\":null,\"file\":{\"driver\":\"file\",\"filename\":\"$X/top.qcow2\"}}" >/dev/null
spawn "$QEMU_IMG" create -q -f qcow2 -b base.qcow2 -F qcow2 "$X/rel.qcow2" 32M
spawn cp "$X/a.raw" "$T/a.raw"
spawn cp "$X/a.raw" "$X/target.raw"
spawn "$QEMU_IMG" convert -O raw "$X/a.qcow2" "$T/src.raw"
"$GANESHA" -F -f "$T/ganesha.conf" -L "$T/ganesha.log" -p "$T/ganesha.pid" >/dev/null 2>&1 &
ganesha_pid=$!
U=nfs://127.0.0.1/export
for _ in $(seq 100); do
	spawn "$QEMU_IMG" info "$U/a.raw" >/dev/null 2>&1 && break
	kill -0 "$ganesha_pid" 2>/dev/null || break
	sleep 0.1
done
spawn "$QEMU_IMG" info "$U/a.raw" >/dev/null 2>&1 || {
	diag_file "$T/ganesha.log"
	need_server "ganesha.nfsd did not serve the export"
}

# --- reading ----------------------------------------------------------------------
# --output=json prints what the text form does: quick mode for one image
# in three; a.qcow2's check (a clean qcow2) is whole mode's only, as
# top.qcow2's is one
i=0
for f in a.raw a.qcow2 top.qcow2; do
	same "info $f" info "$U/$f"
	quick_pick $i && same "info --output=json $f" info --output=json "$U/$f"
	same "map $f" map "$U/$f"
	quick_pick $i && same "map --output=json $f" map --output=json "$U/$f"
	{ [ $f != a.qcow2 ] || whole; } && same "check $f" check "$U/$f"
	i=$((i + 1))
done
same "info --backing-chain" info --backing-chain "$U/top.qcow2"
same "compare raw with qcow2 over nfs" compare "$U/a.raw" "$U/a.qcow2"
same "compare nfs with a local file" compare -f raw -F raw "$U/a.raw" ../a.raw
same "measure raw" measure -O qcow2 "$U/a.raw"
same "measure qcow2" measure -O qcow2 "$U/a.qcow2"
same "convert raw to a file" convert -O raw "$U/a.raw" a.copy
ok "convert: the bytes" cmp "$G/a.copy" "$T/a.raw"
same "convert a backing chain to a file" convert -O raw "$U/top.qcow2" top.copy
ok "convert: qemu-img's bytes" cmp "$G/top.copy" "$E/top.copy"
same "dd" dd if="$U/a.qcow2" of=dd.raw bs=1M count=12 -O raw
ok "dd: qemu-img's bytes" cmp "$G/dd.raw" "$E/dd.raw"

# --- writing ----------------------------------------------------------------------
g_ok_rc() { run_tool g "$@"; [ "$(cat "$R/g.rc")" = 0 ] || { diag_file "$R/g.err"; false; }; }
clean() { "$QEMU_IMG" check -q "$@" >/dev/null 2>&1; }
ok "convert -n onto a raw file" g_ok_rc convert -n -f qcow2 -O raw ../export/a.qcow2 "$U/target.raw"
ok "the server's file holds the bytes" cmp "$X/target.raw" "$T/src.raw"
ok "convert to qcow2 on nfs (create path)" g_ok_rc convert -O qcow2 ../export/a.qcow2 "$U/new.qcow2"
ok "qemu-img checks it" clean "$U/new.qcow2"
ok "qemu-img reads it as the source" contents_equal "$U/new.qcow2" "$X/a.qcow2"
ok "convert to raw on nfs (create path)" g_ok_rc convert -O raw ../src.raw "$U/new.raw"
ok "the server's new file" cmp "$X/new.raw" "$T/src.raw"
for f in raw qcow2; do
	same "create -f $f" create -f $f "$U/c.$f" 64M
	spawn cp "$X/c.$f" "$T/c.$f.e"
	qimg create -q -f $f "$U/c.$f" 64M
	ok "create -f $f: qemu-img's bytes" cmp "$X/c.$f" "$T/c.$f.e"
	same "info of the new $f" info "$U/c.$f"
done
ok "qemu-img checks qimg's qcow2" clean "$U/c.qcow2"
same "create with a backing file on nfs" create -f qcow2 -b "$U/base.qcow2" -F qcow2 "$U/ov.qcow2"
same "info of the overlay" info --backing-chain "$U/ov.qcow2"
same "create -o help" create -f raw -o help "$U/c.raw"
same "create -f raw, preallocation" create -f raw -o preallocation=off "$U/c.raw" 1M
same "create -f qcow2, preallocation=metadata" create -f qcow2 -o preallocation=metadata "$U/m.qcow2" 4M
same "create in a directory that is not there" create -f raw "$U/nodir/x.raw" 1M
same "resize: grow" resize -f raw "$U/c.raw" 128M
same "resize --shrink" resize --shrink -f raw "$U/c.raw" 32M
same "resize, preallocation=full" resize --preallocation=full -f raw "$U/c.raw" 64M
same "resize a qcow2" resize "$U/c.qcow2" 96M
ok "qemu-img checks the resized qcow2" clean "$U/c.qcow2"
# Where qimg differs on purpose (docs/DIFFERENCES.md): a relative backing
# name is taken from the image's directory (qemu-img looks under
# nfs://HOST/PATH/IMAGE/), and commit reopens an nfs node read-write
# (qemu-img: "Cannot open a read-only mount as read-write").
qimg info "$U/rel.qcow2" >"$T/rel.info" 2>&1
ok "a relative backing name: the image's directory" \
	grep -q "actual path: $U/base.qcow2)" "$T/rel.info"
spawn "$QEMU_IO" -c 'write -P 0x33 0 64k' "$U/ov.qcow2" >/dev/null
ok "commit into a backing file on nfs" g_ok_rc commit "$U/ov.qcow2"
holds() { ! "$QEMU_IO" -c "read -P $1 $2" "$3" 2>&1 | grep -q "verification failed"; }
ok "commit: the backing file holds the data" holds 0x33 "0 64k" "$U/base.qcow2"

# --- names, options, refusals -------------------------------------------------------
S='"server":{"type":"inet","host":"127.0.0.1"}'
J='"driver":"nfs",'$S',"path":"/export/a.raw"'
# "~": more names of a kind an unmarked one stands for (a refused query,
# an invalid URI, a missing host or path, a refused mount or access, a
# member that is no integer)
for c in \
	"$U/a.raw?uid=0&gid=0" "$U/a.raw?uid=5&gid=6" "~$U/a.raw?gid=6" "$U/a.raw?uid=0x10" \
	"$U/a.raw?tcp-syncnt=3&readahead=4096&pagecache=8&debug=0" "$U/a.raw?foo=1" \
	"$U/a.raw?uid=x" "$U/a.raw?uid" "~$U/a.raw?uid=-5" "~$U/a.raw?uid=5&foo" \
	"$U/a.raw?foo=1&uid" "$U/a.raw?=5" "$U/a.raw?=&foo" "$U/a.raw?uid=5;gid=6" \
	"$U/a.raw?uid=5;gid=6&debug=0" "$U/a.raw?u%69d=%35" "$U/a.raw?uid=18446744073709551615" \
	"$U/a.raw?uid=%zz" "$U/a%2eraw" "~$U/a raw" "~$U/a|raw" "$U/a.raw#x" \
	nfs://127.0.0.1:65535/export/a.raw nfs://127.0.0.1:65536/export/a.raw \
	'~'nfs://127.0.0.1:/export/a.raw nfs://u@127.0.0.1/export/a.raw \
	nfs:///export/a.raw nfs://127.0.0.1 '~'nfs://127.0.0.1?uid=5 '~'nfs:foo \
	"$U/nope.raw" nfs://127.0.0.1/nope/a.raw '~'nfs://127.0.0.1/a.raw \
	"$U/c.qcow2?uid=5" "~$U/new.raw?uid=5&gid=5" \
	"json:{$J}" "json:{$J,\"user\":5,\"group\":6,\"tcp-syn-count\":3,\"readahead-size\":4096,\"page-cache-size\":8,\"debug\":0}" \
	"json:{$J,\"user\":\"x\"}" "~json:{$J,\"user\":true}" "json:{$J,\"user\":\"5\"}" \
	"~json:{$J,\"readahead-size\":\"1k\"}" "~json:{$J,\"user\":18446744073709551615}" \
	'json:{"driver":"nfs"}' "json:{\"driver\":\"nfs\",$S}" \
	'json:{"driver":"nfs","server":"x","path":"/export/a.raw"}' \
	'json:{"driver":"nfs","server":{"host":"127.0.0.1"},"path":"/export/a.raw"}' \
	'json:{"driver":"nfs","server":{"type":"unix","host":"127.0.0.1"},"path":"/export/a.raw"}' \
	'json:{"driver":"nfs","server":{"type":"inet"},"path":"/export/a.raw"}' \
	'json:{"driver":"nfs","server":{"type":"inet","host":"127.0.0.1","port":1},"path":"/export/a.raw"}' \
	'json:{"driver":"nfs","server":{"type":"inet","host":""},"path":"/export/a.raw"}' \
	"json:{\"driver\":\"nfs\",$S,\"path\":\"a.raw\"}" "~json:{\"driver\":\"nfs\",$S,\"path\":\"/export\"}" \
	"json:{\"driver\":\"raw\",\"file\":{$J,\"user\":5}}"; do
	alike "$c" || continue
	same "info $item" info "$item"
done
same "--image-opts" info --image-opts "driver=nfs,server.type=inet,server.host=127.0.0.1,path=/export/a.raw"
same "--image-opts, user=x" info --image-opts "driver=nfs,server.type=inet,server.host=127.0.0.1,path=/export/a.raw,user=x"
same "--image-opts, no server.type" info --image-opts "driver=nfs,server.host=127.0.0.1,path=/export/a.raw"
same "a server that is not there" info nfs://127.0.0.2/export/a.raw
same "read a directory" info -f raw "$U/"

done_testing
