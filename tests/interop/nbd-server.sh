#!/bin/bash
# SPDX-License-Identifier: MIT
# qimg-nbd against qemu-nbd 7.2, with real clients.  Option errors: the
# same messages and exit codes (qimg-nbd run through a link named
# qemu-nbd).  The same image served by both servers, each from its own
# copy: what nbdinfo (--json, --map, --map=qemu:allocation-depth),
# qemu-img map and qemu-img info see must be equal; qemu-io's reads,
# writes, zero writes, discards and flushes (with and without FUA) must
# leave images with the same contents and the same map, which qemu-img
# check finds clean.  nbdcopy both ways, nbdsh, qemu-img convert and
# compare over NBD, -r refusing writes, -s leaving the image alone, -B
# dirty bitmaps (several, from the backing file, and a parallels image's
# own), -L listing another server's exports, --discard=unmap freeing
# space, --fork/--pid-file, -x/-D with nbdinfo --list, TLS (x509, with
# and without client certificates: certtool makes them; a pre-shared key,
# with the right and a wrong key; the credential objects' errors), the
# end of a
# non-persistent server, SIGTERM, -c with the kernel's client (where
# /dev/nbd0 exists, else a named skip), and hostile clients (bad magic,
# huge options and writes, out-of-range requests, a client gone
# mid-write) that the server survives.  A real guest: qemu-system-x86_64
# (TCG) boots a boot sector made here from a qcow2 image qimg-nbd serves
# and prints a line on its serial port.
. "$(dirname "$0")/lib.sh"

QIMG_NBD=${QIMG_NBD:-$(dirname "$QIMG")/qimg-nbd}
QEMU_NBD=${QEMU_NBD:-qemu-nbd}
need_oracle "$QEMU_NBD"
need_oracle nbdinfo
need_oracle nbdcopy
need_oracle python3
need_oracle qemu-system-x86_64
need_oracle certtool
need_oracle nbdsh
need_oracle nbdkit
[ -x "$QIMG_NBD" ] || skip_all "$QIMG_NBD not built"

# qimg-nbd under qemu-nbd's name, so messages compare as they are.
spawn mkdir -p "$T/bin"
spawn ln -s "$QIMG_NBD" "$T/bin/qemu-nbd"
GNBD=$T/bin/qemu-nbd

at_exit stop_servers

uri()
{
	echo "nbd+unix:///${2:-}?socket=$1"
}

# --- option errors -----------------------------------------------------
spawn "$QEMU_IMG" create -q -f qcow2 img.qcow2 16M
# errcmp DESC ARGS...: both servers with ARGS (no client comes: a run
# that would serve is cut after 2 s), same stderr and exit status.
errcmp()
{
	local d=$1 erc grc
	shift
	# option errors: the release and ASan runs compare them (each ends at
	# once; the bound is only against a server that would serve, and is
	# wide because an ASan build on a loaded machine starts slowly)
	tsan_build && return 0
	(cd "$E" && exec timeout 30 "$QEMU_NBD" "$@") >"$R/e.out" 2>"$R/e.err" </dev/null
	erc=$?
	(cd "$G" && exec timeout 30 "$GNBD" "$@") >"$R/g.out" 2>"$R/g.err" </dev/null
	grc=$?
	sed -i 's|/[^ ]*/bin/qemu-nbd|qemu-nbd|g; s|/usr/bin/qemu-nbd|qemu-nbd|g' \
		"$R/e.err" "$R/g.err"
	if [ "$erc" = "$grc" ] && spawn cmp -s "$R/e.err" "$R/g.err"; then
		pass "$d"
	else
		fail "$d"
		diag "exit: qemu-nbd $erc, qimg-nbd $grc"
		diff "$R/e.err" "$R/g.err" | sed 's/^/# /' | head -10
	fi
}
spawn cp img.qcow2 "$E/" && spawn cp img.qcow2 "$G/"
errcmp "no file" 
# (two files: "no file"'s message; -e -1: -e abc's; whole runs only)
whole && errcmp "two files" img.qcow2 img.qcow2
errcmp "missing file" nosuch.qcow2
errcmp "unknown format" -f bogus img.qcow2
errcmp "--image-opts with -f" -f raw --image-opts driver=null-co
errcmp "option without argument" -x
errcmp "unknown option" --bogus
errcmp "bad cache mode" --cache=bogus img.qcow2
errcmp "-n and --cache" -n --cache=none img.qcow2
errcmp "bad aio mode" --aio=bogus img.qcow2
errcmp "bad discard mode" --discard=bogus img.qcow2
errcmp "bad detect-zeroes" --detect-zeroes=bogus img.qcow2
errcmp "detect-zeroes=unmap without discard" --detect-zeroes=unmap img.qcow2
errcmp "bad shared count" -e abc img.qcow2
whole && errcmp "negative shared count" -e -1 img.qcow2
errcmp "a pid file that cannot be made" --pid-file=/nonexistent/x img.qcow2
errcmp "bad offset" -o abc img.qcow2
errcmp "negative offset" -o -1 img.qcow2
errcmp "offset past the end" -o 99999999999 img.qcow2
errcmp "socket in a missing directory" -k "$T/none/sock" img.qcow2
errcmp "bad port" -p abc img.qcow2
errcmp "-T an unknown event" -T x nosuch.qcow2
errcmp "-T a bad key" -T foo=bar img.qcow2
errcmp "-T events= a missing file" -T events=/nonexistent img.qcow2
errcmp "snapshot not found" -l nosuch img.qcow2
errcmp "unknown TLS creds" --tls-creds=x img.qcow2
errcmp "-c with no such device" -c /dev/qimg-no-such-nbd img.qcow2
errcmp "-d with no such device" -d /dev/qimg-no-such-nbd

# --- the same views from both servers ----------------------------------
spawn "$QEMU_IMG" create -q -f qcow2 base.qcow2 64M
spawn "$QEMU_IO" -c 'write -P 1 0 4M' -c 'write -P 2 8M 1M' base.qcow2 >/dev/null
spawn "$QEMU_IMG" create -q -f qcow2 -b base.qcow2 -F qcow2 top.qcow2
spawn "$QEMU_IO" -c 'write -P 3 1M 64k' -c 'write -z 2M 1M' -c 'write -P 4 20M 3M' \
	-c 'write -z 30M 64k' top.qcow2 >/dev/null
spawn "$QEMU_IMG" convert -O raw top.qcow2 flat.raw
spawn truncate -s 70M flat.raw
spawn "$QEMU_IMG" snapshot -c snap1 base.qcow2

