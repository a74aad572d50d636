#!/bin/bash
# SPDX-License-Identifier: MIT
# The luks format against qemu-img 7.2, qemu-io and cryptsetup.  create:
# the Formatting line, option errors and the header layout (random fields
# set apart) for every cipher/mode/IV generator qemu-img accepts (a sample
# under QIMG_QUICK=1); images qemu-img made read by qimg and images qimg
# made (and wrote) read by qemu-img; info (text, JSON), map, check,
# measure, resize, compare; missing secrets, wrong passphrases and damaged
# headers (one line, the file unchanged); key slots amended by one tool and
# used by the other; cryptsetup reads qimg's headers and unlocks them, and
# qimg reads a volume cryptsetup made.
. "$(dirname "$0")/lib.sh"

have_qimg || skip_all "no qimg binary at $QIMG"
command -v perl >/dev/null || skip_all "perl not found"
CRYPTSETUP=$(command -v cryptsetup || true)

S="--object secret,id=s,data=pw"
SN="--object secret,id=n,data=new"
SX="--object secret,id=x,data=bad"

# io IMG: --image-opts of luks image IMG opened with secret s.
io() { echo "driver=luks,key-secret=s,file.filename=$1"; }

# qemu-img fails a LUKS create now and then with "Unable to get accurate
# CPU usage" (its timer): try again.
qemu_create()
{
	local i
	for i in 1 2 3 4 5 6; do
		spawn "$QEMU_IMG" create -q "$@" 2>"$R/qc.err" && return 0
		grep -q "accurate CPU usage" "$R/qc.err" || break
	done
	cat "$R/qc.err" >&2
	return 1
}

# masked FILE: the header of FILE with its random fields zeroed (master-key
# digest, salt, iterations, UUID, each slot's iterations and salt), and the
# file length, as a checksum.
masked()
{
	spawn perl -e 'open(my $f, "<:raw", $ARGV[0]) or die; my $h;
		read($f, $h, 592) == 592 or die;
		substr($h, 112, 96) = "\0" x 96;
		for my $i (0 .. 7) { substr($h, 208 + 48 * $i + 4, 36) = "\0" x 36; }
		print $h, -s $ARGV[0]' "$1" | cksum
}

mkpattern pat.raw 192

# qemu-img's LUKS key derivation flakes now and then: retried.
retry_qemu_img_flake
PAT="driver=raw,file.filename=$T/pat.raw"

# norm_random: what differs between two images made apart (UUID,
# iteration counts), out of info's output.
norm_random()
{
	sed -e 's/^\( *\)uuid: .*/\1uuid: X/' -e 's/"uuid": ".*"/"uuid": "X"/' \
		-e 's/iters: [0-9]*/iters: N/' -e 's/-iters": [0-9]*/-iters": N/' \
		-e 's/"iters": [0-9]*/"iters": N/' | norm_size
}

# --- help and option errors ---------------------------------------------
same "create -o help" create -f luks -o help
same "amend -o help" amend -f luks -o help
for o in cipher-alg=foo cipher-mode=foo ivgen-alg=foo ivgen-hash-alg=foo \
	hash-alg=foo iter-time=foo cipher-alg=des cipher-alg=3des \
	cipher-alg=cast5-128,cipher-mode=xts \
	cipher-alg=aes-128,ivgen-alg=essiv,ivgen-hash-alg=sha512 \
	cipher-alg=cast5-128,cipher-mode=cbc,ivgen-alg=essiv \
	ivgen-alg=essiv,ivgen-hash-alg=sha1 key-secret=nope \
	key-secret=nope,cipher-alg=des hash-alg=foo,cipher-alg=foo \
	cipher-alg=des,hash-alg=foo preallocation=foo; do
	same "create $o refused" create $S -f luks -o "key-secret=s,$o" x.luks 1M
	same_file "create $o" x.luks
done
same "create without key-secret" create -f luks -o iter-time=1 x.luks 1M
same_file "create without key-secret" x.luks
same "create bad option before the missing secret" create -f luks \
	-o cipher-alg=foo x.luks 1M

