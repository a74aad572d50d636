#!/bin/bash
# SPDX-License-Identifier: MIT
# The gluster protocol against qemu-img's, on a volume of this host's
# glusterd (gluster-server.sh).  Every call that reaches the server costs
# some 10 s in both tools (libgfapi's glfs_fini waits for its next 10 s
# timer tick), so the checks run as background jobs, both tools at once,
# and are collected in order: info, map, check, compare, measure, convert
# to and from gluster, create raw and qcow2 (each tool's image checked by
# the other tool), resize, and the name and option checks, a missing
# volume and file and a port nobody answers on, compared with qemu-img's
# words.  libgfapi's own log lines ("[DATE] I [...]") are dropped before
# comparing: they carry times, and the library prints some of them only
# now and then.
. "$(dirname "$0")/lib.sh"

need_server()
{
	[ "${CI:-}" = true ] && { echo "not ok 1 - $* (CI=true)"; echo "1..1"; exit 1; }
	skip_all "$*"
}
command -v glusterd >/dev/null || need_server "glusterd not found (glusterfs-server)"
[ "$(id -u)" = 0 ] || skip_all "glusterd needs root"
"$QEMU_IMG" info 'json:{"driver":"gluster"}' 2>&1 | grep -q "Unknown driver" &&
	need_server "qemu-img has no gluster driver (qemu-block-extra)"

SRV=$T/server
stop_gluster() { "$ROOT/tests/interop/gluster-server.sh" stop "$SRV"; }
at_exit stop_gluster
H=$("$ROOT/tests/interop/gluster-server.sh" start "$SRV") ||
	need_server "gluster-server.sh could not start a volume"
V=$(cat "$SRV/volume")
G="gluster://$H/$V"
B=$SRV/brick # the volume's files, as the brick holds them

# Under ASan, its xdr_* interceptors look the real functions up when the
# program starts; libtirpc comes later (dlopen of libgfapi) and they would
# call NULL: the sanitizer build gets libtirpc loaded from the start.
QIMG_PRELOAD=
asan_lib=$(ldd "$QIMG" 2>/dev/null | awk '/libasan/{print $3; exit}')
if [ -n "$asan_lib" ]; then
	QIMG_PRELOAD=$asan_lib:$(ldconfig -p | awk '/libtirpc.so.3 /{print $NF; exit}')
fi

# The oracle's libgfapi dies now and then (SIGSEGV) as it gives up on a
# host it cannot reach: a run of qemu-img that a signal ended is run
# again, up to three times, and only the last run's output is kept.
GQEMU_IMG=$T/qemu-img-gluster
cat >"$GQEMU_IMG" <<EOF
#!/bin/bash
o=\$(mktemp) e=\$(mktemp)
# (bash's own "Segmentation fault" report goes nowhere)
exec 3>&2 2>/dev/null
for i in 1 2 3; do
	"$QEMU_IMG" "\$@" >"\$o" 2>"\$e"
	rc=\$?
	[ \$rc -gt 128 ] && [ \$rc -ne 137 ] || break
done
exec 2>&3 3>&-
cat "\$o"
cat "\$e" >&2
rm -f "\$o" "\$e"
exit \$rc
EOF
chmod +x "$GQEMU_IMG"

