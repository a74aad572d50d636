#!/bin/bash
# SPDX-License-Identifier: MIT
# --object definitions of every type of QEMU 7.2's ObjectType (the ones
# secrets.sh, options.sh, throttle.sh and nbd-tls.sh leave): each checked
# as qemu-img's QAPI visitor checks it (required members, typed values,
# unknown keys, key syntax, in its order and words, text and JSON), then
# refused ("invalid object type") unless qemu-img has the type: main-loop,
# thread-context, tls-cipher-suites and pr-manager-helper are made as it
# makes them (a thread's CPU affinity set, the helper's socket connected
# to: fake helpers here, and the real qemu-pr-helper when there is one).
# The type lists and per-type help; duplicate ids; qimg-nbd against
# qemu-nbd, which has iothread too and no main loop yet.
. "$(dirname "$0")/lib.sh"
have_qimg || skip_all "no qimg binary at $QIMG"

spawn "$QEMU_IMG" create -q -f raw i.raw 64k

# each_case FN: each line of stdin is a case, its definitions separated by
# " ;; "; FN LINE DEF... runs it.  "#" lines are comments, a "~" marks one
# more case of a path an earlier line takes (see alike).
each_case()
{
	local line a
	while IFS= read -r line; do
		case $line in '' | '#'*) continue ;; esac
		alike "$line" || continue
		a=()
		line=$item
		while [[ $item == *" ;; "* ]]; do
			a+=("${item%% ;; *}")
			item=${item#* ;; }
		done
		"$1" "$line" "${a[@]}" "$item"
	done
}
# objs: each case is `info` with its --object definitions against
# qemu-img's
info_case()
{
	local line=$1 a=() x
	shift
	for x in "$@"; do a+=(--object "$x"); done
	same "--object $line" info "${a[@]}" ../i.raw
}
objs()
{
	each_case info_case
}

# --- every ObjectType value, and names outside it ------------------------
# (qemu-img's QOM name authz-list-file is authz-listfile in the enum;
# sgx-epc is no enum value)
n=0
for t in authz-list authz-listfile authz-pam authz-simple can-bus \
	can-host-socketcan colo-compare cryptodev-backend \
	cryptodev-backend-builtin cryptodev-backend-lkcf cryptodev-vhost-user \
	dbus-vmstate filter-buffer filter-dump filter-mirror filter-redirector \
	filter-replay filter-rewriter input-barrier input-linux iothread \
	main-loop memory-backend-epc memory-backend-file memory-backend-memfd \
	memory-backend-ram pef-guest pr-manager-helper qtest rng-builtin \
	rng-egd rng-random secret secret_keyring sev-guest thread-context \
	s390-pv-guest throttle-group tls-creds-anon tls-creds-psk \
	tls-creds-x509 tls-cipher-suites x-remote-object x-vfio-user-server \
	sgx-epc bogus authz-list-file; do
	# the types other suites cover: one in three in quick mode
	case $t in
	authz-* | secret* | throttle-group | tls-creds-*)
		n=$((n + 1))
		quick_pick $((n - 1)) || continue
		;;
	esac
	same "$t,id=x" info --object "$t,id=x" ../i.raw
done

# --- each required member left out in turn --------------------------------
# TYPE then its required members (with a value each), in schema order;
# all given: "invalid object type" (pr-manager-helper: its connect)
while read -r t req; do
	[ -n "$t" ] || continue
	# (all given: "invalid object type", one path for most)
	case $t in
	pr-manager-helper | x-vfio-user-server | memory-backend-file) all=$t ;;
	*) all="~$t" ;;
	esac
	if alike "$all"; then
		same "$t: its required members" info \
			--object "$t,id=x,${req// /,}" ../i.raw
	fi
	for m in $req; do
		alike "~$m" || continue
		rest=" $req "
		read -ra parts <<<"${rest/ $m / }"
		rest="${parts[*]}"
		same "$t without ${m%%=*}" info \
			--object "$t,id=x${rest:+,${rest// /,}}" ../i.raw
	done