# --- every cipher/mode/IV generator: qemu-img's image read by qimg, qimg's
# image read by qemu-img, same header layout ------------------------------
combos=()
for a in aes-128 aes-192 aes-256 cast5-128 serpent-128 serpent-192 \
	serpent-256 twofish-128 twofish-192 twofish-256; do
	for m in ecb cbc ctr xts; do
		[ "$a" = cast5-128 ] && [ "$m" = xts ] && continue
		for g in plain plain64 essiv:md5 essiv:sha256; do
			[ "$a" = cast5-128 ] && [ "$g" = essiv:sha256 ] && continue
			combos+=("$a $m $g")
		done
	done
done
i=0
for c in "${combos[@]}"; do
	i=$((i + 1))
	# (make check: aes-192 cbc, cast5-128 ctr, serpent-128 ecb and
	# twofish-128 xts; the images below have aes in xts and cbc modes)
	case $i in
	22 | 55 | 61 | 121) ;;
	*) whole || continue ;;
	esac
	read -r a m g <<<"$c"
	o="key-secret=s,iter-time=1,cipher-alg=$a,cipher-mode=$m"
	case $g in
	essiv:*) o="$o,ivgen-alg=essiv,ivgen-hash-alg=${g#essiv:}" ;;
	*) o="$o,ivgen-alg=$g" ;;
	esac
	spawn rm -f "$E/c.luks" "$G/c.luks" "$G/o.raw" "$E/o.raw"
	# qimg writes: a converted pattern that qemu-img reads back
	if spawn -C "$G" "$QIMG" convert $S -O luks -o "$o" ../pat.raw c.luks; then
		pass "$c: qimg convert to luks"
	else
		fail "$c: qimg convert to luks"
		continue
	fi
	case $a-$m in
	*-192-ecb | *-192-cbc | *-192-ctr)
		# qemu-img 7.2 aborts on key material that is no whole number
		# of sectors; qimg rounds it up as cryptsetup does: read back
		# by qimg (cryptsetup needs device-mapper to try these).
		spawn -C "$G" "$QIMG" convert $S --image-opts "$(io c.luks)" \
			-O raw o.raw
		ok "$c: qimg reads its image back" cmp "$T/pat.raw" "$G/o.raw"
		continue ;;
	esac
	ok "$c: qemu-img reads qimg's image" "$QEMU_IMG" compare $S \
		--image-opts "$(io "$G/c.luks")" "$PAT"
	# (make check: qemu-img's image of serpent-128 ecb alone: its create
	# costs qemu-img two key derivation benchmarks, over 2 s of processor
	# time)
	whole || [ "$i" = 61 ] || continue
	if qemu_create $S -f luks -o "$o" "$E/c.luks" 192K; then
		pass "$c: qemu-img create"
	else
		fail "$c: qemu-img create"
		continue
	fi
	ok "$c: header layout is qemu-img's" \
		test "$(masked "$E/c.luks")" = "$(masked "$G/c.luks")"
	spawn "$QEMU_IO" $S --image-opts "$(io "$E/c.luks")" \
		-c "write -P 0xa5 0 64k" -c "write -P 0x3c 128k 64k" >/dev/null
	spawn -C "$G" "$QIMG" convert $S --image-opts "$(io ../e/c.luks)" \
		-O raw o.raw
	spawn "$QEMU_IMG" convert $S --image-opts "$(io "$E/c.luks")" -O raw "$E/o.raw"
	ok "$c: qimg reads qemu-img's image" cmp "$E/o.raw" "$G/o.raw"
	if [ $((i % 12)) = 1 ]; then
		same "$c: info" info "e/c.luks"
		same "$c: info json" info --output=json "e/c.luks"
	fi
done

# --- an image of each tool, commands compared ---------------------------
qemu_create $S -f luks -o key-secret=s,iter-time=10 "$T/q.luks" 4M
spawn "$QEMU_IO" $S --image-opts "$(io "$T/q.luks")" -c "write -P 0x11 0 1M" \
	-c "write -P 0x22 3M 512k" >/dev/null
spawn -C "$G" "$QIMG" create -q $S -f luks -o key-secret=s,iter-time=10 \
	../m.luks 4M
ok "qimg's image opened by qemu-io" "$QEMU_IO" $S --image-opts \
	"$(io "$T/m.luks")" -c "write -P 0x33 1M 1M" -c "read -P 0x33 1M 1M"