# serve2 ARGS...: qemu-nbd in E/, qimg-nbd in G/, each over its own copy
# of the images; sockets $E/sock and $G/sock.
serve2()
{
	local d
	stop_servers
	pids=
	for d in "$E" "$G"; do
		spawn rm -f "$d"/*.qcow2 "$d"/*.raw "$d/sock"
		spawn cp base.qcow2 top.qcow2 flat.raw "$d/"
	done
	(cd "$E" && exec "$QEMU_NBD" -t -k "$E/sock" "$@") 2>"$R/e.srv" &
	pids="$pids $!"
	(cd "$G" && exec "$QIMG_NBD" -t -k "$G/sock" "$@") 2>"$R/g.srv" &
	pids="$pids $!"
	wait_sock "$E/sock" && wait_sock "$G/sock"
}

# views DESC [EXPORT]: what the clients see, compared.  make check
# (QIMG_QUICK=1): nbdinfo --json of every export, every client's view of
# the first, and the other views of the others sampled (every third, in
# turn, by view_n).
view_n=0
views()
{
	local d=$1 x=${2:-} w v want=info
	for v in map depth qmap qinfo; do
		if [ "$view_n" -lt 4 ] || quick_pick $((view_n - 4)); then
			want="$want $v"
		fi
		view_n=$((view_n + 1))
	done
	for w in e g; do
		local s
		s=$([ $w = e ] && echo "$E/sock" || echo "$G/sock")
		nbdinfo --json "$(uri "$s" "$x")" 2>&1 |
			grep -v '"uri"\|"content"' >"$R/$w.info"
		case " $want " in *" map "*)
		nbdinfo --map "$(uri "$s" "$x")" >"$R/$w.map" 2>&1 ;;
		esac
		case " $want " in *" depth "*)
		nbdinfo --map=qemu:allocation-depth "$(uri "$s" "$x")" \
			>"$R/$w.depth" 2>&1 ;;
		esac
		case " $want " in *" qmap "*)
		spawn "$QEMU_IMG" map --output=json -f raw "$(uri "$s" "$x")" \
			>"$R/$w.qmap" 2>&1 ;;
		esac
		case " $want " in *" qinfo "*)
		"$QEMU_IMG" info --output=json "$(uri "$s" "$x")" 2>&1 |
			sed "s|$s|SOCK|g" >"$R/$w.qinfo" ;;
		esac
	done
	for w in $want; do
		text_same "$d: $w" "$R/e.$w" "$R/g.$w"
	done
}

# client_view NAME DESC CMD...: what CMD (a client; {URI} in its arguments
# becomes each server's default export) says of each server, compared
client_view()
{
	local n=$1 d=$2 w s a
	shift 2
	for w in e g; do
		s=$([ $w = e ] && echo "$E/sock" || echo "$G/sock")
		local -a args=()
		for a in "$@"; do
			args+=("${a//\{URI\}/$(uri "$s")}")
		done
		"${args[@]}" 2>&1 | grep -v '"uri"\|"content"' |
			sed "s|$s|SOCK|g" >"$R/$w.$n"
	done
	text_same "$d" "$R/e.$n" "$R/g.$n"
}
# info_view DESC: only what nbdinfo --json says of the export
info_view()
{
	client_view info "$1: nbdinfo --json" nbdinfo --json {URI}
}
serve2 -f qcow2 top.qcow2
views "qcow2 with backing"
serve2 -r -A -f qcow2 top.qcow2
views "-r -A"
serve2 -A -o 1048576 -f qcow2 top.qcow2
views "-A -o"
serve2 -A -o 1048576 -f qcow2 base.qcow2
views "-A -o, no backing"
serve2 -f raw flat.raw
views "raw"
serve2 -e 3 -x exp -D "a description" -f qcow2 top.qcow2
views "-e 3 -x -D" exp
client_view list "nbdinfo --list" nbdinfo --list --json {URI}
# -e 0: any number of clients (and so multi-conn)
serve2 -e 0 -f qcow2 top.qcow2
info_view "-e 0"
serve2 -r -l snap1 -f qcow2 base.qcow2
views "-l snapshot"

# block sizes: the minimum is the image driver's own alignment as QEMU keeps
# it (a guessed raw image, qed, qcow, vhdx, parallels: 512; blkdebug's
# align; the others and every filter: bytes)
for f in qed qcow vhdx parallels vdi; do
	spawn "$QEMU_IMG" convert -O $f base.qcow2 "bs.$f"
	serve2 -r -f $f "$T/bs.$f"
	info_view "$f"
done
serve2 -r flat.raw
info_view "a guessed raw image"
serve2 -r --image-opts "driver=blkdebug,align=4096,image.filename=$T/flat.raw"
info_view "blkdebug align=4096"
serve2 -r --image-opts "driver=blkdebug,image.driver=qed,image.file.filename=$T/bs.qed"
info_view "blkdebug over qed"

# --- -B bitmaps (from the image and from its backing file), -L ----------
spawn "$QEMU_IMG" bitmap --add base.qcow2 bb
spawn "$QEMU_IO" -c 'write -P 5 12M 128k' base.qcow2 >/dev/null
spawn "$QEMU_IMG" bitmap --disable base.qcow2 bb
spawn "$QEMU_IMG" bitmap --add top.qcow2 b0
spawn "$QEMU_IMG" bitmap --add -g 1M top.qcow2 b1
spawn "$QEMU_IO" -c 'write -P 6 1M 64k' -c 'write -P 6 5M 3M' -c 'write -z 9M 64k' \
	top.qcow2 >/dev/null
spawn "$QEMU_IMG" bitmap --disable top.qcow2 b0
spawn "$QEMU_IMG" bitmap --disable top.qcow2 b1
serve2 -r -A -B b0 -B b1 -B bb -f qcow2 top.qcow2
views "-B b0 -B b1 -B bb"
for b in b0 b1 bb; do
	for w in e g; do
		s=$([ $w = e ] && echo "$E/sock" || echo "$G/sock")
		nbdinfo --map=qemu:dirty-bitmap:$b "$(uri "$s")" >"$R/$w.bm" 2>&1
		spawn "$QEMU_IMG" map --output=json --image-opts \
			"driver=nbd,server.type=unix,server.path=$s,x-dirty-bitmap=qemu:dirty-bitmap:$b" \
			>>"$R/$w.bm" 2>&1
	done
	if spawn cmp -s "$R/e.bm" "$R/g.bm" && grep -q dirty "$R/g.bm"; then
		pass "bitmap $b: the same dirty extents"
	else
		fail "bitmap $b: the same dirty extents"
		diff "$R/e.bm" "$R/g.bm" | head -10 | sed 's/^/# /'
	fi
done
for w in e g; do
	s=$([ $w = e ] && echo "$E/sock" || echo "$G/sock")
	"$QEMU_NBD" -L -k "$s" >"$R/$w.L" 2>&1
	echo "rc=$?" >>"$R/$w.L"
	"$QIMG_NBD" -L -k "$s" >"$R/$w.L2" 2>&1
	echo "rc=$?" >>"$R/$w.L2"
done
if spawn cmp -s "$R/e.L" "$R/g.L2" && spawn cmp -s "$R/g.L" "$R/g.L2" &&
	spawn cmp -s "$R/e.L2" "$R/e.L"; then
	pass "-L lists the same from either server, as qemu-nbd -L"
else
	fail "-L lists the same from either server, as qemu-nbd -L"
	diff "$R/e.L" "$R/g.L2" | head -10 | sed 's/^/# /'
fi
stop_servers
pids=
# A parallels image's Format Extension bitmap (the fuzz seed), by UUID.
PB=00010203-0405-0607-0809-0a0b0c0d0e0f
spawn cp "$ROOT/tests/fuzz/corpus/ext-bitmap.parallels" pb.parallels
for w in e g; do
	d=$([ $w = e ] && echo "$E" || echo "$G")
	spawn rm -f "$d/pb.sock"
	if [ $w = e ]; then
		"$QEMU_NBD" -r -B $PB -k "$d/pb.sock" -f parallels pb.parallels &
	else
		"$QIMG_NBD" -r -B $PB -k "$d/pb.sock" -f parallels pb.parallels &
	fi
	wait_sock "$d/pb.sock"
	nbdinfo --map=qemu:dirty-bitmap:$PB "$(uri "$d/pb.sock")" >"$R/$w.pb" 2>&1
	wait
done
if spawn cmp -s "$R/e.pb" "$R/g.pb" && grep -q dirty "$R/g.pb"; then
	pass "parallels Format Extension bitmap: the same dirty extents"
else
	fail "parallels Format Extension bitmap: the same dirty extents"
	diff "$R/e.pb" "$R/g.pb" | head -10 | sed 's/^/# /'
fi
errcmp "bitmap not found" -r -B nosuch -f qcow2 ../top.qcow2
errcmp "-L with a file name" -L -k "$T/none.sock" ../top.qcow2
errcmp "-L with per-device settings" -L -x exp -k "$T/none.sock"
errcmp "-L with no server" -L -k "$T/none.sock"

# --- writes through qemu-io ---------------------------------------------
IO=(-c "write -P 9 0 64k" -c "write -z 4M 1M" -c "write -z -u 6M 2M"
	-c "discard 20M 1M" -c "flush" -c "write -f -P 7 100k 3k"
	-c "read -P 7 100k 3k" -c "write -z -f 10M 512"
	-c "aio_write -P 5 40M 1M" -c "aio_write -P 6 42M 1M" -c "aio_flush"
	-c "read -P 5 40M 1M" -c "write -z 50M 70k" -c "write -P 0 52M 64k"
	-c "write -P 8 63M 1M" -c "read -P 8 63M 1M")
# writes DESC ARGS...: serve with ARGS, run the I/O on both, compare what
# qemu-io printed (but times), the maps, and the images after the
# servers end.
writes()
{
	local d=$1 w
	shift
	serve2 "$@"
	for w in e g; do
		s=$([ $w = e ] && echo "$E/sock" || echo "$G/sock")
		# (sorted: aio_write completions come in any order)
		"$QEMU_IO" -f raw "$(uri "$s")" "${IO[@]}" 2>&1 |
			grep -v 'ops/sec' | sort >"$R/$w.io"
		nbdinfo --map "$(uri "$s")" >"$R/$w.map" 2>&1
	done
	stop_servers
	pids=
	text_same "$d: qemu-io output" "$R/e.io" "$R/g.io"
	text_same "$d: map after" "$R/e.map" "$R/g.map"
	ok "$d: same contents" contents_equal "$E/$img" "$G/$img"
	case $img in
	*.qcow2) ok "$d: qemu-img check" "$QEMU_IMG" check -q "$G/$img" ;;
	esac
}
img=top.qcow2
writes "qcow2 writes" -f qcow2 top.qcow2
writes "--discard=unmap" --discard=unmap -f qcow2 top.qcow2
writes "--detect-zeroes=unmap" --discard=unmap --detect-zeroes=unmap \
	-f qcow2 top.qcow2
writes "--detect-zeroes=on" --detect-zeroes=on -f qcow2 top.qcow2
writes "--cache=none" --cache=none --aio=native -f qcow2 top.qcow2
img=flat.raw
writes "raw writes" -f raw flat.raw
img=base.qcow2
writes "-o writes" -o 65536 -f qcow2 base.qcow2

# --- read-only, snapshot, discard ---------------------------------------
serve2 -r -f qcow2 top.qcow2
client_view ro "-r: qemu-io refused as by qemu-nbd" "$QEMU_IO" -f raw {URI} \
	-c "write 0 512" -c "write -z 0 64k" -c "discard 0 64k"
# A client that writes anyway gets NBD's EPERM (1), from both servers.
for w in e g; do
	s=$([ $w = e ] && echo "$E/sock" || echo "$G/sock")
	python3 - "$s" >"$R/$w.eperm" 2>&1 <<'PYEOF'
import socket, struct, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.settimeout(10)
def rd(n):
    b = b''
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c: raise EOFError
        b += c
    return b
rd(18); s.sendall(struct.pack('>I', 3))
s.sendall(b'IHAVEOPT' + struct.pack('>II', 7, 6) + b'\0' * 6)
while True:
    m, o, t, l = struct.unpack('>QIII', rd(20)); d = rd(l)
    if t == 1: break
    if t == 3 and struct.unpack('>H', d[:2])[0] == 0:
        print('flags %#x' % struct.unpack('>H', d[10:12])[0])
for typ, ln, data in ((1, 512, b'x' * 512), (6, 4096, b''), (4, 4096, b'')):
    s.sendall(struct.pack('>IHHQQI', 0x25609513, 0, typ, 7, 0, ln) + data)
    m, err, h = struct.unpack('>IIQ', rd(16))
    print(typ, err)
PYEOF
done
# (qemu-nbd 7.2 answers EINVAL, 22; the protocol says EPERM.)
printf 'flags 0x40f\n1 1\n6 1\n4 1\n' >"$R/eperm.want"
if spawn cmp -s "$R/eperm.want" "$R/g.eperm" && grep -q '^flags 0x40f$' "$R/e.eperm"; then
	pass "-r: writes refused with EPERM, qemu-nbd's flags"
else
	fail "-r: writes refused with EPERM, qemu-nbd's flags"
	diff "$R/eperm.want" "$R/g.eperm" | head -10 | sed 's/^/# /'
fi
stop_servers
pids=

spawn cp top.qcow2 snap.qcow2
spawn cp base.qcow2 snapbase.qcow2
sum_before=$(md5sum snap.qcow2 base.qcow2)
spawn rm -f s.sock
"$QIMG_NBD" -t -s -k "$T/s.sock" -f qcow2 snap.qcow2 &
pids="$pids $!"
wait_sock "$T/s.sock"
spawn "$QEMU_IO" -f raw "$(uri "$T/s.sock")" -c "write -P 0x5a 0 1M" \
	-c "read -P 0x5a 0 1M" >"$R/s.io" 2>&1
ok "-s: writes read back" grep -q 'read 1048576/1048576' "$R/s.io"
stop_servers
pids=
ok "-s: the image is unchanged" test "$(md5sum snap.qcow2 base.qcow2)" = "$sum_before"
leftover=$(find "${TMPDIR:-/var/tmp}" /var/tmp -maxdepth 1 -name 'vl.*' -newer snap.qcow2 2>/dev/null | head -1)
ok "-s: no overlay left behind" test -z "$leftover"

spawn cp flat.raw d.raw
spawn "$QEMU_IMG" convert -f raw -O qcow2 d.raw d.qcow2
before=$("$QEMU_IMG" info --output=json d.qcow2 | sed -n 's/.*"actual-size": \([0-9]*\).*/\1/p')
"$QIMG_NBD" -t --discard=unmap -k "$T/d.sock" -f qcow2 d.qcow2 &
pids="$pids $!"
wait_sock "$T/d.sock"
spawn "$QEMU_IO" -f raw "$(uri "$T/d.sock")" -c "discard 0 64M" >/dev/null 2>&1
stop_servers
pids=
after=$("$QEMU_IMG" info --output=json d.qcow2 | sed -n 's/.*"actual-size": \([0-9]*\).*/\1/p')
if [ -n "$before" ] && [ -n "$after" ] && [ "$after" -lt $((before / 2)) ]; then
	pass "--discard=unmap frees space ($before -> $after bytes)"
else
	fail "--discard=unmap frees space ($before -> $after bytes)"
fi
ok "--discard=unmap: qemu-img check" "$QEMU_IMG" check -q d.qcow2

# --- other clients ------------------------------------------------------
spawn cp top.qcow2 c.qcow2
"$QIMG_NBD" -t -e 4 -k "$T/c.sock" -f qcow2 c.qcow2 &
pids="$pids $!"
wait_sock "$T/c.sock"
spawn rm -f copy.raw
ok "nbdcopy from qimg-nbd" nbdcopy "$(uri "$T/c.sock")" copy.raw
ok "nbdcopy: same contents" contents_equal copy.raw top.qcow2
ok "qemu-img compare over NBD" "$QEMU_IMG" compare -q top.qcow2 "$(uri "$T/c.sock")"
ok "qemu-img convert from NBD" "$QEMU_IMG" convert -O qcow2 "$(uri "$T/c.sock")" conv.qcow2
ok "qemu-img convert: same contents" contents_equal conv.qcow2 top.qcow2
ok "qimg compare over NBD" "$QIMG" compare -q top.qcow2 "$(uri "$T/c.sock")"
head -c 8M /dev/urandom >rnd.raw
ok "nbdcopy to qimg-nbd" nbdcopy rnd.raw "$(uri "$T/c.sock")"
spawn rm -f back.raw
nbdcopy "$(uri "$T/c.sock")" back.raw
ok "nbdcopy to qimg-nbd: read back" cmp -n 8388608 rnd.raw back.raw
stop_servers
pids=
ok "after nbdcopy: qemu-img check" "$QEMU_IMG" check -q c.qcow2

# --- nbdsh ----------------------------------------------------------------
serve2 -A -f qcow2 top.qcow2
for w in e g; do
	s=$([ $w = e ] && echo "$E/sock" || echo "$G/sock")
	# (nbdsh is python3 -m nbd: the system's python, where
	# python3-libnbd is, not another one first in PATH)
	"$PY" -m nbd 2>"$R/$w.nbdsh.err" >"$R/$w.nbdsh" \
		-c "h.add_meta_context('base:allocation')" \
		-c "h.add_meta_context('qemu:allocation-depth')" \
		-c "h.connect_uri('$(uri "$s")')" \
		-c '
import nbd
print(h.get_size(), h.is_read_only(), h.can_flush(), h.can_fua(),
      h.can_trim(), h.can_zero(), h.can_fast_zero(), h.can_df(),
      h.can_cache(), h.can_multi_conn(), h.get_structured_replies_negotiated())
print(h.can_meta_context("base:allocation"),
      h.can_meta_context("qemu:allocation-depth"))
h.pwrite(b"nbdsh" * 1000, 123456)
assert h.pread(5000, 123456) == b"nbdsh" * 1000
h.pwrite(b"fua!" * 128, 1 << 20, nbd.CMD_FLAG_FUA)
h.zero(65536, 4 << 20)
h.zero(65536, 5 << 20, nbd.CMD_FLAG_NO_HOLE)
h.trim(1 << 20, 6 << 20)
h.flush()
ext = []
def cb(meta, off, e, err):
    ext.append((meta, off, list(e)))
h.block_status(16 << 20, 0, cb)
print(ext)
chunks = []
def chunk(buf, off, status, err):
    chunks.append((off, len(buf), status))
buf = h.pread_structured(1 << 20, 2 << 20, chunk)
print(chunks, len(buf))
# (last: qemu-nbd answers CACHE by copying backing data into the image)
h.cache(1 << 20, 0)
try:
    h.pread(512, h.get_size())
except nbd.Error as ex:
    print("past the end:", ex.errno)
h.shutdown()
'
done
if cmp -s "$R/e.nbdsh" "$R/g.nbdsh" && [ -s "$R/g.nbdsh" ] && [ ! -s "$R/g.nbdsh.err" ]; then
	pass "nbdsh: the same answers from both servers"
else
	fail "nbdsh: the same answers from both servers"
	diff "$R/e.nbdsh" "$R/g.nbdsh" | head -10 | sed 's/^/# /'
	diag_file "$R/g.nbdsh.err"
fi
stop_servers
pids=
ok "after nbdsh: the images have the same contents" contents_equal "$E/top.qcow2" "$G/top.qcow2"

# --- lifetime: not persistent, --fork, --pid-file, SIGTERM ---------------
rm -f l.sock
"$QIMG_NBD" -k "$T/l.sock" -f qcow2 c.qcow2 &
lp=$!
wait_sock "$T/l.sock"
nbdinfo "$(uri "$T/l.sock")" >/dev/null 2>&1
for i in $(seq 50); do kill -0 $lp 2>/dev/null || break; sleep 0.1; done
if kill -0 $lp 2>/dev/null; then
	fail "without -t the server ends with its client"
	kill $lp
else
	wait $lp
	ok "without -t the server ends with its client (exit 0)" test $? = 0
fi
ok "the socket is removed" test ! -e "$T/l.sock"

rm -f f.sock f.pid
"$QIMG_NBD" --fork --pid-file "$T/f.pid" -t -k "$T/f.sock" -f qcow2 c.qcow2
ok "--fork returns 0 once listening" test $? = 0 -a -S "$T/f.sock"
fpid=$(cat "$T/f.pid" 2>/dev/null)
ok "--pid-file holds the server's pid" kill -0 "${fpid:-0}"
"$QEMU_IO" -f raw "$(uri "$T/f.sock")" -c "write -P 0x33 5M 64k" >/dev/null 2>&1
kill -TERM "${fpid:-0}"
for i in $(seq 50); do kill -0 "${fpid:-0}" 2>/dev/null || break; sleep 0.1; done
ok "SIGTERM ends the server" test ! -e "/proc/${fpid:-0}"
ok "after SIGTERM: qemu-img check" "$QEMU_IMG" check -q c.qcow2
ok "after SIGTERM: the write is there" qio -c "read -P 0x33 5M 64k" c.qcow2
"$QIMG_NBD" --fork -k "$T/f2.sock" -f qcow2 nosuch.qcow2 2>"$R/fork.err"
rc=$?
ok "--fork: a failure is the parent's exit 1" test $rc = 1
ok "--fork: with the message" grep -q "Failed to blk_new_open 'nosuch.qcow2'" "$R/fork.err"
# a socket file removed and made again by someone else while the server
# runs is theirs: the server leaves it at its end
rm -f f3.sock
"$QIMG_NBD" --fork --pid-file "$T/f3.pid" -t -k "$T/f3.sock" -f qcow2 c.qcow2
rm -f f3.sock && touch f3.sock
kill -TERM "$(cat "$T/f3.pid" 2>/dev/null || echo 0)"
for i in $(seq 50); do kill -0 "$(cat "$T/f3.pid")" 2>/dev/null || break; sleep 0.1; done
ok "a socket file made again by another is left at the end" test -f f3.sock
# A guessed raw image opened for writing is warned of as qemu-nbd warns;
# with --fork that warning is something the child said before it was
# ready, so the parent exits 1 (qemu-nbd's rule), the child serving on.
spawn "$QEMU_IMG" create -q -f raw pr.raw 1M
for w in e g; do
	d=$([ $w = e ] && echo "$E" || echo "$G")
	srv=$([ $w = e ] && echo "$QEMU_NBD" || echo "$QIMG_NBD")
	rm -f "$d/pr.sock" "$d/pr.pid"
	"$srv" --fork --pid-file "$d/pr.pid" -k "$d/pr.sock" pr.raw >"$R/$w.pr" 2>&1
	echo "rc=$?" >>"$R/$w.pr"
	"$srv" --fork --pid-file "$d/pr2.pid" -r -k "$d/pr2.sock" pr.raw >>"$R/$w.pr" 2>&1
	echo "read-only: rc=$?" >>"$R/$w.pr"
	kill "$(cat "$d/pr.pid" 2>/dev/null || echo 0)" 2>/dev/null
	kill "$(cat "$d/pr2.pid" 2>/dev/null || echo 0)" 2>/dev/null
done
ok "a guessed raw image: the warning as qemu-nbd's (writable only)" \
	cmp "$R/e.pr" "$R/g.pr"
ok "a guessed raw image: the warning was given" grep -q "probing guessed raw" "$R/g.pr"

# --- TLS ----------------------------------------------------------------
make_tls_certs tls
mkdir -p tls/n && cp tls/ca-cert.pem tls/n/
# The servers' Diffie-Hellman parameters, as qemu documents them: without
# the file qemu-nbd makes its own at every start (a quarter of a second
# of processor time each).  qimg-nbd does not read it.
dh_params()
{
	certtool --get-dh-params --bits 2048 >"$1/dh-params.pem" 2>/dev/null
}
dh_params tls/s
ok "certtool made the certificates" test -s tls/c/client-cert.pem
# tls_serve W SOCK OBJECT: serve top.qcow2 read-only with the TLS
# credentials OBJECT (id tls0) on W's socket SOCK (W: e qemu-nbd, g
# qimg-nbd); the server's pid in p.
tls_serve()
{
	local srv
	srv=$([ "$1" = e ] && echo "$QEMU_NBD" || echo "$QIMG_NBD")
	rm -f "$2"
	"$srv" -t -r -e 4 -k "$2" -f qcow2 --object "$3" --tls-creds tls0 \
		top.qcow2 2>/dev/null &
	p=$!
	wait_sock "$2"
}
# tlsrun W VERIFY: serve with TLS (W: e qemu-nbd, g qimg-nbd) and record
# what TLS clients, clients without a certificate and plain clients get.
tlsrun()
{
	local w=$1 vp=$2 d p
	d=$([ $w = e ] && echo "$E" || echo "$G")
	tls_serve $w "$d/tls.sock" \
		"tls-creds-x509,id=tls0,dir=$T/tls/s,endpoint=server,verify-peer=$vp"
	{
		timeout 20 nbdinfo "nbds+unix:///?socket=$d/tls.sock&tls-certificates=$T/tls/c" 2>&1 |
			grep -E 'TLS|export-size'
		echo "without a client certificate:"
		timeout 20 nbdinfo "nbds+unix:///?socket=$d/tls.sock&tls-certificates=$T/tls/n" \
			>/dev/null 2>&1
		echo "rc=$?"
		timeout 20 nbdinfo "nbd+unix:///?socket=$d/tls.sock" 2>&1 | head -1
		timeout 20 "$QEMU_IMG" info --image-opts \
			"driver=nbd,server.type=unix,server.path=$d/tls.sock" 2>&1 |
			sed "s|$d|SOCKDIR|g"
		timeout 20 "$QEMU_IMG" compare -q \
			--object "tls-creds-x509,id=tls0,dir=$T/tls/c,endpoint=client" \
			--image-opts "driver=raw,file.driver=nbd,file.server.type=unix,file.server.path=$d/tls.sock,file.tls-creds=tls0,file.tls-hostname=localhost" \
			"driver=qcow2,file.filename=top.qcow2" 2>&1
		echo "compare rc=$?"
		rm -f tcopy.raw
		timeout 60 nbdcopy "nbds+unix:///?socket=$d/tls.sock&tls-certificates=$T/tls/c" tcopy.raw
		"$QEMU_IMG" compare -q tcopy.raw top.qcow2
		echo "nbdcopy rc=$?"
	} >"$R/$w.tls.$vp" 2>&1
	kill $p
	wait $p 2>/dev/null
}
for vp in off on; do
	tlsrun e $vp
	tlsrun g $vp
	if cmp -s "$R/e.tls.$vp" "$R/g.tls.$vp" &&
		grep -q 'with TLS' "$R/g.tls.$vp" &&
		grep -q 'compare rc=0' "$R/g.tls.$vp" &&
		grep -q 'nbdcopy rc=0' "$R/g.tls.$vp"; then
		pass "TLS, verify-peer=$vp: clients fare as with qemu-nbd"
	else
		fail "TLS, verify-peer=$vp: clients fare as with qemu-nbd"
		diff "$R/e.tls.$vp" "$R/g.tls.$vp" | head -20 | sed 's/^/# /'
		diag_file "$R/g.tls.$vp"
	fi
done
errcmp "--tls-creds with a client endpoint" -r \
	--object "tls-creds-x509,id=tls1,dir=$T/tls/c,endpoint=client" \
	--tls-creds tls1 ../top.qcow2
# credentials are checked and loaded as they are given, used or not
errcmp "x509: an unused definition is loaded too" \
	--object "tls-creds-x509,id=t,dir=$T/nowhere,endpoint=server" nosuch.qcow2
errcmp "x509: no dir" --object "tls-creds-x509,id=t,endpoint=server" \
	../top.qcow2
mkdir -p tls/empty
errcmp "x509: ca-cert.pem is needed with verify-peer=off too" \
	--object "tls-creds-x509,id=t,dir=$T/tls/empty,endpoint=server,verify-peer=off" \
	../top.qcow2
errcmp "x509: a server needs its certificate" \
	--object "tls-creds-x509,id=t,dir=$T/tls/n,endpoint=server" ../top.qcow2
errcmp "x509: an unknown property" \
	--object "tls-creds-x509,id=t,dir=$T/tls/s,endpoint=server,foo=1" \
	../top.qcow2
errcmp "x509: a property without a value" \
	--object "tls-creds-x509,id=t,foo" ../top.qcow2
errcmp "x509: no id (before the unknown property)" \
	--object "tls-creds-x509,foo=1" ../top.qcow2
errcmp "x509: an id that is no identifier (before the files)" \
	--object "tls-creds-x509,id=1t,dir=$T/tls/n,endpoint=server" ../top.qcow2
errcmp "x509: a bad endpoint" \
	--object "tls-creds-x509,id=t,dir=$T/tls/s,endpoint=both" ../top.qcow2
errcmp "x509: username is PSK's" \
	--object "tls-creds-x509,id=t,dir=$T/tls/s,endpoint=server,username=a" \
	../top.qcow2

# --- --tls-authz: which clients may connect ------------------------------
# authz_run W NAME AUTHZ...: serve with x509 (client certificates checked)
# and --tls-authz a (AZ_ID) over AUTHZ objects; what a client with a certificate
# gets, and what the server logs.
authz_run()
{
	local w=$1 n=$2 d srv p
	shift 2
	d=$([ $w = e ] && echo "$E" || echo "$G")
	srv=$([ $w = e ] && echo "$QEMU_NBD" || echo "$QIMG_NBD")
	rm -f "$d/az.sock"
	"$srv" -t -r -k "$d/az.sock" -f qcow2 \
		--object "tls-creds-x509,id=tls0,dir=$T/tls/s,endpoint=server" \
		--tls-creds tls0 "$@" --tls-authz "${AZ_ID:-a}" top.qcow2 \
		2>"$R/$w.az.log" &
	p=$!
	wait_sock "$d/az.sock"
	timeout 20 "$QEMU_IMG" info \
		--object "tls-creds-x509,id=tls0,dir=$T/tls/$n,endpoint=client" \
		--image-opts "driver=nbd,server.type=unix,server.path=$d/az.sock,tls-creds=tls0,tls-hostname=localhost" \
		>"$R/$w.az" 2>&1
	echo "rc=$?" >>"$R/$w.az"
	kill $p
	wait $p 2>/dev/null
	sed "s|$d|SOCKDIR|g; s|^[^ ]*qemu-nbd: |nbd: |; s|^[^ ]*qimg-nbd: |nbd: |" \
		"$R/$w.az.log" >>"$R/$w.az"
	# (how the refused client's read or write fails depends on timing,
	# with either server)
	sed -i "s|$d|SOCKDIR|g; s|': Failed to .* TLS channel: .*|': (the TLS channel closed)|" \
		"$R/$w.az"
}
# authz_same DESC CERTS AUTHZ...: both servers let the client in, or not,
# and log the same
authz_same()
{
	local desc=$1 n=$2
	shift 2
	authz_run e "$n" "$@"
	authz_run g "$n" "$@"
	text_same "--tls-authz: $desc" "$R/e.az" "$R/g.az"
}
authz_same "authz-simple naming the client" c \
	--object "authz-simple,id=a,identity=O=qimg,,CN=qimg-client"
authz_same "authz-simple naming another" c \
	--object "authz-simple,id=a,identity=CN=qimg-client"
ok "--tls-authz: a denied client is logged" \
	grep -q "authz check for O=qimg,CN=qimg-client is denied" "$R/g.az"
authz_same "authz-list, a glob rule allows" c \
	--object "authz-list,id=a,policy=deny,rules.0.match=O=qimg,,CN=qimg-*,rules.0.policy=allow,rules.0.format=glob"
authz_same "authz-list, no rule matches: the policy (deny)" c \
	--object "authz-list,id=a,rules.0.match=O=qimg,,CN=qimg-*,rules.0.policy=allow"
authz_same "authz-list, the first rule that matches decides" c \
	--object "authz-list,id=a,policy=allow,rules.0.match=O=qimg,,CN=qimg-client,rules.0.policy=deny,rules.1.match=*,rules.1.policy=allow,rules.1.format=glob"
authz_same "a client without a certificate" n \
	--object "authz-simple,id=a,identity=O=qimg,,CN=qimg-client"
# qemu-nbd looks the object up for each client and refuses them all;
# qimg-nbd refuses to start, with the same words (DIFFERENCES.md)
for c in "nope|" "a|--object secret,id=a,data=x"; do
	id=${c%%|*}
	# shellcheck disable=SC2086
	timeout 10 "$QIMG_NBD" -r -k "$T/az2.sock" -f qcow2 \
		--object "tls-creds-x509,id=tls0,dir=$T/tls/s,endpoint=server" \
		--tls-creds tls0 ${c#*|} --tls-authz "$id" top.qcow2 \
		>"$R/az2.out" 2>&1 </dev/null
	rc=$?
	# shellcheck disable=SC2086
	AZ_ID=$id authz_run e c ${c#*|}
	msg=$(sed -n 's/^qimg-nbd: //p' "$R/az2.out")
	if [ "$rc" = 1 ] && [ -n "$msg" ] &&
		grep -qF "option negotiation failed: $msg" "$R/e.az"; then
		pass "--tls-authz $id: refused at start, in qemu-nbd's words"
	else
		fail "--tls-authz $id: refused at start, in qemu-nbd's words"
		diag "rc=$rc: $(cat "$R/az2.out")" "$(cat "$R/e.az")"
	fi
done
# without client certificates there is no name to ask about
timeout 10 "$QIMG_NBD" -r -k "$T/az2.sock" -f qcow2 \
	--object "tls-creds-x509,id=tls0,dir=$T/tls/s,endpoint=server,verify-peer=off" \
	--tls-creds tls0 --object "authz-simple,id=a,identity=x" \
	--tls-authz a top.qcow2 >"$R/az2.out" 2>&1 </dev/null
rc=$?
ok "--tls-authz with verify-peer=off: refused at start" \
	[ "$rc" = 1 -a -n "$(grep "verify-peer=off" "$R/az2.out")" ]

# --- TLS with a pre-shared key -------------------------------------------
mkdir -p psk/s psk/c psk/w psk/none
key=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
printf 'bob:%s\nalice:%s\n' "$key" "$key" >psk/s/keys.psk
printf 'alice:%s\n' "$key" >psk/c/keys.psk
printf 'alice:%s\n' "$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')" \
	>psk/w/keys.psk
dh_params psk/s
errcmp "psk: no dir" --object "tls-creds-psk,id=p,endpoint=server" \
	../top.qcow2
errcmp "psk: no keys.psk" \
	--object "tls-creds-psk,id=p,dir=$T/psk/none,endpoint=server" ../top.qcow2
errcmp "psk: a server takes no username" \
	--object "tls-creds-psk,id=p,dir=$T/psk/s,endpoint=server,username=alice" \
	../top.qcow2
errcmp "psk: a client's default user is not in keys.psk" \
	--object "tls-creds-psk,id=p,dir=$T/psk/c" ../top.qcow2
errcmp "psk: --tls-creds with a client endpoint" \
	--object "tls-creds-psk,id=p,dir=$T/psk/c,endpoint=client,username=alice" \
	--tls-creds p ../top.qcow2
errcmp "psk: sanity-check is x509's" \
	--object "tls-creds-psk,id=p,dir=$T/psk/s,endpoint=server,sanity-check=on" \
	../top.qcow2
errcmp "psk: a bad verify-peer" \
	--object "tls-creds-psk,id=p,dir=$T/psk/s,endpoint=server,verify-peer=maybe" \
	../top.qcow2
# pskrun W: serve with a PSK (W: e qemu-nbd, g qimg-nbd) and record what
# clients with the key, with a wrong key and without TLS get.
pskrun()
{
	local w=$1 d p
	d=$([ $w = e ] && echo "$E" || echo "$G")
	tls_serve $w "$d/psk.sock" \
		"tls-creds-psk,id=tls0,dir=$T/psk/s,endpoint=server"
	{
		timeout 20 nbdinfo "nbds+unix://alice@/?socket=$d/psk.sock&tls-psk-file=$T/psk/c/keys.psk" 2>&1 |
			grep -E 'TLS|export-size'
		echo "a wrong key:"
		timeout 20 nbdinfo "nbds+unix://alice@/?socket=$d/psk.sock&tls-psk-file=$T/psk/w/keys.psk" \
			>/dev/null 2>&1
		echo "rc=$?"
		timeout 20 nbdinfo "nbd+unix:///?socket=$d/psk.sock" 2>&1 | head -1
		timeout 20 "$QEMU_IMG" compare -q \
			--object "tls-creds-psk,id=p,dir=$T/psk/c,username=alice,endpoint=client" \
			--image-opts "driver=raw,file.driver=nbd,file.server.type=unix,file.server.path=$d/psk.sock,file.tls-creds=p" \
			"driver=qcow2,file.filename=top.qcow2" 2>&1
		echo "compare rc=$?"
		rm -f pcopy.raw
		timeout 60 nbdcopy "nbds+unix://alice@/?socket=$d/psk.sock&tls-psk-file=$T/psk/c/keys.psk" pcopy.raw
		"$QEMU_IMG" compare -q pcopy.raw top.qcow2
		echo "nbdcopy rc=$?"
	} >"$R/$w.psk" 2>&1
	kill $p
	wait $p 2>/dev/null
}
pskrun e
pskrun g
if cmp -s "$R/e.psk" "$R/g.psk" && grep -q 'with TLS' "$R/g.psk" &&
	grep -q 'compare rc=0' "$R/g.psk" && grep -q 'nbdcopy rc=0' "$R/g.psk"; then
	pass "TLS-PSK: clients fare as with qemu-nbd"
else
	fail "TLS-PSK: clients fare as with qemu-nbd"
	diff "$R/e.psk" "$R/g.psk" | head -20 | sed 's/^/# /'
	diag_file "$R/g.psk"
fi
errcmp "--tls-authz without --tls-creds" --tls-authz=a ../top.qcow2
# qimg-nbd asks --tls-authz about a PSK client's user name too (qemu-nbd
# 7.2 lets any user with the key in: DIFFERENCES.md)
for who in alice bob; do
	rm -f "$T/pz.sock"
	"$QIMG_NBD" -t -r -k "$T/pz.sock" -f qcow2 \
		--object "tls-creds-psk,id=tls0,dir=$T/psk/s,endpoint=server" \
		--tls-creds tls0 --object "authz-simple,id=a,identity=$who" \
		--tls-authz a top.qcow2 2>"$R/pz.log" &
	p=$!
	wait_sock "$T/pz.sock"
	timeout 20 nbdinfo --size "nbds+unix://alice@/?socket=$T/pz.sock&tls-psk-file=$T/psk/c/keys.psk" \
		>"$R/pz.out" 2>&1
	rc=$?
	kill $p
	wait $p 2>/dev/null
	if [ $who = alice ]; then
		ok "--tls-authz, PSK: alice allowed" [ "$rc" = 0 ]
	else
		ok "--tls-authz, PSK: alice refused when only bob is allowed" \
			[ "$rc" != 0 -a -n "$(grep -F 'TLS PSK authz check for alice is denied' "$R/pz.log")" ]
	fi
done

# --- anonymous TLS (tls-creds-anon) ---------------------------------------
errcmp "anon: a property of PSK's" \
	--object "tls-creds-anon,id=a0,endpoint=server,username=x" ../top.qcow2
errcmp "anon: a bad endpoint" --object "tls-creds-anon,id=a0,endpoint=both" ../top.qcow2
errcmp "anon: --tls-creds with a client endpoint" \
	--object "tls-creds-anon,id=a0,endpoint=client" --tls-creds a0 ../top.qcow2
# anonrun W: serve with anonymous TLS (W: e qemu-nbd, g qimg-nbd), with
# GnuTLS's DH parameters and with a dir's dh-params.pem, and record what
# qemu-img's anonymous client and a plain one get.
anonrun()
{
	local w=$1 d p o
	d=$([ $w = e ] && echo "$E" || echo "$G")
	: >"$R/$w.anon"
	for o in "" ",dir=$T/psk/s"; do
		# (quick mode: the dir's dh-params.pem only)
		[ -n "$o" ] || whole || continue
		tls_serve $w "$d/anon.sock" "tls-creds-anon,id=tls0,endpoint=server$o"
		{
			timeout 20 "$QEMU_IMG" compare -q \
				--object "tls-creds-anon,id=a,endpoint=client" \
				--image-opts "driver=raw,file.driver=nbd,file.server.type=unix,file.server.path=$d/anon.sock,file.tls-creds=a" \
				"driver=qcow2,file.filename=top.qcow2" 2>&1
			echo "compare rc=$?"
			timeout 20 nbdinfo "nbd+unix:///?socket=$d/anon.sock" 2>&1 | head -1
		} >>"$R/$w.anon" 2>&1
		kill $p
		wait $p 2>/dev/null
	done
}
anonrun e
anonrun g
if cmp -s "$R/e.anon" "$R/g.anon" && grep -q 'compare rc=0' "$R/g.anon" &&
	! grep -q 'compare rc=[1-9]' "$R/g.anon"; then
	pass "anonymous TLS: clients fare as with qemu-nbd"
else
	fail "anonymous TLS: clients fare as with qemu-nbd"
	diff "$R/e.anon" "$R/g.anon" | head -20 | sed 's/^/# /'
fi
timeout 10 "$QIMG_NBD" -r -k "$T/az3.sock" -f qcow2 \
	--object "tls-creds-anon,id=tls0,endpoint=server" --tls-creds tls0 \
	--object "authz-simple,id=a,identity=x" --tls-authz a top.qcow2 >"$R/az3.out" 2>&1 </dev/null
rc=$?
ok "--tls-authz with anonymous credentials: refused at start" \
	[ "$rc" = 1 -a -n "$(grep "anonymous" "$R/az3.out")" ]
# qimg's NBD client (libnbd) has no anonymous TLS: refused in one line
rm -f "$T/an.sock"
"$QEMU_NBD" -t -r -k "$T/an.sock" -f qcow2 --object tls-creds-anon,id=tls0,endpoint=server \
	--tls-creds tls0 top.qcow2 2>/dev/null &
p=$!
wait_sock "$T/an.sock" "$p"
timeout 20 "$QIMG" info --object tls-creds-anon,id=a,endpoint=client \
	--image-opts "driver=nbd,server.type=unix,server.path=$T/an.sock,tls-creds=a" >"$R/an.out" 2>&1
rc=$?
kill $p
wait $p 2>/dev/null
ok "the NBD client refuses anonymous TLS in one line" \
	[ "$rc" = 1 -a "$(wc -l <"$R/an.out")" = 1 -a -n "$(grep 'Anonymous TLS' "$R/an.out")" ]

# --- -L over TLS: qimg-nbd lists as qemu-nbd lists ----------------------
# Both listers ask each server (qemu-nbd's and qimg-nbd's, x509, PSK,
# anonymous and plain) with the same arguments: the same output and exit
# status (how a refused handshake or a server's hang-up is worded depends
# on the moment the server closes: that wording is cut to its first words).
if ! tsan_build; then
make_tls_certs tls2
mkdir -p tls/y && cp tls2/ca-cert.pem tls/y/
X509C="--object tls-creds-x509,id=c,dir=$T/tls/c,endpoint=client --tls-creds c"
PSKC="--object tls-creds-psk,id=c,dir=$T/psk/c,username=alice,endpoint=client --tls-creds c"
ANONC="--object tls-creds-anon,id=c,endpoint=client --tls-creds c"
# lcase W KIND DESC ARGS...: both listers with ARGS (word-split; {S} is
# the socket of W's KIND server), compared.
lcase()
{
	local w=$1 kind=$2 desc=$3 x a=()
	shift 3
	for x in $*; do a+=("${x//\{S\}/$T/$w.$kind.sock}"); done
	for x in e g; do
		if [ $x = e ]; then
			timeout 20 "$QEMU_NBD" -L "${a[@]}" >"$R/L.$x" 2>&1
		else
			timeout 20 "$QIMG_NBD" -L "${a[@]}" >"$R/L.$x" 2>&1
		fi
		echo "rc=$?" >>"$R/L.$x"
		sed -i 's/^[^ :]*qimg-nbd:/qemu-nbd:/; s/^[^ :]*qemu-nbd:/qemu-nbd:/
			s/\(TLS handshake failed\):.*/\1/
			s/\(Failed to read option reply\):.*/\1/' "$R/L.$x"
	done
	text_same "-L over TLS, $([ $w = e ] && echo qemu-nbd || echo qimg-nbd)'s $kind server: $desc" "$R/L.e" "$R/L.g"
}
# (quick mode: qimg-nbd's servers only; the whole run asks qemu-nbd's too)
for w in $(whole && echo e) g; do
	srv=$([ $w = e ] && echo "$QEMU_NBD" || echo "$QIMG_NBD")
	pids=
	for kind in x509 psk anon plain; do
		case $kind in
		x509) o=(--object "tls-creds-x509,id=tls0,dir=$T/tls/s,endpoint=server" --tls-creds tls0) ;;
		psk) o=(--object "tls-creds-psk,id=tls0,dir=$T/psk/s,endpoint=server" --tls-creds tls0) ;;
		anon) o=(--object "tls-creds-anon,id=tls0,dir=$T/psk/s,endpoint=server" --tls-creds tls0) ;;
		plain) o=() ;;
		esac
		rm -f "$T/$w.$kind.sock"
		"$srv" -t -r -x exp -D "over TLS" -k "$T/$w.$kind.sock" -f qcow2 \
			"${o[@]}" top.qcow2 2>/dev/null &
		pids="$pids $!"
		wait_sock "$T/$w.$kind.sock" $!
	done
	lcase $w x509 "a client certificate, the server's name given" \
		-k {S} --tls-hostname localhost $X509C
	ok "-L over TLS: the list came" grep -q "description: over TLS" "$R/L.g"
	lcase $w x509 "no name to check the certificate against" -k {S} $X509C
	whole && lcase $w x509 "a name the certificate does not have" \
		-k {S} --tls-hostname other.example $X509C
	lcase $w x509 "a CA that did not sign the server's certificate" \
		-k {S} --tls-hostname localhost \
		--object tls-creds-x509,id=c,dir=$T/tls/y,endpoint=client --tls-creds c
	lcase $w x509 "no credentials" -k {S}
	whole && lcase $w x509 "a server's credentials" -k {S} \
		--object tls-creds-x509,id=c,dir=$T/tls/s,endpoint=server --tls-creds c
	whole && lcase $w x509 "--tls-authz" -k {S} $X509C --tls-authz c
	whole && lcase $w x509 "--tls-hostname without --tls-creds" -k {S} --tls-hostname localhost
	lcase $w psk "alice's key" -k {S} $PSKC
	whole && lcase $w psk "the PSK credentials without TLS" -k {S}
	whole && lcase $w psk "x509 credentials" -k {S} --tls-hostname localhost $X509C
	lcase $w anon "anonymous" -k {S} $ANONC
	whole && lcase $w anon "anonymous with a dir" -k {S} \
		--object tls-creds-anon,id=c,dir=$T/psk/c,endpoint=client --tls-creds c
	lcase $w plain "TLS asked of a plain server" -k {S} $ANONC
	whole && lcase $w plain "a PSK asked of a plain server" -k {S} $PSKC
	stop_servers
