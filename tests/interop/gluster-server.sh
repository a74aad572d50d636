#!/bin/bash
# SPDX-License-Identifier: MIT
# A throw-away GlusterFS volume for the gluster tests: one brick under DIR,
# served by this host's glusterd (started here when none runs, and then
# stopped by `stop`).
#
#   gluster-server.sh start DIR   -> prints the volume's host (this host's
#                                    first address: glusterd refuses
#                                    127.0.0.1 as a brick host); the
#                                    volume's name is in DIR/volume
#   gluster-server.sh stop DIR    -> the volume stopped and deleted, the
#                                    glusterd started by `start` killed
#
# Not isolated from /var/lib/glusterd: glusterd's working directory can be
# moved (its volfile's working-directory), but the brick processes it
# spawns fetch their volfile from port 24007 whatever glusterd listens on,
# so a second glusterd beside the system's cannot start a volume.  The
# volume gets a name of its own, so an existing glusterd's volumes are left
# alone.  Exit 77 when glusterd is not installed.
set -u

cmd=${1:-}
D=${2:-}
[ -n "$cmd" ] && [ -n "$D" ] || {
	echo "usage: $0 start|stop DIR" >&2
	exit 2
}

cli()
{
	timeout 60 gluster --mode=script "$@"
}

# Suites of several builds may share the host's glusterd (make
# check-full): starting and stopping it are serialised, and it is stopped
# only when no volume is left.
lock()
{
	exec 9>/tmp/qimg-gluster-server.lock && flock 9
}

# A live glusterd (a zombie left by a container's init is not one).
glusterd_running()
{
	ps -C glusterd -o stat= 2>/dev/null | grep -qv '^Z'
}

stop()
{
	local vol
	lock
	if [ -f "$D/volume" ]; then
		vol=$(cat "$D/volume")
		cli volume stop "$vol" force >/dev/null 2>&1
		cli volume delete "$vol" >/dev/null 2>&1
		rm -f "$D/volume"
	fi
	if [ -f "$D/started" ] && [ -f "$D/glusterd.pid" ] &&
		cli volume list 2>&1 | grep -q "No volumes present"; then
		kill "$(cat "$D/glusterd.pid")" 2>/dev/null
		# gone (or a zombie nobody reaps) before the next start looks
		for _ in $(seq 100); do
			glusterd_running || break
			sleep 0.1
		done
	fi
	rm -f "$D/started"
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

for b in glusterd gluster; do
	command -v "$b" >/dev/null || {
		echo "gluster-server: $b is not installed" >&2
		exit 77
	}
done
[ "$(id -u)" = 0 ] || {
	echo "gluster-server: glusterd needs root" >&2
	exit 77
}

host=$(hostname -I 2>/dev/null | awk '{print $1}')
[ -n "$host" ] || {
	echo "gluster-server: this host has no address" >&2
	exit 1
}
mkdir -p "$D" || exit 1
D=$(cd "$D" && pwd)
lock
if ! glusterd_running; then
	# not with the lock's descriptor: the daemon would hold the lock
	# for its whole life, and `stop` would wait for it for ever
	glusterd -p "$D/glusterd.pid" -l "$D/glusterd.log" 9>&- || exit 1
	touch "$D/started"
fi
for _ in $(seq 100); do
	cli volume list >/dev/null 2>&1 && break
	sleep 0.1
done
vol=qimg-$(printf %s "$D" | md5sum | cut -c1-8)
rm -rf "$D/brick"
mkdir -p "$D/brick"
cli volume stop "$vol" force >/dev/null 2>&1
cli volume delete "$vol" >/dev/null 2>&1
if ! cli volume create "$vol" "$host:$D/brick" force >"$D/create.log" 2>&1 ||
	! cli volume start "$vol" >>"$D/create.log" 2>&1; then
	echo "gluster-server: cannot start the volume:" >&2
	cat "$D/create.log" >&2
	echo "$vol" >"$D/volume"
	stop
	exit 1
fi
echo "$vol" >"$D/volume"
echo "$host"