same "create: Formatting line" create $S -f luks -o key-secret=s,iter-time=1,cipher-alg=aes-128,cipher-mode=cbc,ivgen-alg=essiv,ivgen-hash-alg=sha256,hash-alg=sha1,preallocation=off f.luks 1000
NORM=norm_random
same "info of a 1000-byte image" info f.luks
same "info json of a 1000-byte image" info --output=json f.luks
NORM=norm_size
# (make check: none: each LUKS create costs qemu-img two key derivation
# benchmarks, over 2 s of processor time; resize preallocates below)
for p in metadata falloc full; do
	whole || continue
	same "create preallocation=$p" create $S -f luks \
		-o key-secret=s,iter-time=1,preallocation=$p p.luks 2M
	ok "preallocation=$p: file length is qemu-img's" test \
		"$(stat -c %s "$E/p.luks")" = "$(stat -c %s "$G/p.luks")"
done
for f in q.luks m.luks; do
	# (make check: of qimg's image, what reads its header and data; the
	# refusals and the measure, of qemu-img's alone)
	all=
	whole || [ $f = q.luks ] && all=1
	same "$f: info" info ../$f
	same "$f: info json" info --output=json ../$f
	[ -n "$all" ] && same "$f: info -f luks" info -f luks ../$f
	same "$f: info --image-opts" info $S --image-opts "$(io ../$f)"
	if [ -n "$all" ]; then
		same "$f: info with a wrong secret" info $SX --image-opts \
			"driver=luks,key-secret=x,file.filename=../$f"
		same "$f: info with an unknown secret" info --image-opts \
			"driver=luks,key-secret=x,file.filename=../$f"
	fi
	same "$f: map json" map --output=json $S --image-opts "$(io ../$f)"
	[ -n "$all" ] && same "$f: map" map $S --image-opts "$(io ../$f)"
	same "$f: check" check $S --image-opts "$(io ../$f)"
	same "$f: compare with itself" compare $S --image-opts \
		"$(io ../$f)" "$(io ../$f)"
	[ -n "$all" ] || continue
	for cmd in check map "compare ../$f" "convert -O raw" ; do
		# shellcheck disable=SC2086
		same "$f: $cmd without a secret" $cmd ../$f $(
			[ "$cmd" = "convert -O raw" ] && echo x.raw)
	done
	same "$f: wrong passphrase" check $SX --image-opts \
		"driver=luks,key-secret=x,file.filename=../$f"
	same "$f: unknown secret" check --image-opts \
		"driver=luks,key-secret=x,file.filename=../$f"
	# (make check: none: qemu-img's measure of LUKS costs it a key
	# derivation benchmark; qcow2-enc.sh measures a LUKS image)
	whole && same "$f: measure" measure $S -O luks -o key-secret=s,iter-time=1 \
		--image-opts "$(io ../$f)"
done
spawn -C "$G" "$QIMG" convert $S --image-opts "$(io ../q.luks)" -O raw q.raw
spawn "$QEMU_IMG" convert $S --image-opts "$(io "$T/q.luks")" -O raw "$E/q.raw"
ok "qimg convert of qemu-img's image" cmp "$E/q.raw" "$G/q.raw"
same "compare qemu-img's image with its raw copy" compare $S \
	--image-opts "$(io ../q.luks)" "driver=raw,file.filename=e/q.raw"
for o in "-o cipher-alg=aes-128,cipher-mode=cbc --size 1000" "--size 1G" \
	"-o cipher-alg=des --size 1M" "-o cipher-alg=cast5-128,cipher-mode=xts --size 1M"; do
	# (make check: the refusals, for the same reason)
	case $o in
	*cipher-alg=des* | *cast5-128*) ;;
	*) whole || continue ;;
	esac
	# shellcheck disable=SC2086
	same "measure $o" measure $S -O luks -o key-secret=s,iter-time=1 $o
done
same "measure without key-secret" measure -O luks --size 1G
same "measure unknown secret" measure -O luks -o key-secret=y --size 1G

