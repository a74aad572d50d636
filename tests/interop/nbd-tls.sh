#!/bin/bash
# SPDX-License-Identifier: MIT
# The NBD client over TLS against qemu-nbd: --object tls-creds-x509 and
# tls-creds-psk definitions (checked when given, in qemu-img's words),
# tls-creds= on the nbd driver over a Unix socket and TCP: info, map,
# compare and convert through both tools, the same refusals (no such
# credentials, a server endpoint, a secret, no hostname, a plain client);
# and what libnbd cannot check refused, never taken unchecked: a
# certificate from another CA, a host name the certificate does not
# carry, tls-hostname over a Unix socket.
. "$(dirname "$0")/lib.sh"

QEMU_NBD=${QEMU_NBD:-qemu-nbd}
need_oracle "$QEMU_NBD"
need_oracle certtool
have_qimg || skip_all "no qimg binary at $QIMG"
at_exit stop_servers


# Certificates: a CA, a server certificate for localhost, a client's; and
# another CA that signed nothing here.
spawn mkdir -p tls/o psk/s psk/c
make_tls_certs tls
(
	cd tls/o &&
	certtool --generate-privkey >ca-key.pem &&
	certtool --generate-self-signed --load-privkey ca-key.pem \
		--template ../ca.info --outfile ca-cert.pem
) >/dev/null 2>&1
ok "certtool made the certificates" test -s tls/c/client-cert.pem -a -s tls/o/ca-cert.pem
key=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
printf 'alice:%s\n' "$key" >psk/s/keys.psk
spawn cp psk/s/keys.psk psk/c/

spawn "$QEMU_IMG" create -q -f qcow2 img.qcow2 8M
spawn "$QEMU_IO" -c 'write -P 5 1M 2M' -c 'write -z 5M 1M' img.qcow2 >/dev/null
X=$T/tls/s
SX=$T/x.sock
"$QEMU_NBD" -t -r -e 8 -k "$SX" -f qcow2 \
	--object "tls-creds-x509,id=t0,dir=$X,endpoint=server,verify-peer=off" \
	--tls-creds t0 img.qcow2 2>/dev/null &
pids="$pids $!"
PX=$(free_port)
"$QEMU_NBD" -t -r -e 8 -p "$PX" -b 127.0.0.1 -f qcow2 \
	--object "tls-creds-x509,id=t0,dir=$X,endpoint=server" \
	--tls-creds t0 img.qcow2 2>/dev/null &
pids="$pids $!"
SP=$T/p.sock
"$QEMU_NBD" -t -r -e 8 -k "$SP" -f qcow2 \
	--object "tls-creds-psk,id=t0,dir=$T/psk/s,endpoint=server" \
	--tls-creds t0 img.qcow2 2>/dev/null &
pids="$pids $!"
SN=$T/n.sock
"$QEMU_NBD" -t -r -e 8 -k "$SN" -f qcow2 img.qcow2 &
pids="$pids $!"
wait_sock "$SX" && wait_sock "$SP" && wait_sock "$SN"
for i in $(seq 50); do
	(exec 3<>"/dev/tcp/127.0.0.1/$PX") 2>/dev/null && break
	sleep 0.1
done

CX="tls-creds-x509,id=c,dir=$T/tls/c,endpoint=client"
CP="tls-creds-psk,id=c,dir=$T/psk/c,username=alice"
TCP="driver=nbd,server.type=inet,server.host=localhost,server.port=$PX,tls-creds=c"
PSK="driver=nbd,server.type=unix,server.path=$SP,tls-creds=c"

# Definitions, checked as they are given.
for o in "tls-creds-x509,id=t,dir=$T/nowhere,endpoint=client" \
	"tls-creds-x509,id=t,endpoint=client" "tls-creds-x509,id=t,foo" \
	"tls-creds-x509,id=t,dir=$T/tls/c,foo=1" "tls-creds-x509,foo=1" \
	"tls-creds-x509,id=t,dir=$T/tls/c,endpoint=both" \
	"tls-creds-x509,id=t,dir=$T/tls/c,username=a" \
	"tls-creds-x509,id=t,dir=$T/tls/c,verify-peer=maybe" \
	"tls-creds-x509,id=t,dir=$T/tls/c,endpoint=server" \
	"tls-creds-psk,id=t,dir=$T/psk/c" \
	"tls-creds-psk,id=t,dir=$T/psk/s,endpoint=server,username=alice" \
	"tls-creds-psk,id=t,dir=$T/psk/c,sanity-check=on" \
	"tls-creds-x509,id=1t,dir=$T/tls/c" "tls-creds-x509,id=1t" \
	"tls-creds-x509,id=1t,dir=$T/tls/c,foo=1" "tls-creds-psk,id=1t,dir=$T/none" \
	"tls-creds-x509,help" "tls-creds-psk,id=p,help"; do
	same "--object $o" info --object "$o" ../img.qcow2
