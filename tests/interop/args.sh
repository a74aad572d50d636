#!/bin/bash
# SPDX-License-Identifier: MIT
# Command-line handling against qemu-img: sizes (reference §1.9 table), bad
# and unknown arguments, missing files, directories, wrong -f.  Messages are
# compared after turning the "qimg:" prefix into "qemu-img:"; exit status
# must be equal; a failed create/convert leaves no output file behind.
. "$(dirname "$0")/lib.sh"

# sz DESC SIZE: raw create with SIZE; output file presence must match.
sz()
{
	spawn rm -f "$E/s.raw" "$G/s.raw"
	if [ "$2" = 9223372036854775807 ]; then
		# Deliberate difference: qemu-img creates the file, then fails
		# to size it ("Could not resize file") and leaves it behind;
		# qimg refuses before creating anything.
		if (cd "$G" && qimg create -f raw s.raw "$2") 2>&1 |
			grep -q "s.raw: The image size is too large for file format 'raw'" &&
			[ ! -e "$G/s.raw" ]; then
			pass "create size '$2': refused before creating the file"
		else
			fail "create size '$2': refused before creating the file"
		fi
		return
	fi
	same "create size '$2'" create -f raw s.raw "$2"
	if [ -e "$E/s.raw" ] || [ ! -e "$G/s.raw" ]; then
		pass "create size '$2': file presence"
	else
		fail "create size '$2': file presence"
		diag "qimg left s.raw behind"
	fi
	if [ -e "$E/s.raw" ] && [ -e "$G/s.raw" ] &&
		[ "$(stat -c %s "$E/s.raw")" != "$(stat -c %s "$G/s.raw")" ]; then
		fail "create size '$2': file length"
		diag "$(stat -c %s "$E/s.raw") vs $(stat -c %s "$G/s.raw")"
	fi
}

# "~": more sizes of a kind an unmarked one stands for (plain numbers,
# suffixes in the other case, sizes refused as malformed or too large)
for s in 0 1 '~511' 512 '~513' 1k '~1K' 1.5k 1.5G 1b '~1B' 100b '~1m' '~1g' '~1t' 0x100 '~0X10' \
	0x1k " 5M" +5M 1.k 1.0001k -1 '~-0' 1.5 '~1.5b' 1kB '~1KiB' 1e3 '~1.5e3k' '~.5k' '~0.5' \
	abc "" "~1 M" '~1z' 8E '~16E' 9223372036854775808 '~18446744073709551615' \
	18446744073709551616 9223372036854775807 0x '~0x10.5k' '~1-2' "5M " \
	"~  5M" 012 '~08'; do
	alike "$s" || continue
	sz "size" "$item"
done

# other size callers
spawn "$QEMU_IMG" create -q -f qcow2 x.qcow2 1M
for s in 4k 1x '~-1' 16E 0x1k '~1.5k'; do
	alike "$s" || continue
	s=$item
	same "map -s '$s'" map -s "$s" ../x.qcow2
	same "map -l '$s'" map -l "$s" ../x.qcow2
	spawn rm -f "$E/o.raw" "$G/o.raw"
	same "convert -S '$s'" convert -S "$s" ../x.qcow2 o.raw
	same "measure --size '$s'" measure --size "$s"
	same "-o size='$s'" create -f qcow2 -o size="$s" y.qcow2
	spawn rm -f "$E/y.qcow2" "$G/y.qcow2"
done

# -r: only values that fail or do not slow down the copy
for s in 1x '~-1' 16E 0x1k 64M; do
	alike "$s" || continue
	s=$item
	spawn rm -f "$E/o.raw" "$G/o.raw"
	same "convert -r '$s'" convert -r "$s" ../x.qcow2 o.raw
done