# --- resize --------------------------------------------------------------
for f in q.luks m.luks; do
	# (make check: qemu-img's image alone; both tools resize their own
	# copy of the same file)
	whole || [ $f = q.luks ] || continue
	spawn cp "$T/$f" "$E/r.luks"
	spawn cp "$T/$f" "$G/r.luks"
	same "$f: resize +1M" resize $S --image-opts "$(io r.luks)" +1M
	same "$f: resize metadata" resize --preallocation=metadata $S \
		--image-opts "$(io r.luks)" 8M
	same "$f: resize full" resize --preallocation=full $S \
		--image-opts "$(io r.luks)" 8M
	same "$f: shrink refused" resize $S --image-opts "$(io r.luks)" 1M
	same "$f: shrink" resize --shrink $S --image-opts "$(io r.luks)" 2M
	ok "$f: resized lengths equal" test "$(stat -c %s "$E/r.luks")" = \
		"$(stat -c %s "$G/r.luks")"
	ok "$f: qemu-img reads the resized image" "$QEMU_IMG" compare $S \
		--image-opts "$(io "$E/r.luks")" "$(io "$G/r.luks")"
done

# --- damaged headers: one line, non-zero, file unchanged ----------------
damage=(
	"0 58"                  # magic
	"6 0002"                # version 2
	"8 666f6f00"            # cipher foo
	"40 7874732d666f6f00"   # xts-foo
	"40 666f6f00"           # mode string without '-'
	"40 666f6f2d706c61696e363400" # foo-plain64
	"40 6362632d657373697600"     # cbc-essiv, no hash
	"40 7874732d657373697600"     # xts-essiv, no hash
	"40 7874732d65737369763a7368613100" # xts-essiv:sha1
	"72 73686139393900"     # hash sha999
	"104 00000001"          # payload inside the header
	"104 0000ff00"          # payload past the end of the file
	"108 00000010"          # key bytes 16 (xts: 8)
	"108 00000100"          # key bytes 256: slots overlap
	"108 ffffffff"          # key bytes absurd
	"164 00000000"          # digest iterations 0
	"208 00000001"          # slot state
	"212 00000000"          # slot iterations 0
	"248 00000000"          # slot inside the header
	"248 00000fc0"          # slot over the payload
	"252 00000000"          # stripes 0
	"252 00000fa1"          # stripes 4001
	"256 00000000"          # slot 1 state
	"296 00000000"          # slot 1 at 0: overlaps slot 0
)
# (make check: every damage, of its four commands every third in turn:
# one or two of them)
j=0
for d in "${damage[@]}"; do
	read -r off hex <<<"$d"
	spawn cp "$T/q.luks" "$T/d.luks"
	poke "$T/d.luks" "$off" "$hex"
	sum=$(cksum <"$T/d.luks")
	quick_pick $((j += 1)) &&
		same "damaged @$off=$hex: info" info ../d.luks
	quick_pick $((j += 1)) &&
		same "damaged @$off=$hex: info -f luks" info -f luks ../d.luks
	quick_pick $((j += 1)) &&
		same "damaged @$off=$hex: check" check $S --image-opts "$(io ../d.luks)"
	quick_pick $((j += 1)) &&
		same "damaged @$off=$hex: convert" convert $S --image-opts \
			"$(io ../d.luks)" -O raw x.raw
	unchanged "damaged @$off=$hex" "$T/d.luks" "$sum"
done

# --- amend: errors, and slots added or removed by one tool used by the
# other ------------------------------------------------------------------
SA="$S $SN $SX --object secret,id=e,data="
for a in state=active state=active,new-secret=n,keyslot=0 \
	state=active,new-secret=n,keyslot=9 state=active,new-secret=n,keyslot=-1 \
	state=active,new-secret=n,old-secret=x new-secret=n state=inactive,keyslot=0 \
	state=inactive,new-secret=n,keyslot=1 state=inactive \
	state=inactive,keyslot=3 state=inactive,old-secret=x \
	state=inactive,old-secret=s state=foo keyslot=1 \
	state=inactive,old-secret=x,keyslot=3 state=active,new-secret=zz \
	state=inactive,old-secret=zz cluster_size=4k; do
	spawn cp "$T/q.luks" "$E/a.luks"
	spawn cp "$T/q.luks" "$G/a.luks"
	same "amend $a" amend $SA --image-opts "$(io a.luks)" -o "$a"
	same_file "amend $a" a.luks
done
same "amend without a secret" amend $SA ../q.luks -o state=inactive,keyslot=0
# qimg adds slot 1 (new) to qemu-img's image, qemu-img uses it; qemu-img
# removes slot 0, qimg opens with new only.
spawn cp "$T/q.luks" "$T/k.luks"
ok "qimg adds a key slot" "$QIMG" amend $SA --image-opts "$(io "$T/k.luks")" \
	-o state=active,new-secret=n,iter-time=10