done <<'EOF'
can-host-socketcan if=a canbus=b
colo-compare primary_in=a secondary_in=b outdev=c iothread=d
cryptodev-vhost-user chardev=c
dbus-vmstate addr=a
filter-buffer netdev=n interval=1
filter-dump netdev=n file=f
filter-mirror netdev=n outdev=o
input-barrier name=n
input-linux evdev=e
memory-backend-file size=1M mem-path=p
memory-backend-ram size=1M
pr-manager-helper path=/nonexistent/s
qtest chardev=c
rng-egd chardev=c
sev-guest reduced-phys-bits=1
x-remote-object fd=1 devid=d
x-vfio-user-server socket.type=fd,socket.str=3 device=d
EOF

# --- typed values, unknown keys, key syntax, the order of errors ----------
objs <<'EOF'
# integers: int64, uint64 (a '-' wraps), uint32, uint16 (named 'null' in
# a list), sizes (with qemu-img's warning for a suffix on hex)
main-loop,id=m,aio-max-batch=abc
~main-loop,id=m,aio-max-batch=5 
~main-loop,id=m,aio-max-batch=
~main-loop,id=m,aio-max-batch=9223372036854775808
main-loop,id=m,aio-max-batch= +0x10,thread-pool-max=010
~cryptodev-backend,id=c,queues=-1
~cryptodev-backend,id=c,queues=4294967296
~cryptodev-backend,id=c,queues=4294967295
~cryptodev-backend,id=c,queues=18446744073709551616
colo-compare,id=c,primary_in=a,secondary_in=b,outdev=c,iothread=d,compare_timeout=-1
~memory-backend-ram,id=r,size=1M,host-nodes.0=65536
~memory-backend-ram,id=r,size=1M,host-nodes.0=x
~memory-backend-ram,id=r,size=1M,host-nodes.0=1,host-nodes.1=-1
memory-backend-ram,id=r,size=-1
~memory-backend-ram,id=r,size=1.5
~memory-backend-ram,id=r,size=16E
~memory-backend-ram,id=r,size=1.5k
memory-backend-ram,id=r,size=0x1k
memory-backend-ram,id=r,size=0x1k,merge=maybe
~memory-backend-file,id=r,size=1M,mem-path=p,align=x
x-vfio-user-server,id=v,device=d,socket.type=inet,socket.host=h,socket.port=1,socket.to=65536
# booleans and enums
~rng-builtin,id=r,opened=y
~rng-builtin,id=r,opened=ON
~input-linux,id=i,evdev=e,grab_all=1
input-linux,id=i,evdev=e,grab-toggle=ctrl
~filter-buffer,id=f,netdev=n,interval=1,queue=both
~memory-backend-ram,id=r,size=1M,policy=bind
~x-vfio-user-server,id=v,device=d,socket.type=tcp
# lists, structs, and a scalar given as a dict
memory-backend-ram,id=r,size=1M,host-nodes=0
~memory-backend-ram,id=r,size=1M,host-nodes.a=0
x-vfio-user-server,id=v,device=d,socket=unix
~x-vfio-user-server,id=v,device=d,socket.0=unix
x-vfio-user-server,id=v,device=d,socket.type=inet
~x-vfio-user-server,id=v,device=d,socket.path=p
main-loop,id=m,aio-max-batch.x=1
~main-loop,id=m,aio-max-batch.0=1
main-loop,id.a=1
~qom-type.a=1,id=x
# key syntax, before everything else
main-loop,id=m,a b=1
~bogus,id=m,a%b=1
~main-loop,id=m,9a=1
~main-loop,id=m,a..b=1
main-loop,,id=m
~,main-loop
main-loop,id=m,foo
~help,main-loop
~main-loop,id=m,a=1,a.b=2
thread-context,id=t,cpu-affinity.1=0
~thread-context,id=t,cpu-affinity.0=0,cpu-affinity.2=1
~thread-context,id=t,cpu-affinity.0=1,cpu-affinity.x=2
thread-context,id=t,cpu-affinity.0=5,cpu-affinity.00=0
main-loop,id=m,aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa=1
~main-loop,id=m,aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.b=1
~main-loop,id=m,
~main-loop,id=m,id=n
# unknown keys: the one qemu-img names (its hash table's first)
main-loop,id=m,zzz=1,aaa=2
~main-loop,id=m,aaa=1,zzz=2
main-loop,id=m,cpu-affinity.0=1
x-vfio-user-server,id=v,device=d,socket.type=fd,socket.str=3,socket.x=1,socket.a=2
~x-vfio-user-server,id=v,socket.type=fd,socket.str=3,socket.x=1
~tls-cipher-suites,id=t,priority=NORMAL,sanity-check=on
~main-loop,id=m,help=on
# the order: key syntax, qom-type, id, members in schema order (missing
# or badly typed), unknown keys, the id's form, the type
main-loop,aio-max-batch=x,foo=1
memory-backend-ram,foo=1
~memory-backend-ram,id=1r,foo=1
memory-backend-ram,id=1r,size=x,foo=1
~memory-backend-ram,id=1r,size=1,foo=1
memory-backend-ram,id=1r,size=1
memory-backend-file,id=r,align=x
memory-backend-file,id=r,size=1,dump=x,merge=x,align=x
~sev-guest,id=s,policy=x
main-loop,qom-type=bogus,id=m
~bogus,qom-type=main-loop,id=m
~id=m,qom-type=main-loop
id=m
iothread,id=1x
EOF