done
# The sanity check of x509 credentials (sanity-check=on, the default):
# certificates unfit for their endpoint refused when defined, in qemu-img's
# words; sanity-check=off takes them.
make_unfit_certs unfit "$T/tls" "$T/tls/o"
for u in otherca isca nosign expired future junkca junkcert notca \
	cotherca,client cexpired,client otherca,server,sanity-check=off; do
	dir=${u%%,*} rest=${u#"$dir"}
	case $rest in
	,client*) o="tls-creds-x509,id=t,dir=$T/unfit/$dir,endpoint=client${rest#,client}" ;;
	*) o="tls-creds-x509,id=t,dir=$T/unfit/$dir,endpoint=server${rest#,server}" ;;
	esac
	same "x509 sanity check: $u" info --object "$o" ../img.qcow2
done
ok "x509 sanity check: the client's fit credentials pass" \
	"$QIMG" info --object "$CX" img.qcow2
same "two objects with one id" info --object "$CX" --object "$CP" ../img.qcow2
same "a secret and credentials with one id" info \
	--object secret,id=c,data=x --object "$CP" ../img.qcow2

# Through TLS: the same answers as qemu-img.
same "x509 over TCP: info" info --object "$CX" --image-opts "$TCP"
same "x509 over TCP: map" map --output=json --object "$CX" --image-opts "$TCP"
same "x509 over TCP: compare with the image" compare --object "$CX" \
	--image-opts "driver=raw,file.driver=nbd,file.server.type=inet,file.server.host=localhost,file.server.port=$PX,file.tls-creds=c" \
	"driver=qcow2,file.filename=../img.qcow2"
same "PSK over a socket: info" info --object "$CP" --image-opts "$PSK"
same "PSK over a socket: map" map --output=json --object "$CP" --image-opts "$PSK"
spawn rm -f "$E/o.qcow2" "$G/o.qcow2"
same "PSK over a socket: convert to qcow2" convert -O qcow2 --object "$CP" \
	--image-opts "driver=raw,file.driver=nbd,file.server.type=unix,file.server.path=$SP,file.tls-creds=c" \
	o.qcow2
ok "PSK copy: qemu-img compare" "$QEMU_IMG" compare -q "$G/o.qcow2" img.qcow2
ok "x509 with verify-peer=off over a socket" "$QIMG" compare -q \
	--object "tls-creds-x509,id=c,dir=$T/tls/c,verify-peer=off" \
	--image-opts "driver=raw,file.driver=nbd,file.server.type=unix,file.server.path=$SX,file.tls-creds=c" \
	"driver=qcow2,file.filename=$T/img.qcow2"

# Refused as qemu-img refuses.
same "no such credentials" info --image-opts "driver=nbd,server.type=unix,server.path=$SP,tls-creds=zz"
same "server credentials" info --object "tls-creds-x509,id=c,dir=$X,endpoint=server" \
	--image-opts "driver=nbd,server.type=unix,server.path=$SX,tls-creds=c"
same "a secret is not credentials" info --object secret,id=c,data=x \
	--image-opts "$PSK"
same "an authz object is not credentials" info \
	--object authz-simple,id=c,identity=x --image-opts "$PSK"
P0=$(free_port)
same "x509 over TCP: nothing listening" info --object "$CX" --image-opts \
	"driver=nbd,server.type=inet,server.host=localhost,server.port=$P0,tls-creds=c"
same "x509 over TCP: a host that does not resolve" info --object "$CX" \
	--image-opts "driver=nbd,server.type=inet,server.host=nosuch.invalid,server.port=$PX,tls-creds=c"
same "x509 over TCP: no such export" info --object "$CX" \
	--image-opts "$TCP,export=zz"
same "x509 over a socket without tls-hostname" info --object "$CX" \
	--image-opts "driver=nbd,server.type=unix,server.path=$SX,tls-creds=c"

# Refused where libnbd cannot check the certificate (qemu-img would).
refused()
{
	local d=$1 want=$2
	shift 2
	run_tool g "$@"
	if [ "$(cat "$R/g.rc")" = 1 ] && grep -q "$want" "$R/g.err" &&
		[ ! -s "$R/g.out" ]; then
		pass "$d"
	else
		fail "$d"
		diag "exit $(cat "$R/g.rc"): $(head -n 2 "$R/g.err")"
	fi
}
refused "a certificate from another CA" "certificate verification" info \
	--object "tls-creds-x509,id=c,dir=$T/tls/o" --image-opts "$TCP"
refused "a host the certificate does not name" "certificate verification" \
	info --object "$CX" --image-opts \
	"driver=nbd,server.type=inet,server.host=127.0.0.1,server.port=$PX,tls-creds=c"
refused "tls-hostname over a Unix socket" "over a Unix socket" info \
	--object "$CX" --image-opts \
	"driver=nbd,server.type=unix,server.path=$SX,tls-creds=c,tls-hostname=localhost"
refused "tls-hostname other than the host" "against 'other'" info \
	--object "$CX" --image-opts "$TCP,tls-hostname=other"
refused "a plain client of a TLS server" "requires TLS" info \
	"nbd+unix:///?socket=$SP"
refused "TLS to a server without it" "TLS" info --object "$CP" \
	--image-opts "driver=nbd,server.type=unix,server.path=$SN,tls-creds=c"

done_testing
