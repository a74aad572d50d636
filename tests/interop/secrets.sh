#!/bin/bash
# SPDX-License-Identifier: MIT
# Secrets as libvirt hands them to qemu-img: encrypted ones (keyid= names a
# 32-byte master key secret, iv= the base64 IV, data= the AES-256-CBC
# ciphertext, base64 with format=base64) and secret_keyring (serial= names a
# key in the kernel's keyring).  Each definition unlocks (or fails to
# unlock) a LUKS image as qemu-img's does: the same output, errors in its
# words and order, exit status; an image created with one opens with the
# plain passphrase.
. "$(dirname "$0")/lib.sh"
have_qimg || skip_all "no qimg binary at $QIMG"
need_oracle openssl

# The master key, the IV, and the passphrase encrypted as libvirt does.
spawn perl -e 'print map { chr(($_ * 37 + 11) % 256) } 0..31' >master.key
spawn perl -e 'print map { chr(($_ * 53 + 7) % 256) } 0..15' >iv.bin
KEYHEX=$(xxd -p -c 64 master.key)
IVHEX=$(xxd -p -c 64 iv.bin)
IV=$(base64 -w0 iv.bin)
enc() # PLAINTEXT [openssl options]: the ciphertext, base64
{
	printf '%b' "$1" | openssl enc -aes-256-cbc ${2:-} -K "$KEYHEX" -iv "$IVHEX" | base64 -w0
}
ENC=$(enc passw0rd)
WRONG=$(enc passw0rX)
BADPAD=$(enc 'passw0rdpassw0r\xff' -nopad)
NULPAD=$(enc 'passw0rdpassw0r\x00' -nopad)
printf '%s' "$ENC" >enc.b64
printf '%s' "$ENC" | base64 -d >enc.bin
spawn "$QEMU_IMG" create -q -f luks --object secret,id=p,data=passw0rd \
	-o key-secret=p,iter-time=10 k.luks 1M
spawn "$QEMU_IO" --object secret,id=p,data=passw0rd -c 'write -P 0x5a 0 64k' \
	--image-opts driver=luks,key-secret=p,file.filename=k.luks >/dev/null
spawn "$QEMU_IMG" convert -O raw --object secret,id=p,data=passw0rd \
	--image-opts driver=luks,key-secret=p,file.filename=k.luks ref.raw

# unlock DESC OBJECTS...: convert the image with key-secret=s0 defined by
# OBJECTS (the master key is secret mk).
unlock()
{
	local d=$1
	shift
	same "$d" convert -O raw --object secret,id=mk,file=../master.key "$@" \
		--image-opts driver=luks,key-secret=s0,file.filename=../k.luks o.raw
}
unlock "encrypted, base64" --object "secret,id=s0,data=$ENC,keyid=mk,iv=$IV,format=base64"
ok "encrypted: the image read" cmp "$G/o.raw" ref.raw
unlock "encrypted, from a base64 file" --object "secret,id=s0,file=../enc.b64,keyid=mk,iv=$IV,format=base64"
unlock "encrypted, raw from a file" --object "secret,id=s0,file=../enc.bin,keyid=mk,iv=$IV"
unlock "encrypted, the wrong passphrase" --object "secret,id=s0,data=$WRONG,keyid=mk,iv=$IV,format=base64"
unlock "encrypted, a padding longer than the data" \
	--object "secret,id=s0,data=$BADPAD,keyid=mk,iv=$IV,format=base64"
unlock "encrypted, a zero padding byte" --object "secret,id=s0,data=$NULPAD,keyid=mk,iv=$IV,format=base64"
unlock "encrypted, base64 text taken as raw ciphertext" --object "secret,id=s0,data=$ENC,keyid=mk,iv=$IV"
unlock "encrypted, no IV" --object "secret,id=s0,data=$ENC,keyid=mk,format=base64"
unlock "encrypted, a short IV" --object "secret,id=s0,data=$ENC,keyid=mk,iv=abc,format=base64"
unlock "encrypted, an IV without its padding" \
	--object "secret,id=s0,data=$ENC,keyid=mk,iv=${IV%%=*},format=base64"
unlock "encrypted, a bad IV character" --object "secret,id=s0,data=$ENC,keyid=mk,iv=a!bc,format=base64"
unlock "encrypted, a bad data character" --object "secret,id=s0,data=x!yzabcd,keyid=mk,iv=$IV,format=base64"
unlock "encrypted, a ciphertext not of whole blocks" \
	--object "secret,id=s0,data=${ENC%%=*},keyid=mk,iv=$IV,format=base64"
unlock "encrypted, an unknown key secret" --object "secret,id=s0,data=$ENC,keyid=zz,iv=$IV,format=base64"
unlock "encrypted, a key secret defined later" \
	--object "secret,id=s0,data=$ENC,keyid=s1,iv=$IV,format=base64" --object secret,id=s1,data=x
