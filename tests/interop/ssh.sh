#!/bin/bash
# SPDX-License-Identifier: MIT
# The ssh protocol against a real OpenSSH server started here (its own host
# key, config and authorized_keys in the scratch directory, on a free port).
# Both tools run in a private mount namespace whose home directory (where
# libssh looks for keys and known_hosts) is a scratch one.  info, map,
# check, compare and convert over ssh:// through qimg and through qemu-img,
# outputs compared; images written over ssh by qimg checked by qemu-img;
# name forms (ssh://, json:{...}, --image-opts), host-key-check modes (no,
# known_hosts, md5/sha1/sha256 hashes) and their failures, agent
# authentication and connection errors.

# libssh reads ~/.ssh of the passwd entry, not $HOME: run in a mount
# namespace where a scratch directory is bound over it.
if [ -z "${QIMG_SSH_NS:-}" ]; then
	if [ "$(id -u)" = 0 ] && unshare -m true 2>/dev/null; then
		QIMG_SSH_NS=1 exec unshare -m bash "$0" "$@"
	fi
	QIMG_SSH_NS=none
fi
. "$(dirname "$0")/lib.sh"

SSHD=${SSHD:-/usr/sbin/sshd}
if [ ! -x "$SSHD" ] || ! command -v ssh-keygen >/dev/null 2>&1; then
	[ "${CI:-}" = true ] && { echo "not ok 1 - sshd and ssh-keygen are needed (CI=true)"; echo "1..1"; exit 1; }
	skip_all "sshd or ssh-keygen not found"
fi
# Debian's qemu-img has the ssh driver as a module (qemu-block-extra).
if "$QEMU_IMG" info 'json:{"driver":"ssh"}' 2>&1 | grep -q "Unknown driver"; then
	[ "${CI:-}" = true ] && { echo "not ok 1 - qemu-img without the ssh driver (CI=true)"; echo "1..1"; exit 1; }
	skip_all "qemu-img has no ssh driver (qemu-block-extra)"
fi
[ "$QIMG_SSH_NS" = 1 ] || skip_all "needs root and unshare -m (sshd, a private ~/.ssh)"

# Bind a scratch ~/.ssh over the real one (or over the home directory when
# it has none and nothing we use lives below it).
H=$(getent passwd "$(id -u)" | cut -d: -f6)
spawn mkdir -p "$T/home/.ssh"
if [ -d "$H/.ssh" ]; then
	mount --bind "$T/home/.ssh" "$H/.ssh" || skip_all "cannot bind-mount $H/.ssh"
