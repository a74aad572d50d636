# shellcheck shell=bash disable=SC2154
# SPDX-License-Identifier: MIT
# bench/run.sh's input generators (sourced): the mixed input, the commit and
# rebase images, and the 1 TiB sparse qcow2.  They use run.sh's variables
# (SIZE, bytes, IN, INQ, WORK, QEMU_IMG, QEMU_IO).

# --- input: 4 MiB blocks cycling through random data, text, written
# zeros and holes (fixed proportions 3:3:2:2 of every 10 blocks) ---------
make_input()
{
	local blocks i kind tmp=$WORK/tmp
	blocks=$((bytes / 4194304))
	[ "$blocks" -ge 1 ] || { echo "bench: BENCH_SIZE too small"; exit 1; }
	echo "bench: generating $SIZE input (once) in $IN"
	mkdir -p "$tmp"
	awk 'BEGIN {
		srand(7)
		split("block sector cluster image qcow2 refcount table offset " \
		      "guest host data zero write read copy convert map the " \
		      "a of to and is in for with on by virtual disk file", w)
		n = 0; line = ""
		while (n < 8388608) {
			word = w[int(rand() * 31) + 1]
			if (rand() < 0.1)
				word = word int(rand() * 100000)
			line = line word " "
			if (length(line) > 70) {
				print line; n += length(line) + 1; line = ""
			}
		}
	}' >"$tmp/text"
	rm -f "$IN.part"
	truncate -s "$bytes" "$IN.part"
	for ((i = 0; i < blocks; i++)); do
		kind=$((i % 10))
		[ "$kind" -ge 8 ] && continue	# a hole
		if [ "$kind" -lt 3 ]; then
			head -c 4194304 /dev/urandom
		elif [ "$kind" -lt 6 ]; then
			tail -c +$(((i * 65537) % 4194304 + 1)) "$tmp/text" |
				head -c 4194304
		else
			head -c 4194304 /dev/zero
		fi | dd of="$IN.part" bs=4M seek="$i" conv=notrunc \
			iflag=fullblock status=none
	done
	mv "$IN.part" "$IN"
	rm -rf "$tmp"
}

# scatter FILE SEED FRACTION: overwrite runs of 64 KiB clusters (1 to 64
# long) of FILE with random data, each run with probability FRACTION, so
# that some FRACTION of the clusters change, at every granularity.
scatter()
{
	perl -e '
		my ($file, $size, $seed, $p) = @ARGV;
		my @runs = (1, 1, 1, 2, 3, 4, 8, 16, 64);
		my $cl = 65536;
		my $n = int($size / $cl);
		my ($c, $buf) = (0, "");
		srand($seed);
		open(my $rnd, "<:raw", "/dev/urandom") or die "urandom: $!";
		open(my $f, "+<:raw", $file) or die "$file: $!";
		while ($c < $n) {
			my $len = $runs[int(rand(@runs))];
			$len = $n - $c if $c + $len > $n;
			if (rand() < $p) {
				read($rnd, $buf, $len * $cl) == $len * $cl
					or die "urandom: short read";
				seek($f, $c * $cl, 0) or die "seek: $!";
				print $f $buf or die "write: $!";
			}
			$c += $len;
		}
		close($f) or die "$file: $!";
	' "$1" "$bytes" "$2" "$3"
}

# qcow2_of RAW QCOW2 [BACKING]: RAW as a qcow2 image that allocates only
# RAW's data (holes stay unallocated), then placed over BACKING.
qcow2_of()
{
	"$QEMU_IMG" convert -f raw -O qcow2 "$1" "$2" || return 1
	[ $# -lt 3 ] || "$QEMU_IMG" rebase -u -b "$3" -F qcow2 "$2"
}

# The commit job's images, in a directory of their own (the overlay names
# its base relatively): base.qcow2, the input as qcow2; overlay.qcow2,
# random data in 40% of the clusters plus four zeroed areas (a 64th of
# the image each, where the base has data as well as elsewhere).
make_commit_input()
{
	local d=$WORK/commit-$SIZE t=$WORK/commit-$SIZE.part q i
	echo "bench: generating the commit-1g images (once) in $d"
	rm -rf "$t"
	mkdir -p "$t" || return 1
	cp "$INQ" "$t/base.qcow2" || return 1
	truncate -s "$bytes" "$t/ov.raw" || return 1
	scatter "$t/ov.raw" 11 0.4 || return 1
	(cd "$t" && qcow2_of ov.raw overlay.qcow2 base.qcow2) || return 1
	rm -f "$t/ov.raw"
	# an eighth of the image, in whole 4 MiB blocks
	q=$((bytes / 33554432))
	q=$((q * 4194304))
	for i in 1 3 5 7; do
		"$QEMU_IO" -f qcow2 -c "write -z $((q * i)) $((bytes / 64))" \
			"$t/overlay.qcow2" >/dev/null || return 1
	done
	mv "$t" "$d"
}

# The rebase job's images: old.qcow2, the input as qcow2; new.qcow2, the
# input with random data in half of the clusters; overlay.qcow2 over
# old.qcow2, random data in 30% of the clusters.
make_rebase_input()
{
	local d=$WORK/rebase-$SIZE t=$WORK/rebase-$SIZE.part
	echo "bench: generating the rebase-safe images (once) in $d"
	rm -rf "$t"
	mkdir -p "$t" || return 1
	cp "$INQ" "$t/old.qcow2" || return 1
	cp --sparse=always "$IN" "$t/new.raw" || return 1
	scatter "$t/new.raw" 13 0.5 || return 1
	qcow2_of "$t/new.raw" "$t/new.qcow2" || return 1
	rm -f "$t/new.raw"
	truncate -s "$bytes" "$t/ov.raw" || return 1
	scatter "$t/ov.raw" 17 0.3 || return 1
	(cd "$t" && qcow2_of ov.raw overlay.qcow2 old.qcow2) || return 1
	rm -f "$t/ov.raw"
	mv "$t" "$d"
}

# The 1 TiB job's image: a qcow2 of 1 TiB virtual size holding 2 GiB of
# data in 1024 runs of 2 MiB at offsets drawn from a fixed seed (each run
# a different byte pattern), written by one qemu-io process.
make_huge_input()
{
	local f=$WORK/huge-1T.qcow2
	echo "bench: generating the 1 TiB sparse qcow2 (once) in $f"
	rm -f "$f.part"
	"$QEMU_IMG" create -q -f qcow2 "$f.part" 1T || return 1
	awk 'BEGIN {
		srand(5)
		for (i = 0; i < 1024; i++) {
			off = int(rand() * 524288) * 2097152
			printf "write -P %d %.0f 2M\n", i % 255 + 1, off
		}
	}' | "$QEMU_IO" -f qcow2 "$f.part" >/dev/null || return 1
	mv "$f.part" "$f"
}
