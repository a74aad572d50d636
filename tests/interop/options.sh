#!/bin/bash
# SPDX-License-Identifier: MIT
# Naming images as QEMU names them: json:{...} pseudo-filenames (QEMU's
# JSON dialect, dotted keys, nested children), --image-opts trees, the
# protocol prefix of a filename (file:, unknown ones), raw offset=/size=,
# file.locking, runtime options refused with qemu-img's texts, and
# --object secret, authz-simple and authz-list definitions; output, errors and exit status against
# qemu-img's, for info, map, check, compare and convert.
. "$(dirname "$0")/lib.sh"

spawn "$QEMU_IMG" create -q -f qcow2 base.qcow2 4M
spawn "$QEMU_IO" -c 'write -P 0x11 0 64k' -c 'write -P 0x22 1M 64k' base.qcow2 \
	>/dev/null
spawn "$QEMU_IMG" create -q -f qcow2 -b base.qcow2 -F qcow2 top.qcow2 4M
spawn "$QEMU_IO" -c 'write -P 0x33 2M 64k' top.qcow2 >/dev/null
head -c 1M /dev/urandom >r.raw
spawn truncate -s 1048575 odd.raw
spawn "$QEMU_IO" -f raw -c 'write 983040 65535' odd.raw >/dev/null
spawn mkdir -p sub
spawn "$QEMU_IMG" create -q -f qcow2 sub/b.qcow2 1M
spawn "$QEMU_IMG" create -q -f qcow2 -b b.qcow2 -F qcow2 sub/t.qcow2 1M
# A name with a colon: reachable only through file: or ./
spawn "$QEMU_IMG" create -q -f qcow2 'file:c:d.qcow2' 1M

# info --output=json takes the open path info takes and prints the same
# image as JSON: quick mode runs it for one item in three.  The "~" items
# are more malformed texts of the kinds before them (a token that cannot
# start a value, a stray character, a key that is no string).
i=0
for j in \
	'{"driver":"qcow2","file":{"driver":"file","filename":"../top.qcow2"}}' \
	'{"driver":"qcow2","file.filename":"../top.qcow2"}' \
	"{'driver':'qcow2','file':{'filename':'../top.qcow2'}}" \
	'{"file":{"driver":"file","filename":"../top.qcow2"}}' \
	'{"driver":"raw","file":{"driver":"file","filename":"../r.raw"},"offset":512,"size":4096}' \
	'{"driver":"raw","file":{"driver":"file","filename":"../r.raw"},"offset":"100"}' \
	'{"driver":"qcow2","file":{"driver":"file","filename":"../top.qcow2"},"backing":null}' \
	'{"driver":"qcow2","file":{"driver":"file","filename":"../top.qcow2"},"cache":{"direct":false,"no-flush":true}}' \
	'{"driver":"qcow2","file":{"driver":"file","filename":"../sub/t.qcow2"}}' \
	'{' '{"a"' '{"a":}' '{"a" 1}' '{1:2}' '{"a":1,}' '{"a":tru}' \
	'{"a":1}x' '{"a":"\q"}' '{"a":[1,2}' '' '[1]' '{"driver": 1}' \
	'{"driver":"bogus"}' '{"filename":"../top.qcow2"}' \
	'{"driver":"qcow2","file":"../top.qcow2"}' \
	'{"driver":"qcow2"}' \
	'{"driver":"qcow2","file":{"driver":"file","filename":"../top.qcow2"},"bogus":1}' \
	'{"driver":"qcow2","file":{"driver":"file","filename":"../top.qcow2","bogus":1}}' \
	'{"driver":"raw","file":{"driver":"file","filename":"../r.raw"},"offset":1.5}' \
	'{"driver":"raw","file":{"driver":"file","filename":"../r.raw"},"offset":2000000}' \
	'{"driver":"raw","file":{"driver":"file","filename":"../r.raw"},"offset":512,"size":1048576}' \
	'{"driver":"raw","file":{"driver":"file","filename":"../r.raw"},"size":1000}' \
	'{"driver":"raw","driver":"raw","file":"../r.raw"}' \
	'{"driver":"raw","file":{"driver":"file","filename":"../r.raw","filename":"x"}}' \
	'{"a":]}' '~{"a"::1}' '{@:1}' '~{"a":1,]}' '{]' '~{"a":{"b":]}}' '[}' \
	'~{[1]:1}' '~{:}' '~{"a":@}'; do
	if alike "$j"; then
		j=$item
		same "info json:$j" info "json:$j"
		quick_pick $i &&
			same "info --output=json json:$j" info --output=json "json:$j"
	fi
	i=$((i + 1))