# unknown keys in number: qemu-img's hash table grows and shrinks
keys=
for i in $(seq 60); do keys="$keys,k$((i * 7919 % 1000))x$i=1"; done
same "main-loop: 60 unknown keys" info \
	--object "main-loop,id=m,thread-pool-max=9$keys,aio-max-batch=1" ../i.raw
whole && same "memory-backend-file: 200 unknown keys" info \
	--object "memory-backend-file,id=r,size=1,mem-path=p${keys//x/y}${keys//x/z}${keys//x/w}" ../i.raw

# --- the JSON form ----------------------------------------------------------
objs <<'EOF'
{"qom-type":"main-loop","id":"m"}
{"qom-type":"main-loop"}
~{"qom-type":"main-loop","id":5}
~{"qom-type":"main-loop","id":null}
{"qom-type":"main-loop","id":"1m"}
{"qom-type":"main-loop","id":"m","aio-max-batch":"5"}
~{"qom-type":"main-loop","id":"m","aio-max-batch":true}
~{"qom-type":"main-loop","id":"m","aio-max-batch":1.5}
~{"qom-type":"main-loop","id":"m","aio-max-batch":9223372036854775808}
{"qom-type":"main-loop","id":"m","aio-max-batch":-1}
{"qom-type":"main-loop","id":"m","foo":1}
{"qom-type":"main-loop","id":"m","zz":1,"aa":2}
~{"qom-type":"main-loop","id":"m","help":true}
~{"qom-type":"bogus","id":"m"}
{"qom-type":"iothread","id":"m"}
{"qom-type":"memory-backend-ram","id":"m"}
{"qom-type":"memory-backend-ram","id":"m","size":"1M"}
~{"qom-type":"memory-backend-ram","id":"m","size":true}
{"qom-type":"memory-backend-ram","id":"m","size":-1}
~{"qom-type":"memory-backend-ram","id":"m","size":1,"merge":"on"}
~{"qom-type":"memory-backend-ram","id":"m","size":1,"policy":5}
~{"qom-type":"memory-backend-ram","id":"m","size":1,"policy":"foo"}
~{"qom-type":"memory-backend-ram","id":"m","size":1,"host-nodes":5}
{"qom-type":"memory-backend-ram","id":"m","size":1,"host-nodes":[1,"x"]}
{"qom-type":"memory-backend-ram","id":"m","size":1,"host-nodes":[70000]}
{"qom-type":"sev-guest","id":"s","reduced-phys-bits":-1}
~{"qom-type":"sev-guest","id":"s","reduced-phys-bits":"1"}
{"qom-type":"x-vfio-user-server","id":"v","socket":"x","device":"d"}
{"qom-type":"x-vfio-user-server","id":"v","socket":{},"device":"d"}
~{"qom-type":"x-vfio-user-server","id":"v","socket":{"type":5},"device":"d"}
{"qom-type":"x-vfio-user-server","id":"v","socket":{"type":"fd","str":"3","x":1},"device":"d"}
~{"qom-type":"thread-context","id":"t","cpu-affinity":[]}
~{"qom-type":"thread-context","id":"t","node-affinity":[]}
{"qom-type":"thread-context","id":"t","cpu-affinity":[0],"node-affinity":[]}
~{"qom-type":"tls-cipher-suites","id":"t","priority":5}
~{"qom-type":"pr-manager-helper","id":"p","path":["x"]}
{"qom-type":"main-loop","id":"m","aio-max-batch":1,"aio-max-batch":2}
{"qom-type":"authz-list-file","id":"a"}
EOF

