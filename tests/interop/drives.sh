#!/bin/bash
# SPDX-License-Identifier: MIT
# QEMU's storage command line (-hda..-hdd, -cdrom, -fda, -drive, -snapshot,
# -nodefaults, a bare image name): `qimg drives ARGS` against what
# qemu-system-x86_64 ARGS shows in its monitor (`info block`, asked over
# QMP) and says on stderr: ids, interfaces, units, default drives, cache
# modes, read-only, backing chains, -snapshot overlays, probing warnings and
# every refusal in QEMU's words.  ("Attached to:" lines name QEMU's device
# objects, which qimg does not create: they are left out.)
. "$(dirname "$0")/lib.sh"
have_qimg || skip_all "no qimg binary at $QIMG"
QEMU_SYSTEM=${QEMU_SYSTEM:-qemu-system-x86_64}
need_oracle "$QEMU_SYSTEM"

# Both tools' outputs, after lib.sh's norm_size and program names:
# carriage returns, automatic node names, device lines and temporary
# overlay names masked, qemu-system's message prefix made qemu-img's (by
# bash itself: lib.sh's NORM_THEN).
NORM=norm_drives
NORM_THEN[norm_drives]=drives_masked
drives_masked()
{
	lines_edit "$1" drives_masked_lines -E -e 's/\r$//' \
		-e 's/^qemu-system-x86_64: /qemu-img: /' -e 's/#block[0-9]+/#blockN/' \
		-e '/^    Attached to: /d' -e 's/vl\.[A-Za-z0-9]{6}/vl.XXXXXX/g'
}
drives_masked_lines()
{
	local a='[A-Za-z0-9]'
	lines=("${lines[@]%$'\r'}")
	lines=("${lines[@]/#qemu-system-x86_64: /qemu-img: }")
	lines=("${lines[@]/"#block"+([0-9])/#blockN}")
	lines=("${lines[@]//vl.$a$a$a$a$a$a/vl.XXXXXX}")
	lines_drop "    Attached to: "
}
spawn mkdir -p "$T/tmp"
export TMPDIR=$T/tmp

# qemu_drives ARGS...: qemu-system-x86_64 ARGS (paused, no display), its
# `info block` over QMP into $R/e.out, its stderr and exit status, as
# run_tool leaves qemu-img's.
qemu_drives()
{
	local rc
	(cd "$E" && printf '%s\n' '{"execute":"qmp_capabilities"}' \
		'{"execute":"human-monitor-command","arguments":{"command-line":"info block"}}' \
		'{"execute":"quit"}' |
		timeout -k 5 60 "$QEMU_SYSTEM" -S -display none -qmp stdio "$@") \
		>"$R/e.qmp" 2>"$R/e.err"
	rc=$?
	"$PY" -c '
import json, sys
for line in open(sys.argv[1]):
    try:
        r = json.loads(line).get("return")
    except ValueError:
        continue
    if isinstance(r, str):
        sys.stdout.write(r)
' "$R/e.qmp" >"$R/e.out"
	echo "$rc" >"$R/e.rc"
	norm_files "$R/e"
}

# drives DESC ARGS...: the same storage arguments to both (in a sanitizer
# build's run, to the release qimg's `drives`, which the release run
# compares with qemu-system: lib.sh's SAME_REF).
drives()
{
	local d=$1
	shift
	if [ -n "$SAME_REF" ]; then
		run_tool e drives "$@"
	else
		qemu_drives "$@"
	fi
	same_from_e "$d" drives "$@"
}

# drives_json DESC ARGS...: QMP query-block against `qimg drives
# --output=json`, as data (qdev, automatic node names and actual sizes
# aside).
drives_json()
{
	local d=$1
	shift
	(cd "$E" && printf '%s\n' '{"execute":"qmp_capabilities"}' \
		'{"execute":"query-block"}' '{"execute":"quit"}' |
		timeout -k 5 60 "$QEMU_SYSTEM" -S -display none -qmp stdio "$@") \
		>"$R/e.qmp" 2>"$R/e.err"
	echo $? >"$R/e.rc"
	spawn -C "$G" "$QIMG" drives --output=json "$@" >"$R/g.json" 2>"$R/g.err"
	echo $? >"$R/g.rc"
	if "$PY" - "$R/e.qmp" "$R/g.json" >"$R/json.diff" <<'PYEOF'
import json, re, sys

def norm(v):
    if isinstance(v, dict):
        out = {}
        for k, x in v.items():
            if k == "qdev":
                continue
            if k == "actual-size":
                x = "X"
            if k == "node-name" and isinstance(x, str) and x.startswith("#block"):
                x = "#blockN"
            if isinstance(x, str):
                x = re.sub(r"vl\.[A-Za-z0-9]{6}", "vl.X", x)
            out[k] = norm(x)
        return out
    if isinstance(v, list):
        return [norm(x) for x in v]
    return v

e = None
for line in open(sys.argv[1]):
    try:
        j = json.loads(line)
    except ValueError:
        continue
    if isinstance(j.get("return"), list):
        e = j["return"]
g = json.load(open(sys.argv[2]))
a, b = norm(e), norm(g)
if a != b:
    print(json.dumps(a, sort_keys=True, indent=1))
    print(json.dumps(b, sort_keys=True, indent=1))
    sys.exit(1)
PYEOF
	then
		pass "$d"
	else
		fail "$d"
		diag "args: $*"
		diag "qemu: exit $(cat "$R/e.rc"), stderr: $(head -c 600 "$R/e.err")"
		diag "qimg: exit $(cat "$R/g.rc"), stderr: $(head -c 600 "$R/g.err")"
		diff <(sed -n '1,/^\]/p' "$R/json.diff") <(sed '1,/^\]/d' "$R/json.diff") | head -20 | sed 's/^/# /'
	fi
}

# sampled: true for every third call in quick runs (one count over the
# suite), always when whole.  Quick runs compare every feature's main case
# and a third of the variants around it (more placements, cache modes,
# throttling values, lock rules, refusals): each comparison starts
# qemu-system, a third of a second.
n_sampled=0
sampled()
{
	n_sampled=$((n_sampled + 1))
	quick_pick $((n_sampled - 1))
}

spawn "$QEMU_IMG" create -q -f qcow2 a.qcow2 64M
spawn "$QEMU_IMG" create -q -f qcow2 -b a.qcow2 -F qcow2 o.qcow2
spawn "$QEMU_IMG" create -q -f raw d.raw 1440K
spawn "$QEMU_IMG" create -q -f raw c.raw 32M
spawn "$QEMU_IMG" create -q -f raw e.raw 16M
echo 'not an image' >bad.qcow2

# --- placement, ids and the machine's default drives ------------------------
drives "-hda" -hda ../a.qcow2
drives "a bare image name is -hda" ../a.qcow2
drives "-hda..-hdd" -hda ../a.qcow2 -hdb ../o.qcow2 -hdc ../c.raw -hdd ../e.raw
drives "-cdrom and -fda" -hda ../a.qcow2 -cdrom ../c.raw -fda ../d.raw
drives "-nodefaults" -nodefaults -hda ../a.qcow2
sampled && drives "-hdc takes the default cdrom's place" -hdc ../c.raw
drives "if=virtio in order" -drive file=../a.qcow2,if=virtio,index=3 \
	-drive file=../d.raw,format=raw,if=virtio
sampled && drives "bus=0 and an index" -drive file=../a.qcow2,bus=0,index=1
sampled && drives "if=none with an id" -drive file=../a.qcow2,if=none,id=x
sampled && drives "if=none without an id" -drive file=../a.qcow2,if=none
sampled && drives "media=cdrom" -nodefaults -drive file=../a.qcow2,media=cdrom
sampled && drives "an empty cdrom" -drive if=ide,index=3,media=cdrom
sampled && drives "index=-1 is no index" -nodefaults -drive file=../a.qcow2,index=-1
sampled && drives "a hex index" -nodefaults -drive file=../a.qcow2,index=0x3
sampled && drives "first free unit" -nodefaults -drive file=../a.qcow2 \
	-drive file=../o.qcow2 -drive file=../c.raw,format=raw
sampled && drives "floppies" -drive file=../d.raw,format=raw,if=floppy \
	-drive file=../e.raw,format=raw,if=floppy

# the q35 machine: six AHCI ports of one unit, no default floppy
drives "q35: -hda, -hdb" -M q35 -hda ../a.qcow2 -hdb ../c.raw
sampled && drives "q35: an index past the ports" -M q35 -drive file=../a.qcow2,index=7
sampled && drives "q35: the last port" -M q35 -drive file=../a.qcow2,index=5
sampled && drives "q35: -fda" -M q35 -fda ../d.raw
sampled && drives "q35: an empty disk" -M q35 -drive if=ide,index=3
drives "q35: -hdc on the cdrom's port" -M q35 -cdrom ../c.raw -hdc ../a.qcow2
sampled && drives "q35 by version" -M pc-q35-7.2 -nodefaults -hda ../a.qcow2
sampled && drives "q35 as -machine type=" -machine type=q35,accel=tcg -cdrom ../c.raw
sampled && drives "q35: a unit too big" -M q35 -drive file=../a.qcow2,bus=1,unit=1
sampled && drives "q35: one file twice" -M q35 -hda ../c.raw -hdb ../c.raw
spawn -C "$G" "$QIMG" drives -M microvm -hda ../a.qcow2 >"$R/out" 2>&1
ok "another machine is refused by name" \
	grep -qx "qimg: -M microvm: qimg resolves drives for the pc and q35 machines only" "$R/out"

# --- cache modes, read-only, detect-zeroes -----------------------------------
for c in writeback writethrough none directsync unsafe; do
	sampled && drives "cache=$c" -nodefaults -drive file=../a.qcow2,cache=$c
done
sampled && drives "cache.* options" -nodefaults \
	-drive file=../a.qcow2,cache.writeback=off,cache.no-flush=on
sampled && drives "cache=none then cache.direct=off" -nodefaults \
	-drive file=../a.qcow2,cache=none,cache.direct=off
drives "readonly on virtio" -nodefaults \
	-drive file=../a.qcow2,if=virtio,readonly=on
sampled && drives "read-only on virtio" -nodefaults \
	-drive file=../a.qcow2,if=virtio,read-only=on
drives "detect-zeroes" -nodefaults \
	-drive file=../a.qcow2,detect-zeroes=on -drive file=../o.qcow2,detect-zeroes=unmap,discard=unmap
sampled && drives "copy-on-read on a read-only drive" -nodefaults \
	-drive file=../o.qcow2,copy-on-read=on,readonly=on,if=virtio

# --- formats, probing and chains ----------------------------------------------
drives "probing guesses raw" -nodefaults -drive file=../d.raw
drives "format=raw over a qcow2" -nodefaults -drive file=../a.qcow2,format=raw
drives "a backing chain" -nodefaults -hda ../o.qcow2
sampled && drives "driver options" -nodefaults \
	-drive driver=qcow2,file.driver=file,file.filename=../a.qcow2
sampled && drives "a node name" -nodefaults -drive file=../a.qcow2,node-name=top
# One set of names per process: node names, and drives' ids as device names
# (given or made: none0, ide0-hd1), each refused where the other has it.
drives "two drives' nodes named alike" -nodefaults \
	-drive file=../a.qcow2,if=none,node-name=n -drive file=../c.raw,format=raw,if=none,node-name=n
drives "a node named as its own drive's id" -nodefaults \
	-drive file=../a.qcow2,if=none,id=x,node-name=x
sampled && drives "a drive's id named as an open node" -nodefaults \
	-drive file=../a.qcow2,if=none,node-name=x -drive file=../c.raw,format=raw,if=none,id=x
sampled && drives "a node named as an earlier drive's id" -nodefaults \
	-drive file=../c.raw,format=raw,if=none,id=x -drive file=../a.qcow2,if=none,file.node-name=x
sampled && drives "a node named as an empty drive's id" -nodefaults \
	-drive if=none,id=e -drive file=../a.qcow2,if=none,node-name=e
sampled && drives "an empty drive's id named as a node" -nodefaults \
	-drive file=../a.qcow2,if=none,node-name=e -drive if=none,id=e
sampled && drives "a node named as a made id" -nodefaults \
	-drive file=../a.qcow2,node-name=ide0-hd1 -drive file=../c.raw,format=raw
sampled && drives "a made id taken by a node" -nodefaults \
	-drive file=../a.qcow2,if=none,node-name=none1 -drive file=../c.raw,format=raw,if=none
sampled && drives "node names alike under -snapshot" -nodefaults -snapshot \
	-drive file=../a.qcow2,if=none,node-name=n -drive file=../c.raw,format=raw,if=none,node-name=n
sampled && drives "a throttled drive's id named as a node" -nodefaults \
	-drive file=../a.qcow2,if=none,node-name=t \
	-drive file=../c.raw,format=raw,if=none,id=t,throttling.iops-total=50
# A node named as a default drive's id: QEMU 7.2 aborts ("Unexpected error
# in monitor_add_blk()", a core dump); qimg refuses it in the same words.
if [ -z "$SAME_REF" ]; then
	qemu_drives -drive file=../a.qcow2,node-name=ide1-cd0
	ok "QEMU: a node named as the default cdrom" grep -qx \
		"qemu-system-x86_64: Device name 'ide1-cd0' conflicts with an existing node name" "$R/e.err"
fi
refused_clearly "a node named as the default cdrom" \
	"^qimg: Device name 'ide1-cd0' conflicts with an existing node name$" \
	drives -drive file=a.qcow2,node-name=ide1-cd0

sampled && drives "aio=native without cache.direct" -nodefaults -drive file=../a.qcow2,aio=native
drives "aio=native with cache=none" -nodefaults -drive file=../a.qcow2,aio=native,cache=none
sampled && drives "aio=io_uring" -nodefaults -drive file=../a.qcow2,aio=io_uring
spawn mkdir -p fatdir/sub && echo x >fatdir/sub/f && echo y >fatdir/g
drives "vvfat: a read-only virtio disk" -nodefaults -drive file=fat:../fatdir,format=raw,if=virtio,readonly=on
sampled && drives "vvfat: a floppy" -nodefaults -drive file=fat:floppy:../fatdir,if=floppy,readonly=on
sampled && drives "vvfat: a cdrom" -nodefaults -cdrom fat:../fatdir
sampled && drives "vvfat: under -snapshot" -nodefaults -snapshot -hda fat:16:../fatdir
drives "vvfat: no such directory" -nodefaults -cdrom fat:../nosuch
# auto-read-only: a writable -drive over what cannot be written
sampled && drives "vvfat: -hda (read-only, an IDE disk)" -nodefaults -hda fat:../fatdir
sampled && drives "vvfat: writable virtio" -nodefaults -drive file=fat:../fatdir,format=raw,if=virtio
sampled && drives "vvfat: writable floppy" -nodefaults -drive file=fat:floppy:../fatdir,format=raw,if=floppy
sampled && drives "vvfat: writable, no device" -nodefaults -drive file=fat:../fatdir,if=none
sampled && drives "vvfat: under a qcow2 format" -nodefaults -drive file=fat:../fatdir,format=qcow2,if=none
drives "a json: file name" -nodefaults \
	-drive 'file=json:{"driver":"qcow2","file":{"driver":"file","filename":"../a.qcow2"}}'
# (a short key derivation; qemu-img's timing of it fails now and then on
# this kernel, "Unable to get accurate CPU usage": tried again.  Quick runs
# make the image with qimg: qemu-img spends 2-3 s of processor time timing
# the derivation, qimg a tenth of that; both tools then open the one file)
mkenc=$QEMU_IMG
whole || mkenc=$QIMG
for i in 1 2 3 4 5 6; do
	"$mkenc" create -q -f qcow2 --object secret,id=s0,data=abc \
		-o encrypt.format=luks,encrypt.key-secret=s0,encrypt.iter-time=10 \
		enc.qcow2 16M 2>/dev/null && break
done
drives "an encrypted qcow2 with its -object secret" -nodefaults \
	-object secret,id=s0,data=abc -drive file=../enc.qcow2,encrypt.key-secret=s0
drives "an encrypted qcow2 without its key" -nodefaults -drive file=../enc.qcow2

# --- I/O throttling of a drive -------------------------------------------------------
for a in bps=abc bps=-1 bps_max=100 bps=1,bps_rd=1 \
	throttling.bps-total=100,throttling.bps-total-max-length=5 \
	throttling.bps-total=100,throttling.bps-total-max=50 \
	throttling.iops-size=4096 throttling.bps-total=1e20 \
	throttling.bps-total=2000000000000000 throttling.foo=1 bps=0 \
	throttling.iops-total=10,throttling.iops-size=4096,throttling.group=g1 \
	throttling.bps-total=100,throttling.bps-total-max=200,throttling.bps-total-max-length=2 \
	iops=5,snapshot=on bps_wr=10000,readonly=on,if=virtio; do
	sampled && drives "throttling: $a" -nodefaults -drive file=../a.qcow2,$a
done
sampled && drives "throttling: two drives in one group (the last sets it)" -nodefaults \
	-drive file=../a.qcow2,bps=1000,throttling.group=g \
	-drive file=../c.raw,format=raw,bps=2000,throttling.group=g,if=virtio
drives "throttling: a drive sets an -object group's limits" -nodefaults \
	-object throttle-group,id=g,x-bps-total=500 \
	-drive file=../a.qcow2,bps=1000,throttling.group=g

# --- --output=json: query-block ----------------------------------------------------
drives_json "json: a chain, a read-only throttled virtio disk, a cdrom" -nodefaults \
	-hda ../o.qcow2 -drive file=../d.raw,format=raw,if=virtio,readonly=on,bps=100 \
	-cdrom ../c.raw
sampled && drives_json "json: the default drives" -hda ../a.qcow2
sampled && drives_json "json: cache modes, detect-zeroes, a node name" -nodefaults \
	-drive file=../a.qcow2,cache=none,node-name=top \
	-drive file=../c.raw,format=raw,cache=unsafe,if=virtio,detect-zeroes=on \
	-drive file=../e.raw,format=raw,cache=writethrough,if=none,id=x
drives_json "json: -snapshot" -snapshot -nodefaults -hda ../o.qcow2
sampled && drives_json "json: an encrypted image" -nodefaults -object secret,id=s0,data=abc \
	-drive file=../enc.qcow2,encrypt.key-secret=s0
sampled && drives_json "json: burst limits" -nodefaults \
	-drive file=../a.qcow2,throttling.bps-total=100,throttling.bps-total-max=200,throttling.iops-total=5,throttling.iops-size=512

# --- firmware flash ---------------------------------------------------------------
spawn "$QEMU_IMG" create -q -f raw p1.raw 1000
spawn "$QEMU_IMG" create -q -f raw p2.raw 4M
spawn "$QEMU_IMG" create -q -f raw p3.raw 6M
drives "-pflash" -nodefaults -pflash ../p2.raw
sampled && drives "-pflash of a bad size" -nodefaults -pflash ../p1.raw
sampled && drives "firmware too big" -nodefaults -pflash ../p2.raw -pflash ../p3.raw
sampled && drives "pflash1 without pflash0" -nodefaults -drive if=pflash,file=../p2.raw,format=raw,index=1
sampled && drives "an empty pflash" -nodefaults -drive if=pflash
sampled && drives "a third pflash" -nodefaults -drive if=pflash,format=raw,file=../p2.raw,unit=2

# --- two drives, one file: QEMU's lock rules -----------------------------------------
while read -r args; do
	# shellcheck disable=SC2086
	sampled && drives "one file twice: $args" -nodefaults $args
done <<'LOCKS'
-hda ../a.qcow2 -hdb ../a.qcow2
-hda ../c.raw -hdb ../c.raw
-hda ../c.raw -cdrom ../c.raw
-cdrom ../c.raw -hda ../c.raw
-cdrom ../a.qcow2 -hda ../a.qcow2
-hda ../a.qcow2 -cdrom ../a.qcow2
-hda ../a.qcow2 -drive file=../a.qcow2,if=virtio
-drive file=../a.qcow2,if=none -hda ../a.qcow2
-snapshot -hda ../c.raw -hdb ../c.raw
-hda ../c.raw -drive file=../c.raw,if=virtio,readonly=on
-drive file=../a.qcow2,if=virtio,readonly=on -hda ../a.qcow2
-hda ../o.qcow2 -hdb ../a.qcow2
-fda ../d.raw -fdb ../d.raw
-hda ../c.raw -drive file=../c.raw,format=raw,if=virtio,snapshot=on
-hda ../c.raw -drive file=../c.raw,if=none
-drive file=../c.raw,if=virtio -drive file=../c.raw,if=virtio
-hda ../o.qcow2 -cdrom ../a.qcow2
-hdb ../c.raw -drive file=../c.raw,format=raw,if=floppy
LOCKS

# --- -snapshot ------------------------------------------------------------------
drives "-snapshot" -snapshot -hda ../o.qcow2 -hdc ../d.raw
sampled && drives "-snapshot with cache=none" -snapshot -nodefaults -drive file=../a.qcow2,cache=none
sampled && drives "snapshot=on with cache=directsync" -nodefaults -drive file=../a.qcow2,cache=directsync,snapshot=on
sampled && drives "snapshot=on" -nodefaults -drive file=../a.qcow2,snapshot=on,format=qcow2 \
	-fda ../d.raw
sampled && drives "-snapshot but snapshot=off" -snapshot -nodefaults \
	-drive file=../a.qcow2,snapshot=off
sampled && drives "-snapshot on a cdrom" -snapshot -nodefaults -cdrom ../c.raw
spawn "$QEMU_IMG" create -q -f qcow2 w.qcow2 1M
qemu_io_write()
{
	spawn "$QEMU_IO" -f qcow2 -c "$1" w.qcow2 >/dev/null
}
qemu_io_write "write -P 0x11 0 64k"
sum=$(md5sum <w.qcow2)
(cd "$G" && spawn "$QIMG" drives -snapshot -nodefaults -hda ../w.qcow2 >/dev/null 2>&1)
ok "-snapshot leaves the image alone" [ "$(md5sum <w.qcow2)" = "$sum" ]
ok "-snapshot leaves no overlay behind" [ -z "$(ls "$T/tmp")" ]

# --- refusals, in QEMU's words -------------------------------------------------
sampled && drives "index too far for the machine" -drive file=../a.qcow2,index=5
sampled && drives "a unit too big" -drive file=../a.qcow2,bus=1,unit=2
sampled && drives "index with bus" -drive file=../a.qcow2,bus=1,index=1
sampled && drives "a taken place" -hda ../a.qcow2 -hda ../d.raw
sampled && drives "if=scsi on pc" -drive file=../a.qcow2,if=scsi
sampled && drives "a scsi unit too big" -drive file=../a.qcow2,if=scsi,unit=7
sampled && drives "if=sd on pc" -drive file=../a.qcow2,if=sd
sampled && drives "a third floppy" -drive file=../a.qcow2,if=floppy,index=2
sampled && drives "an unknown interface" -drive file=../a.qcow2,if=foo
sampled && drives "a bad index" -drive file=../a.qcow2,index=x
sampled && drives "a bad cache mode" -drive file=../a.qcow2,cache=bad
sampled && drives "a bad werror" -drive file=../a.qcow2,werror=xx
sampled && drives "rerror=enospc" -drive file=../a.qcow2,rerror=enospc
sampled && drives "werror on a floppy" -drive file=../a.qcow2,if=floppy,werror=stop
sampled && drives "a bad media" -drive file=../a.qcow2,media=floppy
sampled && drives "a bad aio" -drive file=../a.qcow2,aio=bad
sampled && drives "a bad detect-zeroes" -drive file=../a.qcow2,detect-zeroes=bad
sampled && drives "a bad snapshot" -drive file=../a.qcow2,snapshot=bad
sampled && drives "readonly and read-only" \
	-drive file=../a.qcow2,readonly=on,read-only=on,if=virtio
sampled && drives "format and driver" -drive file=../a.qcow2,format=qcow2,driver=qcow2
sampled && drives "an unknown format" -drive file=../a.qcow2,format=foo
sampled && drives "an unknown option" -drive file=../a.qcow2,foo=bar
sampled && drives "addr is no -drive option" -drive file=../a.qcow2,if=virtio,addr=5
drives "a missing file" -drive file=../nonexist
drives "a damaged image" -drive file=../bad.qcow2,format=qcow2
sampled && drives "a comma in a file name" -drive file=../a.qcow2,,x
sampled && drives "a duplicate id" -nodefaults -drive file=../a.qcow2,id=x \
	-drive file=../d.raw,id=x
sampled && drives "a bad id" -drive file=../a.qcow2,id=1x
sampled && drives "a short-form boolean" -drive ../a.qcow2
sampled && drives "an empty IDE disk" -drive if=ide,index=1
sampled && drives "an empty virtio disk" -drive if=virtio
sampled && drives "a read-only IDE disk" -nodefaults -drive file=../a.qcow2,readonly=on
sampled && drives "a bad discard" -drive file=../a.qcow2,discard=bad

# --- qimg run: a real guest on the drives qimg serves ---------------------------
# The guest (mkguest.py) reads sector 1 through the BIOS, prints it on the
# serial port, writes its boot sector over sector 2 and leaves QEMU with
# status 85 (3 on a BIOS error).
"$PY" "$ROOT/tests/interop/mkguest.py" guest.raw "served by qimg"
GUEST=(-nodefaults -display none -no-reboot -device isa-debug-exit,iobase=0xf4,iosize=0x04)
# guest DESC IMAGE-NAME ARGS...: qimg run the guest; it must print the
# message and end with 85.
guest()
{
	local d=$1
	shift
	spawn rm -f "$T/serial.txt"
	(cd "$G" && timeout -k 5 120 "$QIMG" run "$QEMU_SYSTEM" "${GUEST[@]}" \
		-serial "file:$T/serial.txt" "$@") >"$R/run.out" 2>"$R/run.err" </dev/null
	echo $? >"$R/run.rc"
	if [ "$(cat "$R/run.rc")" = 85 ] && [ "$(cat "$T/serial.txt" 2>/dev/null)" = "${MSG:-served by qimg}" ]; then
		pass "$d"
	else
		fail "$d"
		diag "qimg run exit $(cat "$R/run.rc"), serial: '$(cat "$T/serial.txt" 2>/dev/null)'"
		sed 's/^/# /' "$R/run.err"
	fi
}
# sector N of a raw image
sector()
{
	spawn dd if="$1" bs=512 skip="$2" count=1 status=none
}
wrote()
{
	local f=$1 fmt=$2
	spawn "$QEMU_IMG" convert -f "$fmt" -O raw "$f" "$T/check.raw" &&
		spawn cmp -s <(sector "$T/check.raw" 0) <(sector "$T/check.raw" 2)
}

spawn "$QEMU_IMG" convert -f raw -O qcow2 guest.raw g.qcow2
guest "a guest boots from a qcow2 -hda" -hda ../g.qcow2
ok "the guest's write is in the qcow2" wrote g.qcow2 qcow2
ok "the qcow2 is clean after the guest" "$QEMU_IMG" check -q g.qcow2

spawn "$QEMU_IMG" convert -f raw -O qcow2 guest.raw gs.qcow2
sum=$(md5sum <gs.qcow2)
guest "a guest under -snapshot" -snapshot -hda ../gs.qcow2
ok "-snapshot: the image did not change" [ "$(md5sum <gs.qcow2)" = "$sum" ]

spawn "$QEMU_IMG" convert -f raw -O qcow2 guest.raw gb.qcow2
spawn "$QEMU_IMG" create -q -f qcow2 -b gb.qcow2 -F qcow2 gt.qcow2
sum=$(md5sum <gb.qcow2)
guest "a guest on a backing chain, virtio" -drive file=../gt.qcow2,if=virtio,cache=writethrough
ok "the write went to the top image" wrote gt.qcow2 qcow2
ok "the backing file did not change" [ "$(md5sum <gb.qcow2)" = "$sum" ]
ok "the top image is clean" "$QEMU_IMG" check -q gt.qcow2

# (quick runs: vdi and vpc of the five)
i=0
for f in vdi vmdk vhdx vpc qed; do
	i=$((i + 1))
	quick_pick $((i - 1)) || continue
	spawn "$QEMU_IMG" convert -f raw -O $f guest.raw "g.$f"
	guest "a guest boots from $f" -drive file=../g.$f,format=$f,cache=none
	ok "the guest's write is in the $f image" wrote "g.$f" $f
done

# iops=1: the guest's three requests (two reads, a write) take 2 s at least
spawn "$QEMU_IMG" convert -f raw -O qcow2 guest.raw gi.qcow2
start=$(date +%s%N)
guest "a guest on a throttled drive" -drive file=../gi.qcow2,iops=1
ms=$((($(date +%s%N) - start) / 1000000))
ok "the throttled guest took 2 s at least (${ms} ms)" [ "$ms" -ge 2000 ]
ok "the throttled guest's write is in the image" wrote gi.qcow2 qcow2

spawn "$QEMU_IMG" convert -f raw -O qcow2 guest.raw gq.qcow2
guest "a q35 guest boots from its first AHCI port" -M q35 -hda ../gq.qcow2
ok "the q35 guest's write is in the image" wrote gq.qcow2 qcow2

spawn cp guest.raw gf.raw
spawn truncate -s 1440K gf.raw
guest "a guest boots from a floppy" -fda ../gf.raw -boot a
ok "the guest's write is on the floppy" wrote gf.raw raw

# vvfat: the guest reads a host file (the first cluster of a FAT16 disk,
# block 600) from its second disk, a read-only virtio drive qimg serves
spawn mkdir -p fatg && printf 'read from a host directory\0' >fatg/a.txt
"$PY" "$ROOT/tests/interop/mkguest.py" --from 0x81:600 gfat.raw
MSG="read from a host directory" guest "vvfat: a guest reads a host file from a FAT disk" \
	-drive file=../gfat.raw,format=raw \
	-drive file=fat:../fatg,format=raw,if=virtio,readonly=on
ok "vvfat: the guest's write went to its own disk" wrote gfat.raw raw

# a CD (El Torito, no emulation) and -boot choosing between it and a disk
# (quick runs boot the cd by -boot d and c over a disk, and from qcow2:
# the cd alone and as a slave are whole runs' only)
"$PY" "$ROOT/tests/interop/mkguest.py" --cdrom g.iso "booted from a cd"
whole && MSG="booted from a cd" guest "a guest boots from a -cdrom (-boot d)" -cdrom ../g.iso -boot d
spawn "$QEMU_IMG" convert -f raw -O qcow2 guest.raw gd.qcow2
MSG="booted from a cd" guest "-boot d: the cd before the disk" \
	-hda ../gd.qcow2 -cdrom ../g.iso -boot d
guest "-boot c: the disk before the cd" -hda ../gd.qcow2 -cdrom ../g.iso -boot c
whole && MSG="booted from a cd" guest "a cd as the first IDE bus's slave" \
	-drive file=../g.iso,format=raw,media=cdrom,index=1 -boot d
spawn "$QEMU_IMG" convert -f raw -O qcow2 g.iso giso.qcow2
MSG="booted from a cd" guest "a cd image in qcow2" -cdrom ../giso.qcow2 -boot d

# what qimg refuses, qemu-system is never started for
spawn -C "$G" "$QIMG" run "$QEMU_SYSTEM" "${GUEST[@]}" -drive file=../g.qcow2,cache=bad \
	>"$R/run.out" 2>"$R/run.err" </dev/null
ok "run: a bad -drive is refused before the emulator starts" \
	grep -qx "qimg: -drive file=../g.qcow2,cache=bad: invalid cache option" "$R/run.err"
spawn -C "$G" "$QIMG" run ./no-such-emulator -hda ../g.qcow2 >"$R/run.out" 2>"$R/run.err" </dev/null
rc=$?
ok "run: a missing emulator is named" grep -q "Could not run './no-such-emulator'" "$R/run.err"
ok "run: ... and fails (127)" [ "$rc" = 127 ]
ok "run: the image is closed clean" "$QEMU_IMG" check -q g.qcow2
spawn -C "$G" "$QIMG" run >"$R/run.out" 2>"$R/run.err" </dev/null
ok "run without an emulator fails" [ $? = 1 ]

done_testing