done

i=0
for o in \
	driver=qcow2,file.filename=../top.qcow2 \
	driver=qcow2,file.driver=file,file.filename=../top.qcow2,file.locking=off \
	driver=qcow2,file.filename=../top.qcow2,lazy-refcounts=on \
	driver=qcow2,file.filename=../top.qcow2,read-only=on,discard=unmap,detect-zeroes=on \
	driver=raw,file.filename=../r.raw,offset=512,size=1024 \
	driver=raw,file.driver=file,file.filename=../r.raw,offset=4096 \
	driver=file,filename=../r.raw \
	file.filename=../top.qcow2 \
	../top.qcow2 \
	driver=qcow2,file.filename=../top.qcow2,bogus=1 \
	driver=qcow2,file.filename=../top.qcow2,file.bogus=1 \
	driver=qcow2 \
	driver=bogus,file.filename=../top.qcow2 \
	driver=raw,file.filename=../r.raw,offset=5000000 \
	driver=raw,file.filename=../r.raw,size=1000 \
	driver=qcow2,file.filename=../top.qcow2,backing.driver=qcow2,backing.file.filename=../base.qcow2; do
	same "info --image-opts $o" info --image-opts "$o"
	# map opens as info does: quick mode maps one in three (a qcow2
	# with its backing file, the raw window, a probed format, refusals)
	quick_pick $((i + 2)) && same "map --image-opts $o" map --image-opts "$o"
	i=$((i + 1))
done
same "map O_DIRECT unaligned raw" map --output=json --image-opts \
	driver=raw,file.driver=file,file.filename=../odd.raw,cache.direct=on
same "check --image-opts" check --image-opts driver=qcow2,file.filename=../top.qcow2
same "compare json: vs file" compare \
	'json:{"driver":"qcow2","file":{"filename":"../top.qcow2"}}' ../top.qcow2
same "compare --image-opts window" compare --image-opts \
	driver=raw,file.filename=../r.raw,offset=65536,size=65536 \
	driver=raw,file.filename=../r.raw,offset=65536,size=65536
same "-U with force-share option" info -U --image-opts \
	driver=qcow2,file.filename=../top.qcow2,force-share=off
same "--image-opts with -f" info -f qcow2 --image-opts driver=qcow2,file.filename=../top.qcow2
# A file name inside options is a plain file name: no protocol prefix is
# parsed there (only in a name given as text).
for fn in 'nbd+unix:///x?socket=/nonexistent/s' nbd:localhost:1 ssh://h/x file:../top.qcow2; do
	same "a protocol-looking file.filename ($fn)" info --image-opts "driver=raw,file.filename=$fn"
	same "a protocol-looking json: file.filename ($fn)" info "json:{\"file\":{\"filename\":\"$fn\"}}"
done
same "a protocol-looking --image-opts file.filename, no driver" info --image-opts \
	'file.filename=nbd:localhost:1'

# Protocol prefixes
same "info file:NAME with a colon" info 'file:../c:d.qcow2'
same "info ./NAME with a colon" info './../c:d.qcow2'
same "info unknown protocol" info 'c:d.qcow2'
same "create file:NAME" create -f qcow2 'file:n:1.qcow2' 1M
same "info of created file:NAME" info 'file:n:1.qcow2'
same "create with an unknown protocol" create -f qcow2 'zz:n.qcow2' 1M

# convert from json:/--image-opts sources; the result read back by qemu-img
for who in e g; do
	if [ $who = e ]; then dir=$E; tool=$QEMU_IMG; else dir=$G; tool=$QIMG; fi
	(cd "$dir" && "$tool" convert -O qcow2 \
		'json:{"driver":"raw","file":{"driver":"file","filename":"../r.raw"},"offset":65536,"size":131072}' \
		win.qcow2) >/dev/null 2>&1
done
ok "convert of a raw window: qemu-img reads the same data" \
	"$QEMU_IMG" compare -q "$E/win.qcow2" "$G/win.qcow2"
ok "convert of a raw window: check clean" check_clean "$G/win.qcow2"

# --object
for a in "secret,id=s,data=x" "secret,id=s,data=x --object secret,id=s,data=y" \
	"secret,id=s,file=/nonexistent" "secret,id=s,data=x,format=bogus" \
	"secret,id=s,data=x,bogus=1" "secret,id=s,data=x,file=../r.raw" \
	"secret,id=s,data=x,keyid=k" "secret,id=1s,data=x" \
	"secret,id=s,data=x,iv=a" "secret,help" "bogus,id=x" "id=x" \
	"secret,data=x" "secret,id=s,data=eA==,format=base64"; do
	# shellcheck disable=SC2086
	same "--object $a" info --object $a ../base.qcow2