done
# over TCP the name checked is -b's unless --tls-hostname says another
port=$(free_port)
"$QIMG_NBD" -t -r -b localhost -p "$port" -f qcow2 \
	--object "tls-creds-x509,id=tls0,dir=$T/tls/s,endpoint=server" \
	--tls-creds tls0 top.qcow2 2>/dev/null &
pids=$!
for i in $(seq 100); do
	(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
	sleep 0.05
done
lcase g tcp "-b localhost: the certificate's name" -b localhost -p "$port" $X509C
ok "-L over TLS on TCP: the list came" grep -q "exports available: 1" "$R/L.g"
lcase g tcp "-b 127.0.0.1: not the certificate's name" -b 127.0.0.1 -p "$port" $X509C
lcase g tcp "-b 127.0.0.1 and --tls-hostname localhost" \
	-b 127.0.0.1 -p "$port" --tls-hostname localhost $X509C
stop_servers
pids=
# the x509 sanity check, as the server's credentials are defined
make_unfit_certs unfit "$T/tls" "$T/tls2"
# (quick mode: two; nbd-tls.sh has them all through qimg)
for u in otherca $(whole && echo isca expired junkca) notca; do
	errcmp "x509 sanity check: $u" \
		--object "tls-creds-x509,id=t,dir=$T/unfit/$u,endpoint=server" \
		../top.qcow2
done
fi
# -L against servers of other kinds (nbdkit's): without structured
# replies (no metadata contexts asked), not fixed-newstyle (no list),
# old-style (its one export from the greeting), named exports with
# descriptions, a refused export; both listers the same
kcase()
{
	local d=$1 x
	shift
	rm -f "$T/kit.sock"
	nbdkit -U "$T/kit.sock" "$@" >/dev/null 2>&1 &
	pids=$!
	wait_sock "$T/kit.sock" $!
	for x in e g; do
		if [ $x = e ]; then
			timeout 20 "$QEMU_NBD" -L -k "$T/kit.sock" >"$R/K.$x" 2>&1
		else
			timeout 20 "$QIMG_NBD" -L -k "$T/kit.sock" >"$R/K.$x" 2>&1
		fi
		echo "rc=$?" >>"$R/K.$x"
		sed -i 's/^[^ :]*q[a-z]*-nbd:/qemu-nbd:/' "$R/K.$x"
	done
	stop_servers
	pids=
	text_same "-L of nbdkit: $d" "$R/K.e" "$R/K.g"
}
kcase "no structured replies" --no-sr memory 1M
kcase "not fixed-newstyle" --mask-handshake=0 memory 1M
kcase "old-style" -o memory 1M
whole && kcase "named exports, described" --filter=exportname memory 1M \
	exportname=a exportname=b exportname-list=explicit description=hello
kcase "an export it will not describe" --filter=exportname memory 1M \
	exportname=x exportname-strict=true
errcmp "--tls-hostname without -L" --object tls-creds-anon,id=a,endpoint=server \
	--tls-creds a --tls-hostname localhost ../top.qcow2
errcmp "-c with TLS" -c /dev/qimg-no-such-nbd --tls-creds a ../top.qcow2

# objects in QEMU's JSON form
errcmp "JSON --object: a value of the wrong type" \
	--object '{"qom-type":"tls-creds-psk","id":"tls0","dir":1}' ../top.qcow2
rm -f "$T/pz.sock"
"$QIMG_NBD" -t -r -k "$T/pz.sock" -f qcow2 \
	--object '{"qom-type":"tls-creds-psk","id":"tls0","dir":"'"$T/psk/s"'","endpoint":"server"}' \
	--tls-creds tls0 \
	--object '{"qom-type":"authz-list","id":"a","rules":[{"match":"al*","policy":"allow","format":"glob"}]}' \
	--tls-authz a top.qcow2 2>"$R/pz.log" &
p=$!
wait_sock "$T/pz.sock"
timeout 20 nbdinfo --size "nbds+unix://alice@/?socket=$T/pz.sock&tls-psk-file=$T/psk/c/keys.psk" \
	>"$R/pz.out" 2>&1
ok "JSON --object: PSK credentials and an authz-list, alice let in" test $? = 0
kill $p
wait $p 2>/dev/null

# --- the kernel's NBD client (-c), where the machine has it ------------
if [ -b /dev/nbd0 ] && [ -w /dev/nbd0 ]; then
	cp top.qcow2 k.qcow2
	"$QIMG_NBD" -c /dev/nbd0 -f qcow2 k.qcow2
	ok "-c /dev/nbd0: connected" test $? = 0
	for i in $(seq 50); do [ "$(blockdev --getsize64 /dev/nbd0 2>/dev/null)" = 67108864 ] && break; sleep 0.1; done
	ok "-c: the device has the image's size" test "$(blockdev --getsize64 /dev/nbd0)" = 67108864
	ok "-c: the device reads as the image" cmp -n 67108864 /dev/nbd0 flat.raw
	dd if=/dev/urandom of=kdata bs=64k count=4 status=none
	dd if=kdata of=/dev/nbd0 bs=64k seek=100 oflag=direct conv=fsync status=none
	ok "-c: a write through the device" test $? = 0
	"$QIMG_NBD" -d /dev/nbd0 >"$R/kd.out"
	ok "-d disconnects" grep -q 'disconnected' "$R/kd.out"
	for i in $(seq 50); do pgrep -f "qimg-nbd -c /dev/nbd0" >/dev/null || break; sleep 0.1; done
	"$QEMU_IMG" convert -f qcow2 -O raw k.qcow2 k.raw
	ok "-c: the image has the write" cmp -n 262144 kdata \
		<(tail -c +$((100 * 65536 + 1)) k.raw)
else
	skip "-c: no /dev/nbd0 here (the nbd kernel module is not loaded)"
fi

# --- a real guest ------------------------------------------------------
# A boot sector that writes a line to COM1 and leaves through
# isa-debug-exit (qemu exits 1): cli; ds=0; si=msg; dx=0x3f8; print until
# NUL; out 0xf4.
python3 - <<'PYEOF'
code = bytes([0xFA, 0x31, 0xC0, 0x8E, 0xD8, 0xBE, 0x1A, 0x7C, 0xBA, 0xF8,
              0x03, 0xAC, 0x84, 0xC0, 0x74, 0x03, 0xEE, 0xEB, 0xF8, 0xB0,
              0x00, 0xE6, 0xF4, 0xF4, 0xEB, 0xFD])
sec = code + b"qimg-nbd: the guest booted\r\n\0"
sec += b"\0" * (510 - len(sec)) + b"\x55\xaa"
open("boot.raw", "wb").write(sec + b"\0" * (1048576 - 512))
PYEOF
"$QEMU_IMG" convert -f raw -O qcow2 boot.raw boot.qcow2
rm -f "$T/boot.sock"
"$QIMG_NBD" -k "$T/boot.sock" -f qcow2 boot.qcow2 &
bp=$!
wait_sock "$T/boot.sock"
timeout 120 qemu-system-x86_64 -machine accel=tcg -nodefaults -display none \
	-serial stdio -device isa-debug-exit,iobase=0xf4,iosize=0x04 \
	-drive "file=$(uri "$T/boot.sock"),format=raw,if=ide" -no-reboot \
	>"$R/guest.out" 2>"$R/guest.err" </dev/null
grc=$?
if [ $grc = 1 ] && grep -q 'qimg-nbd: the guest booted' "$R/guest.out"; then
	pass "a guest boots from qimg-nbd and prints its line"
else
	fail "a guest boots from qimg-nbd and prints its line (qemu exit $grc)"
	diag_file "$R/guest.out"
	diag_file "$R/guest.err"
fi
for i in $(seq 50); do kill -0 $bp 2>/dev/null || break; sleep 0.1; done
ok "the server ends with the guest" test ! -e "/proc/$bp"
wait $bp 2>/dev/null

# --- hostile clients ----------------------------------------------------
cp top.qcow2 h.qcow2
"$QIMG_NBD" -t -e 8 -k "$T/h.sock" -f qcow2 h.qcow2 2>"$R/h.srv" &
hp=$!
pids="$pids $hp"
wait_sock "$T/h.sock"
python3 - "$T/h.sock" >"$R/hostile.out" 2>&1 <<'PYEOF'
import socket, struct, sys
path = sys.argv[1]
def conn():
    s = socket.socket(socket.AF_UNIX); s.connect(path); s.settimeout(10); return s
def rd(s, n):
    b = b''
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c: raise EOFError
        b += c
    return b
def greet(s, flags=3):
    h = rd(s, 18); assert h[:16] == b'NBDMAGICIHAVEOPT', h
    s.sendall(struct.pack('>I', flags))
def opt(s, o, data=b''):
    s.sendall(b'IHAVEOPT' + struct.pack('>II', o, len(data)) + data)
def optrep(s):
    m, o, t, l = struct.unpack('>QIII', rd(s, 20)); return o, t, rd(s, l)
def go(s, name=b''):
    opt(s, 8)                           # structured replies
    assert optrep(s)[1] == 1
    opt(s, 7, struct.pack('>I', len(name)) + name + b'\0\0')
    while True:
        o, t, d = optrep(s)
        if t == 1: return
        assert t == 3, t
def req(s, typ, off, ln, flags=0, handle=1, data=b''):
    s.sendall(struct.pack('>IHHQQI', 0x25609513, flags, typ, handle, off, ln) + data)
def simple_or_chunk(s):
    m = struct.unpack('>I', rd(s, 4))[0]
    if m == 0x67446698:
        err, h = struct.unpack('>IQ', rd(s, 12)); return err
    f, t, h, l = struct.unpack('>HHQI', rd(s, 16)); d = rd(s, l)
    return struct.unpack('>I', d[:4])[0] if t & 0x8000 else 0
res = []
# 1: bad option magic: the server hangs up
s = conn(); greet(s); s.sendall(b'XXXXXXXX' + struct.pack('>II', 7, 0))
try: res.append('badmagic-eof' if not s.recv(1) else 'badmagic-data')
except Exception as e: res.append('badmagic-' + type(e).__name__)
# 2: an option of 100 MB: refused with TOO_BIG after the bytes
s = conn(); greet(s); opt(s, 99, b''); res.append('unknown-opt %#x' % optrep(s)[1])
s.sendall(b'IHAVEOPT' + struct.pack('>II', 6, 200000) + b'\0' * 200000)
res.append('big-opt %#x' % optrep(s)[1])
# 3: unknown export, then an option that needs structured replies
opt(s, 7, struct.pack('>I', 3) + b'bad' + b'\0\0'); res.append('unknown-export %#x' % optrep(s)[1])
opt(s, 10, struct.pack('>I', 0) + struct.pack('>I', 0)); res.append('set-meta-unstructured %#x' % optrep(s)[1])
go(s)
# 4: requests out of range, bad flags, unknown command, read too big
size = 64 << 20
req(s, 0, size, 512); res.append('read-past-end %d' % simple_or_chunk(s))
req(s, 1, size - 512, 1024, data=b'\0' * 1024); res.append('write-past-end %d' % simple_or_chunk(s))
req(s, 0, 0, 512, flags=0x80); res.append('bad-flags %d' % simple_or_chunk(s))
req(s, 42, 0, 0); res.append('unknown-cmd %d' % simple_or_chunk(s))
req(s, 0, 0, 64 << 20); res.append('read-too-big %d' % simple_or_chunk(s))
req(s, 7, 0, 4096); res.append('status-no-context %d' % simple_or_chunk(s))
req(s, 0, 0, 4096); res.append('read-ok %d' % simple_or_chunk(s))
# 5: a write larger than any payload: the server hangs up
req(s, 1, 0, 0xffffffff)
try: res.append('huge-write-eof' if not s.recv(1) else 'huge-write-data')
except Exception as e: res.append('huge-write-' + type(e).__name__)
# 6: gone in the middle of a write's payload
s = conn(); greet(s); go(s); req(s, 1, 0, 1 << 20, data=b'\1' * 1000); s.close()
# 7: many requests in flight, then DISC
s = conn(); greet(s); go(s)
for i in range(64): req(s, 0, i * 65536, 65536, handle=i)
got = set()
for i in range(64):
    m = struct.unpack('>I', rd(s, 4))[0]
    f, t, h, l = struct.unpack('>HHQI', rd(s, 16)); rd(s, l)
    while not f & 1:
        m, f, t, h, l = struct.unpack('>IHHQI', rd(s, 20)); rd(s, l)
    got.add(h)
res.append('inflight %d' % len(got))
req(s, 2, 0, 0); s.close()
print('\n'.join(res))
PYEOF
cat >"$R/hostile.want" <<'EOF'
badmagic-eof
unknown-opt 0x80000001
big-opt 0x80000009
unknown-export 0x80000006
set-meta-unstructured 0x80000003
read-past-end 22
write-past-end 28
bad-flags 22
unknown-cmd 22
read-too-big 22
status-no-context 22
read-ok 0
huge-write-eof
inflight 64
EOF
text_same "hostile clients get the protocol's answers" "$R/hostile.want" "$R/hostile.out"
ok "the server survived them" kill -0 $hp
ok "and still serves" "$QEMU_IMG" compare -q top.qcow2 "$(uri "$T/h.sock")"
stop_servers
pids=
ok "after hostile clients: qemu-img check" "$QEMU_IMG" check -q h.qcow2

done_testing
