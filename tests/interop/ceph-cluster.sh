#!/bin/bash
# SPDX-License-Identifier: MIT
# A throw-away one-node Ceph cluster for the rbd tests: one monitor and one
# OSD (memstore: the objects live in the OSD's memory), no manager, cephx
# on, a pool "rbd" with one replica.  Everything (config, keyring, data,
# logs, sockets) lives under DIR; nothing is installed as a service.
#
#   ceph-cluster.sh start DIR   -> DIR/ceph.conf, DIR/keyring; prints the
#                                  monitor's address (127.0.0.1:PORT)
#   ceph-cluster.sh stop DIR    -> both daemons killed, DIR kept
#
# The client key is client.admin's, in DIR/keyring (ceph.conf names it);
# DIR/admin.key holds it alone (base64), for a key-secret.  Starting takes
# some 5 s.  Exit 77 when the Ceph daemons are not installed.
set -u

cmd=${1:-}
D=${2:-}
[ -n "$cmd" ] && [ -n "$D" ] || {
	echo "usage: $0 start|stop DIR" >&2
	exit 2
}

stop()
{
	local f
	for f in "$D"/run/*.pid; do
		[ -f "$f" ] || continue
		kill "$(cat "$f")" 2>/dev/null
	done
	# the daemons write their pid files late; wait for them to go
	for _ in $(seq 50); do
		pgrep -f -- "-c $D/ceph.conf" >/dev/null || return 0
		pkill -f -- "-c $D/ceph.conf" 2>/dev/null
		sleep 0.1
	done
	pkill -9 -f -- "-c $D/ceph.conf" 2>/dev/null
	return 0
}

case $cmd in
stop)
	stop
	exit 0
	;;
start) ;;
*)
	echo "usage: $0 start|stop DIR" >&2
	exit 2
	;;
esac

for b in ceph-mon ceph-osd ceph ceph-authtool monmaptool; do
	command -v "$b" >/dev/null || {
		echo "ceph-cluster: $b is not installed" >&2
		exit 77
	}
done

# a free port for the monitor (msgr v1 and v2 on one address: v1 only)
port=$(python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])')
mkdir -p "$D" || exit 1
rm -rf "${D:?}"/run "$D"/log "$D"/mon "$D"/osd "$D"/keyring "$D"/monmap
mkdir -p "$D/run" "$D/log" "$D/mon/mon.a" "$D/osd/osd.0" || exit 1
fsid=$(cat /proc/sys/kernel/random/uuid)
cat >"$D/ceph.conf" <<EOF
[global]
fsid = $fsid
mon host = v1:127.0.0.1:$port
auth cluster required = cephx
auth service required = cephx
auth client required = cephx
osd pool default size = 1
osd pool default min size = 1
mon allow pool size one = true
mon allow pool delete = true
mon warn on pool no redundancy = false
osd crush chooseleaf type = 0
run dir = $D/run
pid file = $D/run/\$name.pid
log file = $D/log/\$name.log
admin socket = $D/run/\$name.asok
mon data = $D/mon/\$name
osd data = $D/osd/\$name
osd objectstore = memstore
memstore device bytes = 2147483648
osd op num shards = 1
osd op num threads per shard = 1
keyring = $D/keyring
ms bind ipv6 = false
mon data avail warn = 1
mon data avail crit = 0
client mount timeout = 10
EOF
C="-c $D/ceph.conf"
fail()
{
	echo "ceph-cluster: $*" >&2
	tail -n 5 "$D"/log/*.log >&2 2>/dev/null
	stop
	exit 1
}
# shellcheck disable=SC2086
{
	ceph-authtool --create-keyring "$D/keyring" --gen-key -n mon. \
		--cap mon 'allow *' >/dev/null &&
		ceph-authtool "$D/keyring" --gen-key -n osd.0 \
			--cap mon 'allow profile osd' --cap osd 'allow *' \
			--cap mgr 'allow profile osd' >/dev/null &&
		ceph-authtool "$D/keyring" --gen-key -n client.admin \
			--cap mon 'allow *' --cap osd 'allow *' \
			--cap mgr 'allow *' >/dev/null
} || fail "cannot make the keyring"
monmaptool --create --add a "v1:127.0.0.1:$port" --fsid "$fsid" \
	"$D/monmap" >/dev/null || fail "cannot make the monitor map"
# shellcheck disable=SC2086
ceph-mon $C --mkfs -i a --monmap "$D/monmap" --keyring "$D/keyring" \
	>"$D/log/mkfs.log" 2>&1 || fail "ceph-mon --mkfs failed"
# shellcheck disable=SC2086
ceph-mon $C -i a || fail "ceph-mon did not start"
# One ceph (a python program: 0.3 s of processor time a start) runs the
# four commands, read from its input: the OSD's id, its place in the CRUSH
# map (neither needs the OSD running), the pool and its application.
# shellcheck disable=SC2086
out=$(printf '%s\n' 'osd create' \
	'osd crush add osd.0 1.0 host=localhost root=default' \
	'osd pool create rbd 8' 'osd pool application enable rbd rbd' |
	timeout 60 ceph $C 2>&1)
case $out in
*"add item id 0 name 'osd.0'"*"pool 'rbd' created"*"enabled application 'rbd' on pool 'rbd'"*) ;;
*) fail "no monitor answers, or cannot place the OSD or make the pool: $out" ;;
esac
# shellcheck disable=SC2086
timeout 30 ceph-osd $C -i 0 --mkfs >>"$D/log/mkfs.log" 2>&1 ||
	fail "ceph-osd --mkfs failed"
# shellcheck disable=SC2086
ceph-osd $C -i 0 >>"$D/log/mkfs.log" 2>&1 || fail "ceph-osd did not start"
# the pool is usable once its placement groups are active: an object
# written and read proves it
for _ in $(seq 100); do
	# shellcheck disable=SC2086
	if echo ok | timeout 10 rados $C -p rbd put probe - 2>/dev/null &&
		timeout 10 rados $C -p rbd rm probe 2>/dev/null; then
		ceph-authtool "$D/keyring" -n client.admin -p >"$D/admin.key"
		echo "127.0.0.1:$port"
		exit 0
	fi
	sleep 0.2
done
fail "the pool never became active"