done
# base64 secrets: newlines allowed anywhere, other characters refused
# when the object is made, the text decoded as glib decodes it
printf 'eA==\n' >"$T/b64nl"
printf 'e A==' >"$T/b64sp"
printf 'eA\0==' >"$T/b64nul"
printf '\neA=\n=' >"$T/b64nl2"
for f in b64nl b64sp b64nul b64nl2; do
	same "--object secret,file=$f,format=base64" \
		info --object "secret,id=s,file=$T/$f,format=base64" ../base.qcow2
done
ok "a base64 key with newlines decodes to the key" sh -c "
	'$QIMG' create -q -f luks --object secret,id=s,file=$T/b64nl2,format=base64 \
		-o key-secret=s,iter-time=10 '$T/nl.luks' 1M &&
	'$QEMU_IMG' info --object secret,id=s,data=x \
		--image-opts driver=luks,key-secret=s,file.filename='$T/nl.luks' >/dev/null"
# authorization objects (qimg-nbd's --tls-authz): taken and checked as
# qemu-img takes them, in its order and words
while IFS= read -r a; do
	[ -n "$a" ] || continue
	alike "$a" || continue
	same "--object $item" info --object "$item" ../base.qcow2
done <<'EOF2'
authz-simple,id=a,identity=O=qimg,,CN=x
authz-simple,id=a
authz-simple,identity=x
authz-simple,id=a,identity=x,foo=1
authz-simple,id=1a,identity=x
authz-simple,id=1a,identity=x,foo=2
authz-simple,id=a,identity=x,qom-type=authz-list
qom-type=authz-simple,id=a,identity=b
authz-simple,foo
authz-simple,help
authz-list,help
authz-list,id=a
authz-list,id=a,policy=maybe
authz-list,id=a,policy=allow,rules.0.match=O=*,rules.0.policy=deny,rules.0.format=glob,rules.1.match=x,rules.1.policy=allow
authz-list,id=a,rules.0.match=x
authz-list,id=a,rules.0.policy=allow
authz-list,id=a,rules.0.policy=allw,rules.0.match=x
authz-list,id=a,rules.0.policy=allow,rules.0.match=x,rules.0.format=re
authz-list,id=a,rules.0.policy=allow,rules.0.match=x,rules.0.foo=1
authz-list,id=a,rules.1.match=x
~authz-list,id=a,rules.0.match=x,rules.0.policy=deny,rules.2.match=y
~authz-list,id=a,rules.99999999999999999999999.match=x
authz-list,id=a,rules=x
~authz-list,id=a,rules.x.match=y
authz-list,id=a,rules.0=x
authz-list,id=a,policy=allow,foo=1,rules.0.match=x
authz-list,id=a,foo=1,policy=maybe
authz-list,id=a,rules.0.foo=1,rules.0.match=x,rules.0.policy=deny,rules.0.format=bad
authz-list-file,id=a,filename=x
authz-pam,id=a,service=login
authz-pam,id=a
~authz-pam,id=a,service=a,foo=1
authz-listfile,id=x,filename=f,refresh=maybe
~authz-listfile,id=x,filename=f,foo=1
authz-listfile,id=x,filename=f,refresh=on
authz-listfile,id=x
EOF2
# the JSON form: the same objects, values' JSON types checked
while IFS= read -r a; do
	[ -n "$a" ] || continue
	alike "$a" || continue
	same "--object $item" info --object "$item" ../base.qcow2