# --- the types qemu-img has -------------------------------------------------
objs <<'EOF'
main-loop,id=m,aio-max-batch=4,thread-pool-min=1,thread-pool-max=8
main-loop,id=m,aio-max-batch=-1
~main-loop,id=m,thread-pool-min=-1
main-loop,id=m,thread-pool-min=65
~main-loop,id=m,thread-pool-min=64
main-loop,id=m,thread-pool-max=0
~main-loop,id=m,thread-pool-max=2147483647
~main-loop,id=m,thread-pool-max=2147483648
~main-loop,id=m,thread-pool-min=100,thread-pool-max=200
main-loop,id=m,thread-pool-max=200,thread-pool-min=100
~main-loop,id=m,thread-pool-min=5,thread-pool-max=2
main-loop,id=m,thread-pool-min=-1,thread-pool-max=0
main-loop,id=m,thread-pool-min=-1,aio-max-batch=-1
main-loop,id=m ;; main-loop,id=n
main-loop,id=m ;; main-loop,id=n,thread-pool-min=100
thread-context,id=t
thread-context,id=t,cpu-affinity.0=0
thread-context,id=t,cpu-affinity.0=0,cpu-affinity.1=65535
thread-context,id=t,cpu-affinity.0=65535
~thread-context,id=t,cpu-affinity.0=1023
thread-context,id=t,node-affinity.0=0
thread-context,id=t,node-affinity.0=65535
~thread-context,id=t,node-affinity.0=0,node-affinity.1=9
thread-context,id=t,node-affinity.0=0,cpu-affinity.0=0
~thread-context,id=t,cpu-affinity.0=65535,node-affinity.0=65535
tls-cipher-suites,id=t,priority=NORMAL
tls-cipher-suites,id=t,priority=NONSENSE:+FOO
~tls-cipher-suites,id=t,priority=
~tls-cipher-suites,id=t,dir=/nonexistent,endpoint=server,verify-peer=off
~tls-cipher-suites,id=t,priority=NORMAL,endpoint=both
~tls-cipher-suites,id=t,priority=NORMAL ;; tls-cipher-suites,id=u,priority=NORMAL
pr-manager-helper,id=p,path=/nonexistent/s
~pr-manager-helper,id=p,path=../i.raw
~pr-manager-helper,id=p,path=
pr-manager-helper,id=p,path=/tmp/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
pr-manager-helper,id=p,path=/tmp/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
# duplicate ids: found when the object is added, after its properties are
# set and before it is complete
secret,id=x,data=a ;; main-loop,id=x
main-loop,id=x ;; main-loop,id=x
~main-loop,id=x ;; secret,id=x,data=a
~secret,id=x,data=a ;; main-loop,id=x,thread-pool-min=100
~secret,id=x,data=a ;; thread-context,id=x,cpu-affinity.0=65535
~secret,id=x,data=a ;; thread-context,id=x,node-affinity.0=65535
~secret,id=x,data=a ;; tls-cipher-suites,id=x
~secret,id=x,data=a ;; pr-manager-helper,id=x,path=/nonexistent/s
~thread-context,id=x ;; authz-simple,id=x,identity=a
tls-cipher-suites,id=x,priority=NORMAL ;; tls-creds-anon,id=x
secret,id=x,data=a ;; tls-creds-x509,id=x,dir=/nonexistent
~secret,id=x,data=a ;; tls-creds-x509,id=x
~secret,id=x,data=a ;; tls-creds-psk,id=x,dir=/tmp,endpoint=server,username=u
{"qom-type":"thread-context","id":"x"} ;; {"qom-type":"secret","id":"x","data":"a"}
EOF