# --- jobs ---------------------------------------------------------------------
# job NAME FUNC ARGS...: run FUNC TOOL TAG ARGS... in the background once
# with qemu-img (TAG qe) and once with the tool under test (TAG qg); each
# run's stdout, stderr and status go to $J/NAME.{e,g}.*.  "{T}" in ARGS
# becomes TAG, so that the two runs write files of their own.
J=$T/jobs
spawn mkdir -p "$J"
jobs_order=()
job()
{
	local name=${#jobs_order[@]} f=$2 who tool tag
	jobs_order+=("$1")
	shift 2
	for who in e g; do
		if [ $who = e ]; then
			tool="timeout -k 5 $QIMG_TIMEOUT $GQEMU_IMG" tag=qe
		else
			tool="env ${QIMG_PRELOAD:+LD_PRELOAD=$QIMG_PRELOAD} timeout -k 5 $QIMG_TIMEOUT $QIMG"
			tag=qg
		fi
		(
			cd "$T" || exit 1
			"$f" "$tool" "$tag" "${@//\{T\}/$tag}" \
				>"$J/$name.$who.out" 2>"$J/$name.$who.err" </dev/null
			echo $? >"$J/$name.$who.rc"
		) &
	done
}

# one TOOL TAG ARGS...: a single command.
one()
{
	local tool=$1
	shift 2
	$tool "$@"
}

# libgfapi's log lines dropped, the tools' names and tags made one.
norm()
{
	grep -v -E '^\[[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9:.]+ \+0000\] ' "$1" |
		sed -e 's/^qimg:/qemu-img:/' -e 's/q[eg]_/qT_/g'
}

# collect: wait for every job; one TAP line each, in the order started
# (lib.sh's judge on each job's normalised files).
collect()
{
	local i w
	wait
	for i in "${!jobs_order[@]}"; do
		for w in e g; do
			spawn cp "$J/$i.$w.rc" "$R/$w.rc"
			norm "$J/$i.$w.out" >"$R/$w.out.n"
			norm "$J/$i.$w.err" >"$R/$w.err.n"
		done
		judge "${jobs_order[i]}"
	done
	jobs_order=()
}

# --- images ---------------------------------------------------------------------
mkpattern "$T/pat.raw" 1024
spawn "$QEMU_IMG" convert -O qcow2 "$T/pat.raw" "$T/pat.qcow2" || exit 1
("$QEMU_IMG" create -f raw "$G/src.raw" 1M >/dev/null 2>&1 &&
	"$QEMU_IMG" convert -n -O raw "$T/pat.raw" "$G/src.raw" >/dev/null 2>&1) &
("$QEMU_IMG" create -f qcow2 "$G/src.qcow2" 1M >/dev/null 2>&1 &&
	"$QEMU_IMG" convert -n -O qcow2 "$T/pat.qcow2" "$G/src.qcow2" >/dev/null 2>&1) &
wait
[ -s "$B/src.raw" ] && [ -s "$B/src.qcow2" ] ||
	need_server "qemu-img could not write to the volume"

# --- names and options (no server reached, or a refusal) --------------------------
J_EXT='"path":"x","server":[{"type":"unix","path":"/nonexistent"}]'
bad_names=(
	"gluster://$H/$V" "gluster://$H/" "gluster://" "gluster:x"
	"gluster+foo://$H/$V/x" "gluster+unix://$H/$V/x"
	"gluster+unix:///$V/x" "gluster+unix:///$V/x?socket=/a&b=c"
	"gluster+unix://h/$V/x?socket=/nonexistent"
	"gluster://h/$V/x?socket=/s" "gluster://$H:99999/$V/x"
	"gluster://$H/$V/x?a=b" "gluster+tcp://h:abc/$V/x" "gluster://h//x"
	"gluster://h/$V/" "gluster+unix:///$V/x?socket=/nonexistent"
	"gluster+unix:///%41/y?socket=/nonexistent"
	"gluster://h:/$V/x" "gluster://h:0/$V/x" "gluster://h:024007/$V/x"
	"gluster://h:65536/$V/x" "gluster://u@h/$V//x" "gluster://[::1]/$V/x"
	"gluster://h/$V/x?" "gluster://h/$V/x?#" "gluster://h/$V/a%2Fb"
	"gluster+unix:///$V/x?socket=" "gluster+unix:///$V/x?socket"
	"gluster+unix://:1/$V/x?socket=/a" "gluster+unix:///$V/x?socketx=/a"
	"gluster+unix:///$V/x?" "gluster+unix://h:1/$V/x?socket=/a"
	"gluster+unix:///$V/x?socket=/nonexistent&"
	"gluster+unix:///$V/x?&socket=/nonexistent"
	"gluster+unix:///$V/x?socket=/a&b" "gluster+unix:///$V/x?Socket=/a"
	"gluster+unix:///$V/x?socket=/nonexistent#f"
	'json:{"driver":"gluster"}'
	'json:{"driver":"gluster","volume":"v"}'
	'json:{"driver":"gluster","volume":"v","path":"x"}'
	'json:{"driver":"gluster","volume":"v","path":"x","server":[]}'
	'json:{"driver":"gluster","volume":"v","path":"x","server":{"type":"inet","host":"h"}}'
	'json:{"driver":"gluster","volume":"v","path":"x","server":[{"type":"inet"}]}'
	'json:{"driver":"gluster","volume":"v","path":"x","server":[{"type":"inet","host":"h"}]}'
	'json:{"driver":"gluster","volume":"v","path":"x","server":[{"type":"unix"}]}'
	'json:{"driver":"gluster","volume":"v","path":"x","server":[{"type":"bad","host":"h"}]}'
	'json:{"driver":"gluster","volume":"v","path":"x","server":[{"host":"h"}]}'
	'json:{"driver":"gluster","volume":"v","path":"x","server":[{"type":"inet","host":"h","port":"abc"}]}'
	'json:{"driver":"gluster","volume":"v","path":"x","server":[{"type":"inet","host":"h","port":99999}]}'
	'json:{"driver":"gluster","volume":"v","path":"x","server":[{"type":"inet","host":"h","port":"abc"},{"type":"inet"}]}'
	'json:{"driver":"gluster","volume":"v","path":"x","server":[{"type":"unix","path":"/a"},{"type":"inet"}]}'
	'json:{"driver":"gluster","path":"x","server":[{"type":"inet","host":"h"}]}'
	'json:{"driver":"gluster","volume":"v","server":[{"type":"inet","host":"h"}]}'
	"json:{\"driver\":\"gluster\",\"volume\":\"v\",$J_EXT,\"debug\":\"abc\"}"
	"json:{\"driver\":\"gluster\",\"volume\":\"v\",$J_EXT,\"debug\":-3}"
	"json:{\"driver\":\"gluster\",\"volume\":\"v\",$J_EXT,\"debug\":12,\"logfile\":\"$T/gl.log\"}"
	"json:{\"driver\":\"gluster\",\"volume\":1,$J_EXT}"
	"json:{\"driver\":\"gluster\",\"volume\":\"v\",$J_EXT,\"logfile\":\"$T\"}"
	'json:{"driver":"gluster","volume":"v","path":"x","server":[{"type":"unix","path":"/nonexistent"},{"type":"inet","host":"127.0.0.1","port":"1"}]}'
)
i=0
for n in "${bad_names[@]}"; do
	quick_pick $i && job "info $n" one info "$n"
	i=$((i + 1))
done
job "create with a bad name" one create -f qcow2 "gluster://$H/$V" 1M
job "create, no such directory" one create -f qcow2 "$G/nodir/{T}_x.qcow2" 1M
job "create -o help" one create -f raw "$G/x.raw" -o help
job "create -f gluster -o help" one create -f gluster "$G/x.raw" -o help
collect

# --- the server ---------------------------------------------------------------
job "info qcow2" one info "$G/src.qcow2"
job "info raw" one info "$G/src.raw"
job "info --output=json" one info --output=json "$G/src.qcow2"
job "map qcow2" one map "$G/src.qcow2"
job "map raw --output=json" one map --output=json "$G/src.raw"
job "check qcow2" one check "$G/src.qcow2"
job "compare gluster raw with gluster qcow2" one compare "$G/src.raw" "$G/src.qcow2"
job "compare local with gluster" one compare "$T/pat.raw" "$G/src.qcow2"
job "measure" one measure -O qcow2 "$G/src.raw"
job "info json:{} options" one info \
	"json:{\"driver\":\"gluster\",\"volume\":\"$V\",\"path\":\"src.raw\",\"server\":[{\"type\":\"inet\",\"host\":\"$H\",\"port\":\"24007\"}]}"
job "info --image-opts" one info --image-opts \
	"driver=qcow2,file.driver=gluster,file.volume=$V,file.path=src.qcow2,file.server.0.type=inet,file.server.0.host=$H,file.server.0.port=24007"
job "unknown option, refused after the open" one info \
	"json:{\"driver\":\"gluster\",\"volume\":\"$V\",\"path\":\"src.raw\",\"foo\":1,\"server\":[{\"type\":\"inet\",\"host\":\"$H\",\"port\":24007}]}"
job "gluster+rdma falls back to tcp" one info "gluster+rdma://$H/$V/src.qcow2"
[ -S /var/run/glusterd.socket ] &&
	job "gluster+unix" one info "gluster+unix:///$V/src.qcow2?socket=/var/run/glusterd.socket"
job "no such file" one info "$G/nofile"
job "no such file, options" one info \
	"json:{\"driver\":\"gluster\",\"volume\":\"$V\",\"path\":\"nofile\",\"server\":[{\"type\":\"inet\",\"host\":\"$H\",\"port\":\"24007\"}]}"
job "no such volume" one info "gluster://$H/novolume-$V/src.raw"
job "nobody answers" one info "gluster://$H:$(free_port)/$V/src.raw"

# convert to and from gluster, create, resize: each tool's own files
to_gluster()
{
	local tool=$1 tag=$2
	$tool convert -O qcow2 "$T/pat.raw" "$G/${tag}_cv.qcow2" &&
		$QEMU_IMG compare "$T/pat.raw" "$G/${tag}_cv.qcow2" 2>&1 | grep -v '^\['
}
job "convert local raw to gluster qcow2" to_gluster
from_gluster()
{
	local tool=$1 tag=$2
	$tool convert -O raw "$G/src.qcow2" "$T/${tag}_from.raw" &&
		spawn cmp "$T/pat.raw" "$T/${tag}_from.raw" && echo same
}
job "convert gluster qcow2 to local raw" from_gluster
g_to_g()
{
	local tool=$1 tag=$2
	$tool convert -O raw "$G/src.qcow2" "$G/${tag}_gg.raw" &&
		spawn cmp "$T/pat.raw" "$B/${tag}_gg.raw" && echo same
}
job "convert gluster to gluster" g_to_g
create_check()
{
	local tool=$1 tag=$2 fmt=$3 f
	f=${tag}_$4.$fmt
	shift 4
	$tool create -f "$fmt" "$@" "$G/$f" 3M || return
	# the other tool reads it
	other=$QEMU_IMG
	[ "$tool" = "$QEMU_IMG" ] &&
		other="env ${QIMG_PRELOAD:+LD_PRELOAD=$QIMG_PRELOAD} timeout -k 5 $QIMG_TIMEOUT $QIMG"
	if [ "$fmt" = qcow2 ]; then
		$other check "$G/$f"
	fi
	$other info "$G/$f" | sed -e '/^disk size/d' -e 's/^qimg:/qemu-img:/'
	stat -c %s "$B/$f"
	# preallocated (the whole 3 MiB on the brick) or not
	if [ $(($(stat -c %b "$B/$f") * 512)) -ge $((3 << 20)) ]; then
		echo allocated
	else
		echo sparse
	fi
}
job "create qcow2" create_check qcow2 new
job "create raw" create_check raw new
job "create raw, preallocation=full" create_check raw full -o preallocation=full
job "create raw, preallocation=falloc" create_check raw falloc -o preallocation=falloc
job "create qcow2, preallocation=metadata" create_check qcow2 meta -o preallocation=metadata
job "create -f gluster" create_check gluster proto
job "create -f gluster, preallocation=full" create_check gluster pfull -o preallocation=full
job "create -f gluster, preallocation=falloc" create_check gluster pfalloc -o preallocation=falloc
resize_check()
{
	local tool=$1 tag=$2
	cp "$T/pat.qcow2" "$B/${tag}_rs.qcow2" || return
	$tool resize "$G/${tag}_rs.qcow2" +1M &&
		$QEMU_IMG check "$G/${tag}_rs.qcow2" 2>&1 | grep -v '^\['
	$QEMU_IMG info "$G/${tag}_rs.qcow2" 2>&1 | grep "^virtual size"
}
job "resize" resize_check
collect

# the two tools' files compared
for f in cv.qcow2 gg.raw new.qcow2 new.raw full.raw falloc.raw meta.qcow2 proto.gluster pfull.gluster \
	pfalloc.gluster; do
	ok "same bytes: qimg's and qemu-img's $f" cmp "$B/qe_$f" "$B/qg_$f"
done

done_testing