done <<'EOF2'
{"qom-type":"secret","id":"s","data":"x"}
{"qom-type":"secret","id":"s"
{"qom-type":"secret","id":"s","data":1}
{"id":"s","data":"x"}
{"qom-type":"secret","id":"s","data":"x,y"}
{"qom-type":"secret","id":"s","data":"x","foo":1}
{"qom-type":"secret","id":"s","data":"x","loaded":"on"}
{"qom-type":"secret","id":"s","data":"x","data":"y"}
{"qom-type":"secret","id":"s","data":"eA==","format":"base64"}
{"qom-type":"authz-list","id":"a","rules":[{"match":"x","policy":"allow"}]}
{"qom-type":"authz-list","id":"a","rules":[{"match":"x"}]}
{"qom-type":"authz-list","id":"a","rules":{"match":"x"}}
{"qom-type":"authz-list","id":"a","rules":[1]}
{"qom-type":"authz-list","id":"a","rules":[{"match":"x","policy":"allow","foo":1}]}
{"qom-type":"authz-list","id":"a","rules":[{"match":1,"policy":"allow"}]}
{"qom-type":"authz-list","id":"a","rules":[{"match":"x","policy":"allw"}]}
{"qom-type":"authz-list","id":"a","rules":[{"match":"x","policy":"allow","format":"re"}]}
~{"qom-type":"authz-list","id":"a","policy":true}
{"qom-type":"authz-simple","id":1,"identity":"x"}
{"qom-type":"authz-simple","id":"a","identity":null}
{"qom-type":"authz-simple","id":"1a","identity":"x"}
{"qom-type":1,"id":"a"}
{"qom-type":"bogus","id":"s"}
~{}
EOF2
for vp in '"on"' true; do
	same "--object JSON tls-creds-x509, verify-peer $vp" info --object \
		'{"qom-type":"tls-creds-x509","id":"t","dir":"/nonexistent","endpoint":"server","verify-peer":'"$vp"'}' \
		../base.qcow2
done
# a JSON secret at work: a LUKS image made with it, read by qemu-img with
# the text form
spawn rm -f "$G/j.luks"
spawn -C "$G" "$QIMG" create --object '{"qom-type":"secret","id":"s","data":"pw,1"}' \
	-f luks -o key-secret=s,iter-time=10 j.luks 1M >/dev/null 2>&1
spawn "$QEMU_IO" --object secret,id=s,data=pw,,1 --image-opts \
	"driver=luks,key-secret=s,file.filename=$G/j.luks" -c "read -q 0 512"
j_luks_ok=$?
ok "--object JSON: a LUKS image with its secret, unlocked by qemu-io" \
	test $j_luks_ok = 0
! spawn "$QEMU_IO" --object secret,id=s,data=pw --image-opts \
	"driver=luks,key-secret=s,file.filename=$G/j.luks" -c "read 0 512" \
	>/dev/null 2>&1
ok "--object JSON: ... and not with another key (the line above can fail)" \
	test $? = 0
# ",," inside a value is part of it: here data is "pw,1,id=evil" and the
# id is s.  The image: the one just made with the key "pw,1", when
# qemu-io unlocked it with that key (qemu-img's own LUKS create measures
# its key derivation for a second and a half of processor time).
spawn rm -f j.luks
if [ "$j_luks_ok" = 0 ]; then
	spawn cp "$G/j.luks" j.luks
else
	for i in 1 2 3 4 5 6; do
		spawn rm -f j.luks
		spawn "$QEMU_IMG" create -q --object secret,id=s,data=pw,,1 -f luks \
			-o key-secret=s,iter-time=10 j.luks 1M 2>/dev/null && break
	done
fi
for sec in "secret,data=pw,,1,,id=evil,id=s" "secret,data=pw,,1,id=s"; do
	same "--object $sec: the secret's id and data" compare --object "$sec" \
		--image-opts "driver=luks,key-secret=s,file.filename=../j.luks" \
		"driver=luks,key-secret=s,file.filename=../j.luks"
done
same "--object: an authz id taken by a secret" info --object secret,id=a,data=x \
	--object authz-simple,id=a,identity=x ../base.qcow2
same "--object: a secret id taken by an authz" info \
	--object authz-list,id=a --object secret,id=a,data=x ../base.qcow2

# ssh takes its options as a typed record: an unknown key is
# "Parameter 'X' is unexpected" (no server needed: refused before connecting)
same "ssh: unknown option, json:" info 'json:{"driver":"raw","file":{"driver":"ssh","host":"localhost","path":"/x","bogus":1}}'
same "ssh: unknown option, --image-opts" info --image-opts driver=ssh,bogus=1,path=/x,host=localhost
same "null-co: unknown option" info --image-opts driver=null-co,bogus=1

# create -o help lists the options of the protocol the filename names
for a in ssh://localhost/x nbd://localhost/x blkdebug::x null-co:// foo://x/y plain.img '~file:plain.img'; do
	alike "$a" || continue
	same "create -o help for $item" create -f qcow2 -o help "$item"
done

# An unknown option is named after the open failed for another reason (a
# missing file, a wrong header), or, for a typed record (ssh, nfs), after
# its missing and mistyped members; the first in QEMU's dict order.
spawn "$QEMU_IMG" create -q -f raw opt.raw 1M
same "unknown option after a missing file" info --image-opts driver=raw,file.filename=none,file.foo=1
same "unknown option after a wrong header" info --image-opts driver=qcow2,file.filename=../opt.raw,foo=1
same "which unknown option" info --image-opts driver=raw,file.filename=../opt.raw,zzz=1,bar=2,aaa=3
for j in '{"driver":"ssh","bogus":1}' '{"driver":"ssh","server":{"host":"h"},"bogus":1}' \
	'{"driver":"ssh","server":{"host":"h","port":"22"},"path":"/x","bogus":1}' \
	'{"driver":"nfs","bogus":1}' '{"driver":"nfs","server":{"host":"h","type":"inet"},"bogus":1}' \
	'{"driver":"nfs","server":{"host":"h","type":"inet"},"path":"/x","user":"a","bogus":1}'; do
	same "typed record: $j" info "json:$j"
done

# A protocol named as the format over a name that is not its own: QEMU's
# URI parser tells a wrong scheme from a malformed name and a missing host.
# Quick mode: per protocol the names that tell its messages apart (a
# wrong scheme, a name that is no URI, a missing host or path), every
# name for one protocol at least.
for f in ssh nfs nbd; do
	case $f in
	ssh) want=" x.img ssh:foo a b " ;;
	nfs) want=" ssh:/x nfs:x nfs://h %zz " ;;
	nbd) want=" x.img http://x/y " ;;
	esac
	for n in x.img ssh:foo ssh:/x 'a b' http://x/y nfs:x nfs://h %zz; do
		whole || [[ $want == *" $n "* ]] || continue
		same "-f $f '$n'" info -f $f "$n"
	done