# secrets and TLS credentials: the members in schema order (the deprecated
# "loaded" first of a type's own), the unknown ones, the id's form, then
# "loaded", which QEMU 7.2 cannot set; JSON numbers no integer holds
objs <<'EOF'
secret,id=s,data=x,loaded=on
~secret,id=s,data=x,loaded=n
~secret,id=s,loaded=on,data=x,file=y
~secret_keyring,id=s,serial=1,loaded=on
secret,id=s,data=x,loaded=x
~secret,id=s,format=bad,loaded=x
secret,id=s,format=bad,bogus=1
~secret,id=1s,format=bad
secret,id=1s,bogus=1
secret_keyring,id=s,serial=x,bogus=1
~secret_keyring,id=s,bogus=1
~secret_keyring,id=1s,serial=x
tls-creds-anon,id=t,loaded=on
~tls-creds-psk,id=t,loaded=on,dir=/tmp
~tls-creds-x509,id=t,loaded=off,dir=/tmp
tls-creds-anon,id=t,loaded=x
~tls-creds-x509,id=t,loaded=x,sanity-check=x
~tls-creds-x509,id=t,endpoint=bad,loaded=x
tls-creds-x509,id=t,loaded=on,bogus=1
tls-creds-anon,id=t,verify-peer=n
~tls-creds-anon,id=t,verify-peer=y
{"qom-type":"tls-creds-anon","id":"t","loaded":true}
~{"qom-type":"secret","id":"s","data":"x","loaded":false}
{"qom-type":"secret","id":"s","data":1.5}
~{"qom-type":"secret","id":1.5}
~{"qom-type":1e3,"id":"s"}
{"qom-type":"throttle-group","id":"t","x-iops-total":123456789012345678901234}
~{"qom-type":"throttle-group","id":"t","x-iops-total":1.0}
{"qom-type":"memory-backend-ram","id":"m","size":1.5}
{"qom-type":"secret","id":"s","data":"x"} ;; {"qom-type":"secret","id":"t","data":"x","loaded":1.5}
EOF

# pr-manager-helper and a socket that is not qemu-pr-helper: one that
# closes at once, one that sends a short greeting and closes, one that
# greets as the helper does (4 bytes; it reads the client's 4), one that
# never says anything
cat >prsrv.py <<'EOF'
import os, socket, sys
path, mode = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX)
s.bind(path)
s.listen(4)
held = []
while True:
    c, _ = s.accept()
    if mode == "silent":
        held.append(c)
        continue
    if mode == "short":
        c.sendall(b"\0\0")
    elif mode == "greet":
        c.sendall(b"\1\0\0\0")
        c.recv(4)
    c.close()
EOF
for mode in close short greet silent; do
	(exec "$PY" prsrv.py "$T/pr-$mode" "$mode") &
	pids="$pids $!"
done
at_exit stop_servers
for mode in close short greet; do
	if wait_sock "$T/pr-$mode"; then
		same "pr-manager-helper, a socket that ${mode}s" info \
			--object "pr-manager-helper,id=p,path=$T/pr-$mode" ../i.raw
	else
		fail "pr-manager-helper, a socket that ${mode}s: no server"
	fi
done
# (qemu-img waits for ever; qimg gives up after 5 s: DIFFERENCES.md)
if wait_sock "$T/pr-silent"; then
	refused_clearly "pr-manager-helper, a socket that never greets" \
		"^qimg: No greeting from '.*/pr-silent' in 5 seconds" \
		info --object "pr-manager-helper,id=p,path=$T/pr-silent" i.raw
else
	fail "pr-manager-helper, a silent socket: no server"
fi
# the real helper (it needs the privileges to open devices: root)
if command -v qemu-pr-helper >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
	qemu-pr-helper -k "$T/prh.sock" >"$T/prh.log" 2>&1 &
	pids="$pids $!"
	if wait_sock "$T/prh.sock" "$!"; then
		same "pr-manager-helper, qemu-pr-helper" info \
			--object "pr-manager-helper,id=p,path=$T/prh.sock" ../i.raw
		same "pr-manager-helper, qemu-pr-helper, JSON" info --object \
			"{\"qom-type\":\"pr-manager-helper\",\"id\":\"p\",\"path\":\"$T/prh.sock\"}" \
			../i.raw
	else
		skip "qemu-pr-helper did not start: $(head -1 "$T/prh.log")"
	fi
else
	skip "no qemu-pr-helper, or not root"
fi

# --- help -------------------------------------------------------------------
# the list, and the options of each type qemu-img lists that no other
# suite shows; then ways of asking ("~": one in three in quick mode)
for h in help main-loop,help thread-context,help tls-cipher-suites,help \
	pr-manager-helper,help authz-list-file,help authz-listfile,help \
	iothread,help bogus,id=x,help main-loop,id=x,aio-max-batch=x,help \
	"~?" ~memory-backend-ram,help ~qom-type=thread-context,help \
	~main-loop,? ~main-loop,help=on ~main-loop,,help ~secret_keyring,help \
	~tls-creds-psk,help ~authz-list,help ~throttle-group,help; do
	alike "$h" || continue
	same "--object $item" info --object "$item" ../i.raw
