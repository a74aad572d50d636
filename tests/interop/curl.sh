#!/bin/bash
# SPDX-License-Identifier: MIT
# The http and https protocols (curl) against qemu-img's, with images
# served by tests/interop/httpd.py (byte ranges, and switches for servers
# that break things).  info, map, check, compare, measure, dd and convert
# of qcow2, raw, vmdk, vdi and vpc images and of a backing chain over
# http, outputs compared; the name forms (URL, json:{...}, --image-opts)
# and every option's checks and errors; login (username and
# password-secret), cookies (cookie, cookie-secret), redirects; https with
# a certificate the system trusts and one it does not (sslverify); and
# qimg's own refusals where qemu-img returns the wrong bytes (a server
# that ignores ranges, short answers).
#
# The trusted-certificate lines bind a directory holding the test CA over
# /etc/ssl/certs (where libcurl looks) in a private mount namespace: they
# need root and unshare -m, and are skipped, named, without them.
if [ -z "${QIMG_CURL_NS:-}" ]; then
	if [ "$(id -u)" = 0 ] && unshare -m true 2>/dev/null; then
		QIMG_CURL_NS=1 exec unshare -m bash "$0" "$@"
	fi
	QIMG_CURL_NS=none
fi
. "$(dirname "$0")/lib.sh"

command -v python3 >/dev/null 2>&1 || {
	[ "${CI:-}" = true ] && { echo "not ok 1 - python3 is needed (CI=true)"; echo "1..1"; exit 1; }
	skip_all "python3 not found"
}
# Debian's qemu-img has the curl drivers as a module (qemu-block-extra).
if "$QEMU_IMG" info 'json:{"driver":"http"}' 2>&1 | grep -q "Unknown driver"; then
	[ "${CI:-}" = true ] && { echo "not ok 1 - qemu-img without the curl drivers (CI=true)"; echo "1..1"; exit 1; }
	skip_all "qemu-img has no http driver (qemu-block-extra)"
fi

HTTPD=$ROOT/tests/interop/httpd.py
# qemu-img 7.2's curl driver now and then never finishes a convert (seen in
# 1 run of 10 over a chain: it waits in ppoll, with no timeout, for a
# request the server has answered).  Its runs here get 20 s and 3 tries;
# qimg's runs get no such help.
QEMU_IMG_REAL=$QEMU_IMG
QEMU_IMG=$T/qemu-img-hang-retry
cat >"$QEMU_IMG" <<EOF
#!/bin/bash
for i in 1 2 3; do
	timeout -k 2 20 "$QEMU_IMG_REAL" "\$@" >"$T/qemu-img-hang.out" 2>"$T/qemu-img-hang.err"
	rc=\$?
	[ \$rc = 124 ] || [ \$rc = 137 ] || break
done
cat "$T/qemu-img-hang.out"
cat "$T/qemu-img-hang.err" >&2
exit \$rc
EOF
spawn chmod +x "$QEMU_IMG"
NORM=norm_remote

# serve NAME [httpd.py switches]: start a server on $T/www, its port in
# $NAME (a shell variable).
serve()
{
	local name=$1 i
	shift
	spawn rm -f "$T/$name.port"
	python3 "$HTTPD" --dir "$T/www" --port-file "$T/$name.port" \
		--log "$T/$name.log" "$@" &
	pids="$pids $!"
	for i in $(seq 100); do
		[ -s "$T/$name.port" ] && break
		sleep 0.05
	done
	[ -s "$T/$name.port" ] || skip_all "httpd.py did not start"
	printf -v "$name" '%s' "$(cat "$T/$name.port")"
}
at_exit stop_servers

# converts: qemu-img's curl driver hangs in them too often to be the
# reference (see above), so qimg's run must be silent and succeed, and
# its output is then compared with the local image.
g_ok()
{
	local d=$1 rc
	shift
	run_tool g "$@"
	read -r rc <"$R/g.rc"
	if [ "$rc" = 0 ] && [ ! -s "$R/g.out" ] && [ ! -s "$R/g.err" ]; then
		pass "$d"
	else
		fail "$d"
		diag "args: $*" "exit $rc" "$(head -n 3 "$R/g.err")"
	fi
}