done
same "-f blkdebug without its prefix" info -f blkdebug ../base.qcow2
for o in driver=quorum driver=quorum,vote-threshold=0 driver=quorum,vote-threshold=2 \
	driver=quorum,children.0.file.filename=../nonexist,vote-threshold=2; do
	same "quorum counts its children first: $o" info --image-opts "$o"
done

# JSON numbers as QEMU's lexer and parser take them: an integer int64 or
# uint64 holds is one, any other number a double, whose text an option
# given one reads (%.17g: 1e3 is 1000, 0.1 is 0.10000000000000001); a
# character no token can take, before the value's brackets balance, is a
# "stray" token whatever the parser would say of what came before it.
# The "~" items are more texts of the kinds before them.
RJ='"driver":"raw","file":{"driver":"file","filename":"../r.raw"'
for j in "{$RJ},\"offset\":1e3}" "~{$RJ},\"offset\":1.0}" "~{$RJ},\"offset\":1E+2}" \
	"~{$RJ},\"offset\":1e-400}" "{$RJ},\"offset\":123456789012345678901234}" \
	"~{$RJ},\"offset\":-2e400}" "{$RJ,\"locking\":0.1}}" "~{$RJ,\"locking\":1e300}}" \
	"~{$RJ,\"locking\":2e400}}" "~{$RJ,\"locking\":-0.0}}" "~{$RJ,\"locking\":1e16}}" \
	"~{$RJ,\"locking\":1e17}}" "~{$RJ,\"locking\":2e-5}}" \
	'{"a":1.}' '~{"a":1e}' '~{"a":1e+}' '~{"a":-}' '~{"a":1.e5}' '~{"a":-x}' \
	'~{"a":--1}' '~{"a":1ee2}' '~{"a":01.5}' '~1.' '{"a":1.5x}' '~{"a":1e5e}' \
	'{"a":1.5.5}' '~{"a":1 @}' '~{"a":1 X}' '~[1 %]' '~{"a" @}' '{"a":X}' \
	'~{"a":tRue}' '~{"a":a_b}' '{"a":a1}' '{"a":"x	y"}' '~{"a":"b' \
	'~{"a":"b @' '{"a":[1,2} @' '{} @' "~{'a':'b"; do
	if alike "$j"; then
		same "numbers and stray tokens: json:$item" info "json:$item"
	fi
done

# The file protocol's options in qemu-img's order: the name (text only:
# json:{"filename": 5} names none), aio's value, locking (on, off, auto),
# the pr-manager named, aio=native's need of O_DIRECT.
for o in ',"locking":"x"' '~,"locking":"OFF"' '~,"locking":5' '~,"locking":true' \
	',"aio":"native","locking":"x"' '~,"aio":"bad","locking":"x"' \
	',"pr-manager":"nope"' '~,"locking":"x","pr-manager":"nope"' \
	'~,"aio":"native","pr-manager":"nope"' ',"locking":"on"'; do
	if alike "$o"; then
		same "file options: $item" info "json:{$RJ$item}}"
	fi
done
for v in 5 0.1 true null '{}' '[]'; do
	same "file name $v" info "json:{\"driver\":\"raw\",\"file\":{\"driver\":\"file\",\"filename\":$v}}"