ok "qemu-img opens with the added key" "$QEMU_IMG" compare $SA \
	--image-opts "driver=luks,key-secret=n,file.filename=$T/k.luks" \
	"$(io "$T/q.luks")"
ok "qemu-img removes slot 0" "$QEMU_IMG" amend $SA --image-opts \
	"driver=luks,key-secret=n,file.filename=$T/k.luks" \
	-o state=inactive,keyslot=0
same "qimg: old key refused" check $SA --image-opts "$(io ../k.luks)"
ok "qimg opens with the new key" "$QIMG" compare $SA --image-opts \
	"driver=luks,key-secret=n,file.filename=$T/k.luks" "$(io "$T/q.luks")"
# qemu-img adds slot 5 to qimg's image; qimg removes slot 0 by password,
# then qemu-img opens with slot 5's key only.
spawn cp "$T/m.luks" "$T/k.luks"
ok "qemu-img adds key slot 5" "$QEMU_IMG" amend $SA --image-opts \
	"$(io "$T/k.luks")" -o state=active,new-secret=e,keyslot=5,iter-time=10
ok "qimg removes slot 0 by its password" "$QIMG" amend $SA --image-opts \
	"driver=luks,key-secret=e,file.filename=$T/k.luks" \
	-o state=inactive,old-secret=s
same "info after amends" info ../k.luks
ok "qemu-img opens with slot 5's empty key" "$QEMU_IMG" compare $SA \
	--image-opts "driver=luks,key-secret=e,file.filename=$T/k.luks" \
	"$(io "$T/m.luks")"
ok "qimg --force erases the last slot" "$QIMG" amend --force $SA \
	--image-opts "driver=luks,key-secret=e,file.filename=$T/k.luks" \
	-o state=inactive,keyslot=5
same "no slot left" check $SA --image-opts \
	"driver=luks,key-secret=e,file.filename=../k.luks"

# --- cryptsetup ----------------------------------------------------------
if [ -n "$CRYPTSETUP" ]; then
	dump=$("$CRYPTSETUP" luksDump "$T/m.luks" 2>&1)
	ok "cryptsetup luksDump reads qimg's header" grep -q \
		'^Payload offset:.4040$' <<<"$dump"
	ok "luksDump: cipher" grep -q '^Cipher mode:.*xts-plain64' <<<"$dump"
	ok "luksDump: slot 0 enabled, 4000 stripes" grep -q \
		'AF stripes:.*4000' <<<"$dump"
	ok "cryptsetup unlocks qimg's image" "$CRYPTSETUP" luksOpen \
		--test-passphrase --key-file <(printf pw) "$T/m.luks"
	# cryptsetup's payload starts at 2 MiB: the pattern fills the rest
	spawn truncate -s $((2097152 + 196608)) "$T/cs.img"
	if "$CRYPTSETUP" luksFormat -q --type luks1 --pbkdf-force-iterations \
		1000 --key-file <(printf pw) "$T/cs.img" >/dev/null 2>&1; then
		pass "cryptsetup luksFormat"
		same "cryptsetup volume: info" info ../cs.img
		same "cryptsetup volume: info json" info --output=json ../cs.img
		spawn -C "$G" "$QIMG" convert -n $S ../pat.raw \
			--target-image-opts "$(io ../cs.img)"
		ok "qimg writes cryptsetup's volume, qemu-img reads it" \
			"$QEMU_IMG" compare $S --image-opts "$(io "$T/cs.img")" \
			"$PAT"
		spawn "$QEMU_IO" $S --image-opts "$(io "$T/cs.img")" \
			-c "write -P 0x77 0 64k" >/dev/null
		spawn "$QEMU_IMG" convert $S --image-opts "$(io "$T/cs.img")" -O raw "$E/cs.raw"
		spawn -C "$G" "$QIMG" convert $S --image-opts "$(io ../cs.img)" -O raw cs.raw
		ok "qimg reads cryptsetup's volume" cmp "$E/cs.raw" "$G/cs.raw"
		ok "cryptsetup unlocks it still" "$CRYPTSETUP" luksOpen \
			--test-passphrase --key-file <(printf pw) "$T/cs.img"
	else
		fail "cryptsetup luksFormat"
	fi
else
	skip "cryptsetup not installed"
fi

done_testing