# --- images ------------------------------------------------------------------
W=$T/www
spawn mkdir -p "$W/d"
spawn "$QEMU_IMG" create -q -f qcow2 "$W/img.qcow2" 64M
spawn "$QEMU_IO" -c 'write -P 0x5a 1M 1M' -c 'write -P 0x33 40M 192k' \
	-c 'write -z 8M 1M' "$W/img.qcow2" >/dev/null
spawn "$QEMU_IMG" convert -O raw "$W/img.qcow2" "$W/img.raw"
spawn "$QEMU_IMG" convert -O vmdk -o subformat=streamOptimized "$W/img.qcow2" "$W/img.vmdk"
spawn "$QEMU_IMG" convert -O vdi "$W/img.qcow2" "$W/img.vdi"
spawn "$QEMU_IMG" convert -O vpc "$W/img.qcow2" "$W/img.vpc"
spawn "$QEMU_IMG" convert -c -O qcow2 "$W/img.qcow2" "$W/img-z.qcow2"
spawn "$QEMU_IMG" create -q -f qcow2 "$W/d/base.qcow2" 16M
spawn "$QEMU_IO" -c 'write -P 1 0 4M' "$W/d/base.qcow2" >/dev/null
spawn "$QEMU_IMG" create -q -f qcow2 -b base.qcow2 -F qcow2 "$W/d/top.qcow2"
spawn "$QEMU_IO" -c 'write -P 2 1M 1M' "$W/d/top.qcow2" >/dev/null
head -c 1000 /dev/urandom >"$W/odd.bin"
: >"$W/empty.bin"