done
same "pr-manager naming a secret" info --object secret,id=sec,data=x \
	--image-opts driver=file,filename=../r.raw,pr-manager=sec

# What the block layer checks of every node before its driver opens it,
# in QEMU's order: the types of the options every node takes, the file
# name a driver needs, discard, detect-zeroes, node-name; then the driver's
# own options.
QJ='"driver":"qcow2","file":{"driver":"file","filename":"../base.qcow2"}'
for o in '"discard":"bad"' '~"discard":5' '"detect-zeroes":"bad"' \
	'"detect-zeroes":"unmap"' '~"detect-zeroes":"unmap","discard":"ignore"' \
	'"detect-zeroes":"unmap","discard":"on"' '~"detect-zeroes":true,"discard":true' \
	'"node-name":"1x"' '~"node-name":""' '~"node-name":"a b"' '~"node-name":1.5' \
	'"node-name":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"' '"node-name":"a-b.c_D1"' \
	'"node-name":"1x","discard":"bad"' '~"node-name":"1x","read-only":"bad"' \
	'"node-name":"1x","l2-cache-size":"bad"' '~"node-name":"1x","bogus":1'; do
	if alike "$o"; then
		same "every node: $item" info "json:{$QJ,$item}"
	fi
done
for j in '{"driver":"file","filename":"","discard":"bad"}' \
	'{"driver":"file","filename":"../r.raw","discard":"bad","locking":"x"}' \
	'{"driver":"file","filename":"../nonexist","node-name":"1x"}' \
	'{"driver":"host_device","filename":"","node-name":"1x"}'; do
	same "every node: $j" info "json:$j"
done

# qcow2's runtime options as QEMU judges them at open, in its order (their
# types, the cache sizes and how they add up, the entry size, the clean
# interval, lazy refcounts on a version 2 image, overlap-check, the
# encryption format), before the data file and the key.
spawn "$QEMU_IMG" create -q -f qcow2 -o compat=0.10 v2.qcow2 4M
for o in 'overlap-check=bogus' '~overlap-check.template=x' '~overlap-check.template=CACHED' \
	'overlap-check=none,overlap-check.template=all' '~overlap-check=all,overlap-check.template=all' \
	'~overlap-check.template=constant,overlap-check.main-header=off' \
	'cache-size=1M,l2-cache-size=1M,refcount-cache-size=1M' '~cache-size=1M,l2-cache-size=2M' \
	'~cache-size=1M,refcount-cache-size=2M' '~cache-size=1M,l2-cache-size=512k' '~cache-size=0' \
	'cache-size=300T' '~cache-size=300T,refcount-cache-size=1M' '~cache-size=300T,l2-cache-size=1M' \
	'~refcount-cache-size=200T' '~l2-cache-size=200T' '~cache-size=16k,l2-cache-entry-size=512' \
	'l2-cache-entry-size=1000' '~l2-cache-entry-size=511' '~l2-cache-entry-size=128k' \
	'~l2-cache-entry-size=512' '~cache-size=1M,l2-cache-entry-size=1000' \
	'~l2-cache-entry-size=1000,cache-size=1M,refcount-cache-size=2M' \
	'cache-clean-interval=-1' '~cache-clean-interval=4294967296' '~cache-clean-interval=4294967295' \
	'~cache-clean-interval=1.5' 'lazy-refcounts=on' '~lazy-refcounts=on,overlap-check=x' \
	'~lazy-refcounts=on,cache-clean-interval=-1' 'overlap-check=x,encrypt.format=aes' \
	'~encrypt.format=aes,cache-size=1M,refcount-cache-size=2M'; do
	if alike "$o"; then
		same "qcow2 options: $item" info --image-opts "driver=qcow2,file.filename=../base.qcow2,$item"
		# (a version 2 image differs in lazy refcounts alone)
		case $item in *lazy*)
			same "qcow2 options, version 2: $item" info --image-opts "driver=qcow2,file.filename=../v2.qcow2,$item" ;;
		esac
	fi
done
# lazy-refcounts=on is used: the image is written with lazy refcounts
# (the dirty bit while open) and left clean
for d in "$E" "$G"; do
	spawn "$QEMU_IMG" create -q -f qcow2 "$d/lazy.qcow2" 4M
done
same "qcow2 options: writing with lazy-refcounts=on" convert -n \
	--target-image-opts ../base.qcow2 driver=qcow2,lazy-refcounts=on,file.filename=lazy.qcow2