unlock "encrypted, a key not of 32 bytes" --object secret,id=s1,data=short \
	--object "secret,id=s0,data=$ENC,keyid=s1,iv=$IV,format=base64"
unlock "encrypted, a base64 master key" \
	--object "secret,id=m2,data=$(base64 -w0 master.key),format=base64" \
	--object "secret,id=s0,data=$ENC,keyid=m2,iv=$IV,format=base64"
unlock "encrypted, empty data" --object "secret,id=s0,data=,keyid=mk,iv=$IV"
unlock "encrypted, neither data nor file" --object "secret,id=s0,keyid=mk,iv=$IV"
unlock "JSON: an encrypted secret" \
	--object "{\"qom-type\":\"secret\",\"id\":\"s0\",\"data\":\"$ENC\",\"keyid\":\"mk\",\"iv\":\"$IV\",\"format\":\"base64\"}"
# create with an encrypted secret; the plain passphrase opens the image
same "create with an encrypted secret" create -q -f luks --object secret,id=mk,file=../master.key \
	--object "secret,id=s0,data=$ENC,keyid=mk,iv=$IV,format=base64" \
	-o key-secret=s0,iter-time=10 n.luks 1M
ok "create with an encrypted secret: the passphrase opens it" "$QEMU_IO" -c 'read 0 512' \
	--object secret,id=p,data=passw0rd --image-opts driver=luks,key-secret=p,file.filename="$G/n.luks"

# --- secret_keyring ---------------------------------------------------------------------
same "secret_keyring,help" info --object secret_keyring,help ../k.luks
same "secret_keyring without serial" info --object secret_keyring,id=s0 ../k.luks
same "secret_keyring without id" info --object secret_keyring,serial=1 ../k.luks
same "secret_keyring, a text serial" info --object secret_keyring,id=s0,serial=abc ../k.luks
same "secret_keyring, a serial past 32 bits" info --object secret_keyring,id=s0,serial=4294967296 ../k.luks
same "secret_keyring, a serial below 32 bits" info --object secret_keyring,id=s0,serial=-2147483649 ../k.luks
same "secret_keyring, data= is not its" info --object secret_keyring,id=s0,serial=1,data=x ../k.luks
same "secret_keyring, JSON serial as text" info \
	--object '{"qom-type":"secret_keyring","id":"s0","serial":"1"}' ../k.luks
if ! command -v keyctl >/dev/null 2>&1 && [ "${CI:-}" != true ]; then
	skip "keyctl (keyutils) not found: no keys in the keyring"
	done_testing
	exit
fi
# A keyring of the suite's own under the user keyring, unlinked at exit;
# keys readable by the user (not only by their possessor).
if ! RING=$(keyctl newring "qimg-secrets-$$" @u 2>"$T/keyctl.err"); then
	# (a container's seccomp filter may refuse the keyring calls)
	skip "the kernel keyring is out of reach: $(head -1 "$T/keyctl.err")"
	done_testing
	exit
fi
unring() { keyctl unlink "$RING" @u; }
at_exit unring
addkey() # NAME DATA: the new key's serial
{
	local k
	k=$(keyctl padd user "$1" "$RING" <"$2") && keyctl setperm "$k" 0x3f3f0000 && echo "$k"
}
printf passw0rd >pw.txt
printf passw0rd | base64 -w0 >pw.b64
K=$(addkey pw pw.txt)
KB=$(addkey pwb pw.b64)
KE=$(addkey pwe enc.bin)
unlock "secret_keyring" --object "secret_keyring,id=s0,serial=$K"
ok "secret_keyring: the image read" cmp "$G/o.raw" ref.raw
unlock "secret_keyring, a hex serial" --object "secret_keyring,id=s0,serial=0x$(printf %x "$K")"
unlock "secret_keyring, base64" --object "secret_keyring,id=s0,serial=$KB,format=base64"
unlock "secret_keyring, raw bytes read as base64" --object "secret_keyring,id=s0,serial=$K,format=base64"
unlock "secret_keyring, encrypted" --object "secret_keyring,id=s0,serial=$KE,keyid=mk,iv=$IV"
unlock "secret_keyring, an unknown key secret" --object "secret_keyring,id=s0,serial=$K,keyid=zz,iv=$IV"
unlock "secret_keyring, no such key" --object "secret_keyring,id=s0,serial=1"
unlock "secret_keyring, JSON" --object "{\"qom-type\":\"secret_keyring\",\"id\":\"s0\",\"serial\":$K}"
# revoked, not unlinked: an unlinked key is freed by the kernel's garbage
# collector a moment later (one tool could still read it, the other not);
# a revoked one fails every read from then on
keyctl revoke "$K" >/dev/null
unlock "secret_keyring, a key revoked" --object "secret_keyring,id=s0,serial=$K"

done_testing