done

# --- qimg-nbd against qemu-nbd ----------------------------------------------
QIMG_NBD=${QIMG_NBD:-$(dirname "$QIMG")/qimg-nbd}
QEMU_NBD=${QEMU_NBD:-qemu-nbd}
if ! command -v "$QEMU_NBD" >/dev/null 2>&1 || [ ! -x "$QIMG_NBD" ]; then
	skip "qemu-nbd or $QIMG_NBD missing"
	done_testing
fi
# qimg-nbd under qemu-nbd's name, so messages compare as they are
spawn mkdir -p "$T/bin"
spawn ln -s "$QIMG_NBD" "$T/bin/qemu-nbd"
# nbdcmp DESC DEF...: both servers with these --object definitions and an
# image that is not there (an accepted object ends in that error), the
# same stdout, stderr and exit status.
nbdcmp()
{
	local d=$1 a=() x
	shift
	for x in "$@"; do a+=(--object "$x"); done
	spawn -C "$E" timeout 30 "$QEMU_NBD" "${a[@]}" -k "$E/sock" none.raw \
		>"$R/e.out" 2>"$R/e.err" </dev/null
	echo $? >"$R/e.rc"
	spawn -C "$G" timeout 30 "$T/bin/qemu-nbd" "${a[@]}" -k "$G/sock" \
		none.raw >"$R/g.out" 2>"$R/g.err" </dev/null
	echo $? >"$R/g.rc"
	norm_files "$R/e"
	norm_files "$R/g"
	JUDGE_E=qemu-nbd JUDGE_G=qimg-nbd judge "$d" "${a[@]}"
}
nbd_case()
{
	local line=$1
	shift
	nbdcmp "qemu-nbd --object $line" "$@"
}
each_case nbd_case <<'EOF'
help
iothread,help
main-loop,help
~thread-context,help
iothread,id=i
iothread,id=i,aio-max-batch=4,poll-max-ns=100,poll-grow=2,poll-shrink=2,thread-pool-min=1,thread-pool-max=8
iothread,id=i,poll-max-ns=-1
~iothread,id=i,poll-grow=-1
~iothread,id=i,poll-shrink=x
iothread,id=i,thread-pool-min=100
~iothread,id=i,thread-pool-min=100,thread-pool-max=200
iothread,id=i,thread-pool-max=0
~iothread,id=i,thread-pool-max=2147483648
~iothread,id=i,thread-pool-min=-1,thread-pool-max=0
~iothread,id=i,foo=1
~iothread,id=1i
~iothread,id=i ;; iothread,id=j
iothread,id=i ;; iothread,id=i
secret,id=i,data=x ;; iothread,id=i,thread-pool-min=100
{"qom-type":"iothread","id":"i","poll-max-ns":"5"}
~{"qom-type":"iothread","id":"i","poll-max-ns":5}
main-loop,id=m
main-loop,id=m,aio-max-batch=5
~main-loop,id=m,aio-max-batch=-1
~main-loop,id=m,thread-pool-max=0
secret,id=m,data=x ;; main-loop,id=m
secret,id=m,data=x ;; main-loop,id=m,thread-pool-max=10
~{"qom-type":"main-loop","id":"m","aio-max-batch":"1"}
~thread-context,id=t,cpu-affinity.0=0
thread-context,id=t,cpu-affinity.0=65535
tls-cipher-suites,id=t
~tls-cipher-suites,id=t,priority=NORMAL
pr-manager-helper,id=p,path=/nonexistent/s
~memory-backend-ram,id=r
~memory-backend-ram,id=r,size=1
~bogus,id=x
~authz-list-file,id=x
secret,id=x,data=a ;; tls-creds-anon,id=x
~tls-creds-anon,id=x ;; secret,id=x,data=a
secret,id=x,data=a ;; tls-creds-x509,id=x,dir=/nonexistent
~secret,id=x,data=a ;; tls-creds-x509,id=x
tls-creds-anon,id=t,loaded=on
{"qom-type":"tls-creds-anon","id":"x"} ;; {"qom-type":"tls-creds-psk","id":"x","dir":"/tmp"}
EOF

done_testing