ok "qcow2 options: writing with lazy-refcounts=on: clean" check_clean "$G/lazy.qcow2"
ok "qcow2 options: writing with lazy-refcounts=on: the data" \
	"$QEMU_IMG" compare -q base.qcow2 "$G/lazy.qcow2"

# info_and_check DESC CASE...: `info` of each --image-opts text against
# qemu-img's, and `check` (which opens the backing chain).  A CASE starting
# with ~ runs only in whole runs or when quick_pick takes it, and then
# without `check` in quick runs.
info_and_check()
{
	local d=$1 o
	shift
	for o in "$@"; do
		if alike "$o"; then
			same "$d: info $item" info --image-opts "$item"
			if whole || [ "$o" = "$item" ]; then
				same "$d: check $item" check --image-opts "$item"
			fi
		fi
	done
}

# A key given both as a value and with sub-keys keeps both, as QEMU's flat
# options do, for the node to judge: a child named by reference and by
# options (file, data-file, backing), qcow2's overlap-check and its
# template, "backing": "" (QEMU's deprecated null, with its warning).
spawn "$QEMU_IMG" create -q -f qcow2 -o data_file=df.raw df.qcow2 1M
info_and_check "value and sub-keys" 'driver=qcow2,file=x,file.filename=../base.qcow2' \
	'~driver=qcow2,file.filename=../base.qcow2,file=x' \
	'~driver=raw,file=x,file.driver=file,file.filename=../r.raw' \
	'driver=qcow2,file.filename=../top.qcow2,backing=x,backing.driver=raw' \
	'~driver=qcow2,file.filename=../top.qcow2,backing.driver=raw,backing=x' \
	'driver=qcow2,file.filename=../top.qcow2,backing=,backing.driver=raw' \
	'driver=qcow2,file.filename=../top.qcow2,backing=' \
	'~driver=qcow2,file.filename=../nonexist,backing=' \
	'driver=qcow2,file.filename=../df.qcow2,data-file=x,data-file.filename=y' \
	'~driver=qcow2,file.filename=../base.qcow2,cache=x,cache.direct=on' \
	'~driver=qcow2,file.filename=../base.qcow2,cache.direct=on,cache=x' \
	'~driver=qcow2,file.filename=../base.qcow2,overlap-check.template=x,overlap-check=none'
same "value and sub-keys: json" info \
	'json:{"driver":"qcow2","file":{"filename":"../base.qcow2"},"overlap-check":"none","overlap-check.template":"x"}'
same "value and sub-keys: json backing \"\"" info \
	'json:{"driver":"qcow2","file":{"filename":"../top.qcow2"},"backing":""}'

# Children given by options alone: a filter's children that are probed
# (quorum's, blkverify's) need a driver or a file; blkdebug's image is a
# protocol node (image.filename is a file), and blkdebug shows its image's
# cluster size and dirty flag; a format over a format is named by json.
for o in 'driver=quorum,vote-threshold=1,children.0.filename=../base.qcow2' \
	'~driver=blkverify,test.filename=../base.qcow2,raw.filename=../r.raw' \
	'driver=blkdebug,image.filename=../base.qcow2' \
	'~driver=blkdebug,image.filename=../nonexist,align=3' \
	'driver=blkdebug,image.driver=qcow2,image.file.filename=../base.qcow2' \
	'~driver=blkdebug,image.driver=raw,image.file.filename=../r.raw' \
	'driver=raw,file.driver=qcow2,file.file.filename=../base.qcow2' \
	'~driver=qcow2,file.driver=blkdebug,file.image.filename=../base.qcow2'; do
	if alike "$o"; then
		same "children by options: $item" info --image-opts "$item"
		same "children by options, json: $item" info --output=json --image-opts "$item"
	fi
done

# Backing options where no backing node takes them, in QEMU's words and
# order: "backing": "" or null opens no chain on any node (other backing
# options are then nobody's); a driver without backing files refuses
# backing options when the chain opens ("Driver doesn't support backing
# files"); what nobody took is refused once the chain opened (a backing
# file's failure comes first), the first in QEMU's dict order; a reference
# that names no node is the backing file's failure.
info_and_check "backing options nobody takes" 'driver=raw,file.filename=../r.raw,backing=' \
	'~driver=raw,file.filename=../r.raw,backing.driver=raw,backing=' \
	'~driver=file,filename=../r.raw,backing=' \
	'driver=raw,file.filename=../r.raw,backing.driver=raw' \
	'~driver=null-co,backing.node-name=x' \
	'~driver=preallocate,file.filename=../r.raw,backing.driver=raw' \
	'driver=qcow2,file.filename=../base.qcow2,backing=x' \
	'driver=qcow2,file.filename=../top.qcow2,backing=x,bogus=1' \
	'~driver=qcow2,file.filename=../top.qcow2,bogus=1,zzz=2' \
	'~driver=qcow2,file.filename=../top.qcow2,backing.driver=qcow2,bogus=1' \
	'~driver=qcow2,file.filename=../top.qcow2,backing.bogus=1' \
	'~driver=vmdk,file.filename=../base.qcow2,backing.driver=raw,backing=' \
	'driver=snapshot-access,file.driver=qcow2,file.file.filename=../base.qcow2'