else
	case "$ROOT/ $T/ $QIMG" in
	"$H"/*) skip_all "$H has no .ssh and holds the tree" ;;
	esac
	mount --bind "$T/home" "$H" || skip_all "cannot bind-mount $H"
fi
unset SSH_AUTH_SOCK SSH_AGENT_PID


K=$T/keys
spawn mkdir -p "$K" /run/sshd
ssh-keygen -q -t ed25519 -N '' -C qimg-host -f "$K/host" || skip_all "ssh-keygen failed"
ssh-keygen -q -t ed25519 -N '' -C qimg-other -f "$K/other"
ssh-keygen -q -t ed25519 -N '' -C qimg-client -f "$T/home/.ssh/id_ed25519"
ssh-keygen -q -t ed25519 -N '' -C qimg-agent -f "$K/agent"
cat "$T/home/.ssh/id_ed25519.pub" "$K/agent.pub" >"$K/authorized_keys"
P=$(free_port)
cat >"$K/sshd_config" <<EOF
ListenAddress 127.0.0.1
HostKey $K/host
AuthorizedKeysFile $K/authorized_keys
PidFile $K/sshd.pid
Subsystem sftp internal-sftp
StrictModes no
UsePAM no
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
MaxStartups 100
EOF
# Newer servers slow down a client after failed logins; we make some.
spawn cp "$K/sshd_config" "$K/try_config"
echo "PerSourcePenalties no" >>"$K/try_config"
"$SSHD" -t -f "$K/try_config" 2>/dev/null && spawn cp "$K/try_config" "$K/sshd_config"
"$SSHD" -D -f "$K/sshd_config" -p "$P" -E "$K/sshd.log" &
sshd_pid=$!
stop_sshd()
{
	kill "$sshd_pid" 2>/dev/null
	wait 2>/dev/null
}
at_exit stop_sshd
up=
for _ in $(seq 50); do
	if (exec 3<>"/dev/tcp/127.0.0.1/$P") 2>/dev/null; then
		up=1
		break
	fi
	kill -0 "$sshd_pid" 2>/dev/null || break
	sleep 0.1
done
[ -n "$up" ] || skip_all "sshd did not start: $(head -c 300 "$K/sshd.log" 2>/dev/null)"
echo "[127.0.0.1]:$P $(cut -d' ' -f1,2 "$K/host.pub")" >"$T/home/.ssh/known_hosts"
# The host key's fingerprints as libssh prints them (hex of the blob's
# digest).
blob()
{
	cut -d' ' -f2 "$K/host.pub" | base64 -d
}
MD5=$(blob | md5sum | cut -d' ' -f1)
SHA1=$(blob | sha1sum | cut -d' ' -f1)
SHA256=$(blob | sha256sum | cut -d' ' -f1)

# Images: a raw pattern, a qcow2 with a backing file, a short raw.
mkpattern img.raw 4096
spawn "$QEMU_IMG" create -q -f qcow2 base.qcow2 4M
spawn "$QEMU_IO" -c 'write -P 1 0 2M' base.qcow2 >/dev/null
spawn "$QEMU_IMG" create -q -f qcow2 -b base.qcow2 -F qcow2 img.qcow2 4M
spawn "$QEMU_IO" -c 'write -P 2 1M 2M' -c 'write -z 3M 512k' img.qcow2 >/dev/null
head -c 1000 /dev/urandom >odd.raw
U=ssh://127.0.0.1:$P$T

for n in "$U/img.raw" "$U/img.qcow2" "$U/odd.raw" "$U/img.raw?host_key_check=no" \
	"ssh://root@127.0.0.1:$P/$T/img.raw" "$U/base.qcow2?host_key_check=yes" \
	"json:{\"driver\":\"ssh\",\"server\":{\"host\":\"127.0.0.1\",\"port\":\"$P\"},\"path\":\"$T/img.raw\"}" \
	"json:{\"driver\":\"ssh\",\"host\":\"127.0.0.1\",\"port\":$P,\"path\":\"$T/img.raw\",\"host_key_check\":\"no\"}" \
	"json:{\"driver\":\"qcow2\",\"file\":{\"driver\":\"ssh\",\"server\":{\"host\":\"127.0.0.1\",\"port\":$P},\"path\":\"$T/img.qcow2\",\"host-key-check\":{\"mode\":\"none\"}}}"; do
	same "info $n" info "$n"
	same "info --output=json $n" info --output=json "$n"
	same "map $n" map "$n"
	same "map --output=json $n" map --output=json "$n"
done
same "info --image-opts" info --image-opts \
	"driver=ssh,server.host=127.0.0.1,server.port=$P,path=$T/img.raw,host-key-check.mode=known_hosts"
same "info --backing-chain over ssh" info --backing-chain "$U/img.qcow2"
same "check qcow2 over ssh" check "$U/img.qcow2"
same "compare ssh with the local image" compare "$U/img.qcow2" ../img.qcow2
same "compare ssh raw with ssh qcow2" compare "$U/img.raw" "$U/img.qcow2"
same "measure over ssh" measure -O qcow2 "$U/img.qcow2"

# Reading: ssh to local files
same "convert ssh qcow2 to raw" convert -O raw "$U/img.qcow2" out.raw
ok "converted from ssh: qemu-img compare" "$QEMU_IMG" compare -q "$G/out.raw" img.qcow2
ok "converted from ssh: same file as qemu-img's" cmp -s "$E/out.raw" "$G/out.raw"
same "convert ssh raw to qcow2" convert -O qcow2 "$U/img.raw" out.qcow2
ok "converted raw from ssh: qemu-img compare" "$QEMU_IMG" compare -q "$G/out.qcow2" img.raw
ok "converted raw from ssh: check" check_clean "$G/out.qcow2"
same "convert a short ssh file" convert -O raw "$U/odd.raw" odd.out
ok "short file: same as qemu-img's" cmp -s "$E/odd.out" "$G/odd.out"

# Writing: each tool makes its own remote file (TGT becomes e or g); the
# outputs must be equal up to that name, and so must the files.
same_t()
{
	local d=$1 a e=() g=() erc grc
	shift
	for a in "$@"; do
		e+=("${a//TGT/e}")
		g+=("${a//TGT/g}")
	done
	run_tool e "${e[@]}"
	run_tool g "${g[@]}"
	sed -i 's#/e-#/X-#g' "$R/e.out.n" "$R/e.err.n"
	sed -i 's#/g-#/X-#g' "$R/g.out.n" "$R/g.err.n"
	erc=$(cat "$R/e.rc")
	grc=$(cat "$R/g.rc")
	if [ "$erc" = "$grc" ] && spawn cmp -s "$R/e.out.n" "$R/g.out.n" &&
		spawn cmp -s "$R/e.err.n" "$R/g.err.n"; then
		pass "$d"
		return 0
	fi
	fail "$d"
	diag "args: $*" "exit: qemu-img $erc, qimg $grc"
	diff -u "$R/e.out.n" "$R/g.out.n" | sed -n '3,20p' | sed 's/^/# out /'
	diff -u "$R/e.err.n" "$R/g.err.n" | sed -n '3,20p' | sed 's/^/# err /'
	return 1
}

same_t "create raw over ssh" create -f raw "$U/TGT-c.raw" 3M
ok "created raw: same file" cmp -s "$T/e-c.raw" "$T/g-c.raw"
same_t "create qcow2 over ssh" create -f qcow2 "$U/TGT-c.qcow2" 64M
ok "created qcow2: same file" cmp -s "$T/e-c.qcow2" "$T/g-c.qcow2"
same_t "create qcow2 with a backing file over ssh" create -f qcow2 \
	-b "$U/base.qcow2" -F qcow2 "$U/TGT-cb.qcow2"
ok "created overlay: same file" cmp -s "$T/e-cb.qcow2" "$T/g-cb.qcow2"
same_t "create into a missing directory" create -f raw "$U/nosuch/TGT-n.raw" 1M
same_t "create with preallocation" create -f raw -o preallocation=full "$U/TGT-p.raw" 1M
same_t "resize raw over ssh (grow)" resize -f raw "$U/TGT-c.raw" 5M
ok "resized: same file" cmp -s "$T/e-c.raw" "$T/g-c.raw"
same_t "resize --shrink refused" resize -f raw --shrink "$U/TGT-c.raw" 1M
same_t "resize with preallocation refused" resize -f raw --preallocation=full "$U/TGT-c.raw" 8M
same_t "resize qcow2 over ssh" resize "$U/TGT-c.qcow2" 128M
ok "resized qcow2: check" check_clean "$T/g-c.qcow2"

run_tool g convert -O raw ../img.qcow2 "$U/g-w.raw"
ok "convert -O raw local to ssh" test "$(cat "$R/g.rc")" = 0
ok "written over ssh: qemu-img compare" "$QEMU_IMG" compare -q "$T/g-w.raw" img.qcow2
run_tool e convert -O raw ../img.qcow2 "$U/e-w.raw"
ok "written over ssh: same file as qemu-img's" cmp -s "$T/e-w.raw" "$T/g-w.raw"
same_t "convert -O qcow2 local to ssh" convert -O qcow2 ../img.qcow2 "$U/TGT-w.qcow2"
ok "qcow2 written over ssh: qemu-img compare" "$QEMU_IMG" compare -q "$T/g-w.qcow2" img.qcow2
ok "qcow2 written over ssh: check" check_clean "$T/g-w.qcow2"
same_t "convert -O raw of a short file to ssh" convert -O raw ../odd.raw "$U/TGT-odd.raw"
ok "short file written: same file as qemu-img's" cmp -s "$T/e-odd.raw" "$T/g-odd.raw"
same_t "convert -n ssh to ssh" convert -n -O raw "$U/img.raw" "$U/TGT-w.raw"
ok "ssh to ssh: same data" cmp -s "$T/g-w.raw" img.raw

# Host key checking: settings that match (the server's fingerprints in
# any case, with or without colons), then ones that do not.
for q in no yes "md5:$MD5" "sha1:$SHA1" "sha256:$SHA256" \
	"sha256:$(echo "$SHA256" | tr a-f A-F)" \
	"md5:$(echo "$MD5" | sed 's/../&:/g; s/:$//')"; do
	same "host_key_check=$q" info "$U/img.raw?host_key_check=$q"
	ok "host_key_check=$q opens" test "$(cat "$R/g.rc")" = 0
done
for q in md5:0123 sha1:wrong sha256:wrong "sha256:${SHA256}00" sha512:x \
	bogus ""; do
	same "host_key_check=$q" info "$U/img.raw?host_key_check=$q"
done
for m in '{"mode":"none"}' '{"mode":"known_hosts"}' \
	"{\"mode\":\"hash\",\"type\":\"sha256\",\"hash\":\"$SHA256\"}" \
	'{"mode":"hash","type":"sha256","hash":"bad"}' \
	'{"mode":"hash","type":"md5","hash":"bad"}' \
	'{"mode":"hash","type":"sha512","hash":"x"}' '{"mode":"hash"}' \
	'{"mode":"hash","type":"sha1"}' '{"mode":"bogus"}' '{}' '"no"' \
	'{"mode":"none","hash":"x"}'; do
	same "host-key-check $m" info \
		"json:{\"driver\":\"ssh\",\"server\":{\"host\":\"127.0.0.1\",\"port\":\"$P\"},\"path\":\"$T/img.raw\",\"host-key-check\":$m}"
done
same "host not in known_hosts" info "ssh://localhost:$P$T/img.raw"
spawn cp "$T/home/.ssh/known_hosts" "$K/known_hosts.good"
echo "[127.0.0.1]:$P $(cut -d' ' -f1,2 "$K/other.pub")" >"$T/home/.ssh/known_hosts"
same "host key changed" info "$U/img.raw"
same "host key changed, host_key_check=no" info "$U/img.raw?host_key_check=no"
spawn cp "$K/known_hosts.good" "$T/home/.ssh/known_hosts"

# Authentication: by the agent alone; a user with no key.
if command -v ssh-agent >/dev/null 2>&1 && command -v ssh-add >/dev/null 2>&1; then
	eval "$(ssh-agent -s)" >/dev/null
	stop_agent()
	{
		[ -z "${SSH_AGENT_PID:-}" ] || kill "$SSH_AGENT_PID" 2>/dev/null
	}
	at_exit stop_agent
	ssh-add -q "$K/agent" 2>/dev/null
	spawn mv "$T/home/.ssh/id_ed25519" "$K/id_hidden"
	same "agent authentication" info "$U/img.qcow2"
	ok "agent authentication opens" test "$(cat "$R/g.rc")" = 0
	stop_agent
	unset SSH_AUTH_SOCK SSH_AGENT_PID
	same "no agent, no key" info "$U/img.qcow2"
	spawn mv "$K/id_hidden" "$T/home/.ssh/id_ed25519"
else
	skip "agent authentication (no ssh-agent)"
	skip "no agent, no key (no ssh-agent)"
fi
same "unknown user" info "ssh://qimg-nosuchuser@127.0.0.1:$P$T/img.raw"

# Errors
P0=$(free_port)
for n in "$U/nosuch.raw" "ssh://127.0.0.1:$P0$T/img.raw" "ssh://127.0.0.1:$P" \
	"ssh:///x" "ssh:x" "ssh://127.0.0.1:abc/x" "ssh://127.0.0.1:70000/x" \
	"ssh://user@/x" "ssh://[::1]:$P/x" "ssh://nosuch.invalid/x" \
	'json:{"driver": "ssh", "host": "localhost", "port": "0", "path": "/foo"}' \
	'json:{"driver": "ssh", "host": "localhost", "port": 0.42, "path": "/foo"}' \
	'json:{"driver":"ssh","path":"/x"}' \
	'json:{"driver":"ssh","server":{"host":"localhost"},"path":"/x"}' \
	'json:{"driver":"ssh","server":{"port":"1"},"path":"/x"}' \
	'json:{"driver":"ssh","server":{"host":"localhost","port":"x"},"path":"/x"}' \
	'json:{"driver":"ssh","server":{"host":"localhost","port":"1","to":5,"bogus":1},"path":"/x"}' \
	'json:{"driver":"ssh","server":"x","path":"/x"}' \
	'json:{"driver":"ssh","server":{"host":"localhost","port":"1"}}' \
	'json:{"driver":"ssh","port":"1","path":"/x"}' \
	'json:{"driver":"ssh","host":"localhost","port":"-1","path":"/x"}' \
	'json:{"driver":"ssh","host":"localhost","port":"18446744073709551616","path":"/x"}' \
	'json:{"driver":"ssh","host":"localhost","path":"/x","host_key_check":"bad"}'; do
	same "error: info $n" info "$n"
done
same "error: --image-opts port=0.42" info --image-opts \
	driver=ssh,host=localhost,port=0.42,path=/foo

done_testing