# top level
same "no arguments"
same "unknown command" foo
same "unknown command with args" foo bar baz
same "unknown top-level option" --bogus
same "unknown top-level short option" -x info
same "--version" --version
same "-V" -V
same "--help" --help
same "-h" -h
same "info -h" info -h
same "convert --help" convert --help
same "trace with no command" -T foo
# -T's events= file is opened once the whole option is taken (the last
# one; a missing one stops qemu-img after the pattern's warning)
same "-T events= a missing file" -T events=/nonexistent info ../x.qcow2
same "-T events= missing, then a bad key" -T events=/nonexistent,foo=bar info ../x.qcow2
same "-T a pattern, then events= missing" -T zz,events=/nonexistent info ../x.qcow2
same "-T two events= files, the last missing" \
	-T events=../x.qcow2,events=/nonexistent info ../x.qcow2

# per-command option errors
# an unknown short option: getopt's message, as for the long one (measure
# prints its own)
for c in info check map compare convert create measure; do
	same "$c --bogus" $c --bogus ../x.qcow2
	[ $c = measure ] || alike "~$c" || continue
	same "$c -Z" $c -Z ../x.qcow2
done
same "info -f without argument" info -f
same "convert -O without argument" convert -O
same "create -o without argument" create -o
same "map --output without argument" map --output
same "check -r bogus" check -r bogus ../x.qcow2
same "info: option abbreviation --back" info --back ../x.qcow2
same "info: ambiguous abbreviation" info --f ../x.qcow2
same "info -- file" info -- ../x.qcow2
same "create: no file" create -f qcow2
same "create: extra argument" create -f qcow2 z.qcow2 1M extra
spawn rm -f "$E/z.qcow2" "$G/z.qcow2"
same "convert: one file" convert ../x.qcow2
same "info: two files" info ../x.qcow2 ../x.qcow2
same "check: no file" check

# missing files, directories, wrong format
spawn mkdir dir
: >empty.img
# check and map open as info does: their refusals are "~" (what they do
# with an image they opened is not)
for c in info check map; do
	m=
	[ $c = info ] || m='~'
	alike "${m}$c" && same "$c missing file" $c ../nosuch
	alike "${m}$c" && same "$c directory" $c ../dir
	alike "${m}$c" && same "$c -f qcow2 on empty file" $c -f qcow2 ../empty.img
	alike "${m}$c" && same "$c -f bogus" $c -f bogus ../x.qcow2
	same "$c -f raw on qcow2" $c -f raw ../x.qcow2
	# a qcow2 image is no vmdk descriptor
	alike "${m}$c" && same "$c -f vmdk on qcow2" $c -f vmdk "$PWD/x.qcow2"
done
same "compare missing file" compare ../x.qcow2 ../nosuch
same "measure missing file" measure ../nosuch
same "check raw (no checker, exit 63)" check ../empty.img
same "check --output=json raw" check --output=json ../empty.img
spawn chmod 000 x.qcow2
if [ "$(id -u)" != 0 ]; then
	same "unreadable file" info ../x.qcow2
else
	skip "unreadable file (running as root)"
fi
spawn chmod 644 x.qcow2

# failed create/convert leaves nothing behind
for a in "-f qcow2 -o cluster_size=3000" "-f qcow2 -o bogus=1" \
	"-f qcow2 -o compat=0.10,lazy_refcounts=on" "-f raw -o preallocation=bad" \
	"-f qcow2 -b ../nosuch -F qcow2"; do
	spawn rm -f "$E/f.img" "$G/f.img"
	# shellcheck disable=SC2086
	same "create $a" create $a f.img 1M
	if [ ! -e "$G/f.img" ]; then
		pass "create $a: no file left"
	else
		fail "create $a: no file left"
	fi
done
for a in "-O qcow2 -o cluster_size=3000" "-O qcow2 -o bogus=1" \
	"-c -O raw" "-O bogus" "-f qcow2 ../empty.img" "../nosuch"; do
	spawn rm -f "$E/f.img" "$G/f.img"
	# shellcheck disable=SC2086
	same "convert $a" convert $a ../x.qcow2 f.img
	if [ ! -e "$G/f.img" ]; then
		pass "convert $a: no file left"
	else
		fail "convert $a: no file left"
	fi
done

done_testing