same "backing options nobody takes: json null on raw" info \
	'json:{"driver":"raw","file":{"filename":"../r.raw"},"backing":null}'
same "vdi: the image size is judged before the signature" info \
	--image-opts driver=vdi,file.filename=../base.qcow2

# Node names: one set per process, as QEMU keeps them.  A node's name is
# taken after its own checks (discard, detect-zeroes, the name's form) and
# before its driver opens; its file opens first.  Every node a command
# opens is in the set: two sources, a target, a new backing file.
NB='"file":{"driver":"file","filename":"../base.qcow2"'
same "node names: a node and its file alike" \
	info "json:{\"driver\":\"qcow2\",\"node-name\":\"n\",$NB,\"node-name\":\"n\"}}"
same "node names: the node's discard before its name" \
	info "json:{\"driver\":\"qcow2\",\"node-name\":\"n\",\"discard\":\"bad\",$NB,\"node-name\":\"n\"}}"
same "node names: the file's name is taken first" \
	info "json:{\"driver\":\"qcow2\",\"node-name\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\",$NB,\"node-name\":\"n\"}}"
same "node names: the backing node named as its overlay" \
	commit --image-opts driver=qcow2,node-name=n,file.filename=../top.qcow2,backing.node-name=n
same "node names: two convert sources alike" convert -O raw --image-opts \
	driver=qcow2,node-name=s,file.filename=../base.qcow2 \
	driver=qcow2,node-name=s,file.filename=../top.qcow2 out.raw
same "node names: two convert sources' files alike" convert -O raw --image-opts \
	driver=qcow2,file.filename=../base.qcow2,file.node-name=f \
	driver=qcow2,file.filename=../top.qcow2,file.node-name=f out.raw
same "node names: two convert sources named apart" convert -O raw --image-opts \
	driver=qcow2,node-name=s,file.filename=../base.qcow2 \
	driver=qcow2,node-name=t,file.filename=../top.qcow2 out.raw
same_file "node names: two convert sources named apart" out.raw
same "node names: compare's images alike" compare --image-opts \
	driver=qcow2,node-name=s,file.filename=../base.qcow2 \
	driver=qcow2,node-name=s,file.filename=../top.qcow2
same "node names: a source's backing named as the other source" compare --image-opts \
	driver=qcow2,node-name=s,file.filename=../base.qcow2 \
	driver=qcow2,file.filename=../top.qcow2,backing.node-name=s
for d in "$E" "$G"; do
	spawn "$QEMU_IMG" create -q -f qcow2 "$d/t.qcow2" 4M
done
same "node names: convert's target named as its source" convert -n \
	--image-opts --target-image-opts \
	driver=qcow2,node-name=s,file.filename=../base.qcow2 \
	driver=qcow2,node-name=s,file.filename=t.qcow2
same "node names: rebase's new backing named as the image" rebase -F qcow2 \
	-b 'json:{"driver":"qcow2","node-name":"n","file":{"filename":"../base.qcow2"}}' \
	--image-opts driver=qcow2,node-name=n,file.filename=../top.qcow2
same "node names: rebase's new backing named as the old one" rebase -F qcow2 \
	-b 'json:{"driver":"qcow2","node-name":"b","file":{"filename":"../base.qcow2"}}' \
	--image-opts driver=qcow2,file.filename=../top.qcow2,backing.node-name=b
# commit opens the backing file again, read-write, under the names it had
for d in "$E" "$G"; do
	spawn cp base.qcow2 top.qcow2 "$d/"
done
same "node names: commit reopens named nodes" commit --image-opts \
	driver=qcow2,node-name=t,file.filename=top.qcow2,backing.node-name=b,backing.file.node-name=bf
ok "node names: commit reopens named nodes: the data committed" \
	"$QEMU_IMG" compare -q "$E/base.qcow2" "$G/base.qcow2"
ok "node names: commit reopens named nodes: the top's data in the base" \
	"$QEMU_IMG" compare -q "$G/base.qcow2" top.qcow2

done_testing