(cd "$W" && md5sum img.* d/*) >"$T/www.sum"
serve HP
U=http://127.0.0.1:$HP

# --- reading images ----------------------------------------------------------
# make check (QIMG_QUICK=1): every file's info, the other views of every
# third file, and map --output=json of every third of the others
i=0
for f in img.qcow2 img.raw img.vmdk img.vdi img.vpc img-z.qcow2 d/top.qcow2 \
	odd.bin empty.bin; do
	same "info $f" info "$U/$f"
	quick_pick $((i + 1)) &&
		same "map --output=json $f" map --output=json "$U/$f"
	if quick_pick $i; then
		same "info --output=json $f" info --output=json "$U/$f"
		same "map $f" map "$U/$f"
		same "compare $f with the local file" compare "$U/$f" "$W/$f"
	fi
	i=$((i + 1))
done
same "info --backing-chain over http" info --backing-chain "$U/d/top.qcow2"
same "info --backing-chain --output=json over http" info --backing-chain \
	--output=json "$U/d/top.qcow2"
same "check qcow2 over http" check "$U/img.qcow2"
same "check --output=json qcow2 over http" check --output=json "$U/img.qcow2"
whole && same "check vdi over http" check "$U/img.vdi"
same "check a chain over http" check "$U/d/top.qcow2"
same "measure qcow2 over http" measure -O qcow2 "$U/img.qcow2"
same "measure --output=json of a chain" measure --output=json -O qcow2 \
	"$U/d/top.qcow2"
same "compare qcow2 and vmdk both over http" compare "$U/img.qcow2" "$U/img.vmdk"
same "compare -s: a chain and the raw" compare -s "$U/d/top.qcow2" "$U/img.raw"
same "a redirect is followed" info "$U/redirect/img.qcow2"
same "a query and fragment stay in the name" info -f raw "$U/img.raw?x=1#f"

# (make check: to qcow2 only; the converts below write raw)
i=0
for fmt in qcow2 raw vmdk; do
	i=$((i + 1))
	quick_pick $((i - 1)) || continue
	g_ok "convert qcow2 over http to $fmt" convert -O $fmt "$U/img.qcow2" out.$fmt
	ok "convert to $fmt: the same guest data" contents_equal "$G/out.$fmt" "$W/img.raw"
	spawn rm -f "$E/out.$fmt" "$G/out.$fmt"
done
g_ok "convert a chain over http to raw" convert -O raw "$U/d/top.qcow2" chain.raw
ok "chain: the same guest data" contents_equal "$G/chain.raw" "$W/d/top.qcow2"
g_ok "convert -c of compressed qcow2 over http" convert -c -O qcow2 \
	"$U/img-z.qcow2" z.qcow2
ok "compressed: the same guest data" contents_equal "$G/z.qcow2" "$W/img.raw"
g_ok "dd from http" dd if="$U/img.qcow2" of=dd.raw bs=64k skip=15 count=20
spawn "$QEMU_IMG" dd if="$W/img.qcow2" of="$E/dd.raw" bs=64k skip=15 count=20
ok "dd: the same bytes as qemu-img's from the local file" cmp "$E/dd.raw" "$G/dd.raw"
g_ok "convert with --image-opts" convert --image-opts -O raw \
	"driver=qcow2,file.driver=http,file.url=$U/img.qcow2,file.readahead=64k" io.raw
ok "--image-opts: the same guest data" cmp "$G/io.raw" "$W/img.raw"
spawn rm -f "$E"/*.raw "$G"/*.raw "$E"/*.qcow2 "$G"/*.qcow2

# --- names and options --------------------------------------------------------
J='json:{"driver":"http","url":"'$U'/img.raw"'
for c in \
	"info $J}" \
	"info $J,\"readahead\":\"1k\"}" \
	"info $J,\"readahead\":0,\"timeout\":0}" \
	"info $J,\"timeout\":10000}" \
	"info $J,\"sslverify\":false}" \
	"info $J,\"proxy-username\":\"x\"}" \
	"info $J,\"username\":\"x\"}" \
	"info $J,\"cookie\":\"a=b\"}" \
	"info --output=json $J,\"sslverify\":\"off\"}" \
	"info json:{\"file\":$J,\"sslverify\":false}}" \
	"info json:{\"driver\":\"qcow2\",\"file\":{\"driver\":\"http\",\"url\":\"$U/img.qcow2\",\"timeout\":3}}" \
	"info --image-opts driver=http,url=$U/img.raw" \
	"info --image-opts driver=http,url=$U/img.raw,readahead=512,sslverify=on" \
	"info $J,\"readahead\":1000}" \
	"info $J,\"readahead\":\"-1\"}" \
	"info $J,\"readahead\":1000,\"timeout\":-1}" \
	"info $J,\"timeout\":-1}" \
	"info $J,\"timeout\":10001}" \
	"info $J,\"timeout\":\"abc\"}" \
	"info $J,\"sslverify\":\"maybe\"}" \
	"info $J,\"bogus\":1}" \
	"info $J,\"cookie-secret\":\"nope\"}" \
	"info $J,\"password-secret\":\"nope\"}" \
	"info $J,\"proxy-password-secret\":\"nope\"}" \
	"info $J,\"cookie-secret\":\"x\",\"password-secret\":\"y\"}" \
	"info $J,\"password-secret\":\"y\",\"proxy-password-secret\":\"z\"}" \
	'info json:{"driver":"http"}' \
	'info json:{"driver":"http","readahead":1000}' \
	'info json:{"driver":"http","cookie-secret":"x"}' \
	"info json:{\"driver\":\"https\",\"url\":\"$U/img.raw\"}" \
	"info json:{\"driver\":\"https\",\"url\":\"$U/img.raw\",\"password-secret\":\"x\"}" \
	"info json:{\"driver\":\"https\",\"url\":\"$U/img.raw\",\"cookie-secret\":\"x\"}" \
	"info json:{\"driver\":\"ftp\",\"url\":\"$U/img.raw\"}" \
	"info json:{\"driver\":\"http\",\"url\":\"HTTP://127.0.0.1:$HP/img.raw\"}" \
	"info HTTP://127.0.0.1:$HP/img.raw" \
	'info http:foo' \
	"info -f raw json:{\"driver\":\"raw\",\"file\":\"$U/img.raw\"}"; do
	# shellcheck disable=SC2086
	same "$c" $c
done

# --- what cannot be done over http --------------------------------------------
for c in \
	"create -f qcow2 $U/new.qcow2 1M" \
	"create -f raw $U/img.raw 1M" \
	"check -r all $U/img.qcow2" \
	"resize $U/img.raw 1G" \
	"commit $U/d/top.qcow2" \
	"snapshot -c s $U/img.qcow2" \
	"amend -o lazy_refcounts=on $U/img.qcow2" \
	"rebase -u -b '' $U/d/top.qcow2" \
	"bitmap --add $U/img.qcow2 b" \
	"convert -n -O raw $W/img.raw $U/img.raw" \
	"check -r all json:{\"driver\":\"raw\",\"file\":{\"driver\":\"http\",\"url\":\"$U/img.raw\",\"readahead\":1000}}"; do
	# shellcheck disable=SC2086
	same "refused: $c" $c
done
ok "the served files are unchanged" cmp -s "$T/www.sum" <(cd "$W" && md5sum img.* d/*)

# --- served again over NBD -------------------------------------------------------
QIMG_NBD=${QIMG_NBD:-$(dirname "$QIMG")/qimg-nbd}
if [ -x "$QIMG_NBD" ] && command -v qemu-nbd >/dev/null 2>&1 &&
	command -v nbdcopy >/dev/null 2>&1; then
	nbd_refuse()
	{
		local e g
		e=$(timeout 20 qemu-nbd -k "$T/e.sock" "$U/img.qcow2" 2>&1)
		g=$(timeout 20 "$QIMG_NBD" -k "$T/g.sock" "$U/img.qcow2" 2>&1)
		[ "${e#qemu-nbd: }" = "${g#qimg-nbd: }" ] && [ -n "$g" ] ||
			{ diag "qemu-nbd: $e" "qimg-nbd: $g"; return 1; }
	}
	ok "qimg-nbd refuses a writable http export as qemu-nbd" nbd_refuse
	nbd_serve()
	{
		local p
		"$QIMG_NBD" -r -k "$T/n.sock" -f qcow2 "$U/img.qcow2" &
		p=$!
		wait_sock "$T/n.sock" &&
			nbdcopy "nbd+unix:///?socket=$T/n.sock" "$T/nbd.raw"
		wait $p
		spawn cmp "$T/nbd.raw" "$W/img.raw"
	}
	ok "qimg-nbd -r serves a qcow2 read over http" nbd_serve
else
	[ "${CI:-}" = true ] && fail "qimg-nbd, qemu-nbd and nbdcopy are needed (CI=true)"
	skip "serving over NBD: qimg-nbd, qemu-nbd or nbdcopy missing"
fi

# --- failures of the server -----------------------------------------------------
same "404" info "$U/nope.qcow2"
same "nothing listening" info "http://127.0.0.1:$(free_port)/x"
# qemu-img's message ends with an empty reason; qimg gives libcurl's.
bad_url()
{
	! spawn "$QIMG" info http:// 2>"$T/bu.err" &&
		[ "$(cat "$T/bu.err")" = "qimg: Could not open 'http://': CURL: Error opening file: URL using bad/illegal format or missing URL" ]
}
ok "bad URL: libcurl's reason" bad_url
serve NR --no-ranges
same "a server without byte ranges" info "http://127.0.0.1:$NR/img.qcow2"

serve AU --auth u:pw --cookie a=b
A=http://127.0.0.1:$AU/img.qcow2
same "login needed" info "$A"
same "login: username only" info "json:{\"file\":{\"driver\":\"http\",\"url\":\"$A\",\"username\":\"u\",\"cookie\":\"a=b\"}}"
same "login: wrong password" info --object secret,id=s,data=no \
	"json:{\"file\":{\"driver\":\"http\",\"url\":\"$A\",\"username\":\"u\",\"password-secret\":\"s\",\"cookie\":\"a=b\"}}"
same "login and cookie" info --object secret,id=s,data=pw \
	"json:{\"file\":{\"driver\":\"http\",\"url\":\"$A\",\"username\":\"u\",\"password-secret\":\"s\",\"cookie\":\"a=b\"}}"
same "login and cookie-secret" info --object secret,id=s,data=pw \
	--object secret,id=c,data=a=b \
	"json:{\"file\":{\"driver\":\"http\",\"url\":\"$A\",\"username\":\"u\",\"password-secret\":\"s\",\"cookie-secret\":\"c\"}}"
same "login, wrong cookie" info --object secret,id=s,data=pw \
	"json:{\"file\":{\"driver\":\"http\",\"url\":\"$A\",\"username\":\"u\",\"password-secret\":\"s\",\"cookie\":\"a=c\"}}"
same "cookie and cookie-secret both" info --object secret,id=c,data=a=b \
	"json:{\"file\":{\"driver\":\"http\",\"url\":\"$A\",\"cookie\":\"zz\",\"cookie-secret\":\"c\"}}"
g_ok "convert with login" convert -O raw --object secret,id=s,data=pw \
	"json:{\"file\":{\"driver\":\"http\",\"url\":\"$A\",\"username\":\"u\",\"password-secret\":\"s\",\"cookie\":\"a=b\"}}" login.raw
ok "login: the same guest data" cmp "$G/login.raw" "$W/img.raw"
ok "the password went as user u" grep -q " u 206$" "$T/AU.log"

# qemu-img takes a 200 answer to a range request as the range: it reads
# the file's first bytes for any offset.  qimg refuses such a server.
serve IR --ignore-range
refused_ir()
{
	! spawn "$QIMG" convert -O raw "http://127.0.0.1:$IR/img.qcow2" "$T/ir.raw" 2>"$T/ir.err" &&
		grep -q "Could not read 'http://127.0.0.1:$IR/img.qcow2': the server answered a byte-range request with HTTP 200" "$T/ir.err"
}
ok "a server that ignores ranges: an error, not the wrong bytes" refused_ir
serve SH --short
refused_short()
{
	! spawn "$QIMG" dd if="http://127.0.0.1:$SH/img.raw" of="$T/sh.raw" bs=1M count=4 2>"$T/sh.err" &&
		grep -q "the server sent fewer bytes than" "$T/sh.err"
}
ok "short answers: an error, not zeros" refused_short

# A 256 MiB image through the pool of connections in bounded memory
# (make check: 96 MiB of data, still half as much again as the bound).
BIG=200
whole || BIG=96
spawn "$QEMU_IMG" create -q -f qcow2 "$W/big.qcow2" 256M
spawn "$QEMU_IO" -c "write -P 7 0 ${BIG}M" "$W/big.qcow2" >/dev/null
bounded "convert $BIG MiB of data over http" convert -O raw "$U/big.qcow2" "$T/big.raw"
ok "big: the same guest data" contents_equal "$T/big.raw" "$W/big.qcow2"
spawn rm -f "$T/big.raw" "$W/big.qcow2"

# --- ftp ------------------------------------------------------------------------
# Debian's python3-pyftpdlib, under Debian's python (setup.sh installs it).
if /usr/bin/python3 -c 'import pyftpdlib' 2>/dev/null; then
	spawn rm -f "$T/ftp.port"
	/usr/bin/python3 "$ROOT/tests/interop/ftpd.py" --dir "$W" \
		--port-file "$T/ftp.port" >/dev/null 2>&1 &
	pids="$pids $!"
	for i in $(seq 100); do
		[ -s "$T/ftp.port" ] && break
		sleep 0.05
	done
	FP=$(cat "$T/ftp.port" 2>/dev/null)
	F=ftp://127.0.0.1:$FP
	# (make check: the views of the files over http, sampled)
	same "ftp: info qcow2" info "$F/img.qcow2"
	whole && same "ftp: info --output=json vmdk" info --output=json "$F/img.vmdk"
	whole && same "ftp: map --output=json qcow2" map --output=json "$F/img.qcow2"
	same "ftp: a chain" info --backing-chain "$F/d/top.qcow2"
	whole && same "ftp: compare with the local file" compare "$F/img-z.qcow2" "$W/img.raw"
	g_ok "ftp: convert to raw" convert -O raw "$F/img.qcow2" ftp.raw
	ok "ftp: the same guest data" cmp "$G/ftp.raw" "$W/img.raw"
	same "ftp: no such file" info "$F/nope.qcow2"
	same "ftp: login in the URL" info "ftp://u:pw@127.0.0.1:$FP/img.qcow2"
	same "ftp: login by options" info --object secret,id=s,data=pw \
		"json:{\"file\":{\"driver\":\"ftp\",\"url\":\"$F/img.qcow2\",\"username\":\"u\",\"password-secret\":\"s\"}}"
	same "ftp: wrong password" info --object secret,id=s,data=no \
		"json:{\"file\":{\"driver\":\"ftp\",\"url\":\"$F/img.qcow2\",\"username\":\"u\",\"password-secret\":\"s\"}}"
	same "ftp driver, http URL" info "json:{\"driver\":\"ftp\",\"url\":\"$U/img.raw\"}"
	# ftps:// is TLS from the first byte; this server speaks plain FTP.
	same "ftps to a plain FTP server" info "ftps://127.0.0.1:$FP/img.qcow2"
	same "refused: create over ftp" create -f raw "$F/new.raw" 1M
else
	[ "${CI:-}" = true ] && fail "python3-pyftpdlib is needed for ftp (CI=true)"
	skip "ftp: Debian's python3-pyftpdlib is not installed"
fi

# --- https ----------------------------------------------------------------------
if command -v certtool >/dev/null 2>&1 && make_tls_certs "$T/pki" &&
	[ -s "$T/pki/s/server-cert.pem" ]; then
	serve HS --cert "$T/pki/s/server-cert.pem" --key "$T/pki/s/server-key.pem"
	S=https://localhost:$HS/img.qcow2
	same "https: a certificate nobody vouches for" info "$S"
	same "https: sslverify=off" info "json:{\"file\":{\"driver\":\"https\",\"url\":\"$S\",\"sslverify\":false}}"
	same "https: sslverify=off, map" map --output=json \
		"json:{\"file\":{\"driver\":\"https\",\"url\":\"$S\",\"sslverify\":\"off\"}}"
	same "https driver, http URL" info "json:{\"driver\":\"https\",\"url\":\"$U/img.raw\"}"
	if [ "$QIMG_CURL_NS" = 1 ]; then
		spawn mkdir -p "$T/cas"
		spawn cp "$T/pki/ca-cert.pem" "$T/cas/qimg-test-ca.pem"
		if mount --bind "$T/cas" /etc/ssl/certs; then
			same "https: a trusted certificate" info "$S"
			g_ok "https: convert" convert -O raw "$S" https.raw
			ok "https: the same guest data" cmp "$G/https.raw" "$W/img.raw"
			same "https: wrong host name" info "https://127.0.0.1:$HS/img.qcow2"
			umount /etc/ssl/certs
		else
			skip "https with a trusted CA: cannot bind-mount /etc/ssl/certs"
		fi
	else
		skip "https with a trusted CA: needs root and unshare -m"
	fi
else
	[ "${CI:-}" = true ] && fail "certtool (gnutls-bin) is needed for https (CI=true)"
	skip "https: certtool could not make certificates"
fi

done_testing
