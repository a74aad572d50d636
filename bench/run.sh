#!/bin/bash
# SPDX-License-Identifier: MIT
# `make bench`: the same jobs through qemu-img and qimg, timed interleaved
# (ABBA..., BENCH_RUNS runs each, best run: this machine's noise, kernel
# page reclaim and delayed file-system work, only ever adds time, hitting
# either tool in a third of the runs), with peak RSS, plus the machine's
# plain copy speed as a reference.  It prints one line per job and a
# summary table.  The convert jobs assert nothing; the commit and rebase
# jobs check every run's result with qemu-img (outside the timed region)
# and report a tool that got one wrong as "wrong" instead of a speed.
#
# Jobs: five converts of the input; commit-1g, a commit of a BENCH_SIZE
# overlay (1 GiB by default, hence the name) with data in some 40% of its
# clusters into its qcow2 base; rebase-safe, a safe rebase of an overlay
# onto a new base that differs from the old one in half of the clusters.
# Both start every run from fresh copies of cached pristine images.
# Format jobs raw-to-FMT and FMT-to-raw (FMT in vdi vhdx vpc vmdk qed, each
# only when qimg has the format): a convert to FMT with the format's
# defaults (vmdk: monolithicSparse), and back from an FMT image qemu-img
# made of the input; every run's output is compared with the input by
# qemu-img (outside the timed region).
#
# Encrypted jobs (when qimg has the format): raw-to-luks and luks-to-raw,
# raw-to-qcow2-luks and qcow2-luks-to-raw (aes-256-xts-plain64, qemu-img's
# default cipher; iter-time=10 in both tools so that the key derivation is
# not what is timed); the encrypted inputs are made by qemu-img once, and
# every run's output is compared with the input by qemu-img.
#
# Environment: QIMG (default build/qimg), QEMU_IMG (qemu-img), QEMU_IO,
# BENCH_SIZE (input size, default 1G; the inputs are cached per size under
# bench/work/), BENCH_RUNS (5), BENCH_JOBS (subset of job names).

set -u
cd "$(dirname "$0")/.." || exit 1
ROOT=$(pwd)
QIMG=${QIMG:-$ROOT/build/qimg}
QEMU_IMG=${QEMU_IMG:-qemu-img}
QEMU_IO=${QEMU_IO:-qemu-io}
SIZE=${BENCH_SIZE:-1G}
RUNS=${BENCH_RUNS:-5}
WORK=$ROOT/bench/work
FORMATS="vdi vhdx vpc vmdk qed"
JOBS=${BENCH_JOBS:-"raw-to-qcow2 qcow2-to-raw raw-to-raw raw-to-qcow2-zlib raw-to-qcow2-zstd commit-1g rebase-safe"}
if [ -z "${BENCH_JOBS:-}" ] && [ -x "$QIMG" ]; then
	have_fmts=" $("$QIMG" --help 2>/dev/null | sed -n 's/^Supported formats: //p') "
	for f in $FORMATS; do
		case $have_fmts in
		*" $f "*) JOBS="$JOBS raw-to-$f $f-to-raw" ;;
		esac
	done
	case $have_fmts in
	*" luks "*) JOBS="$JOBS raw-to-luks luks-to-raw" ;;
	esac
	# qcow2 with LUKS: when qimg's qcow2 takes encrypt.format=luks
	if "$QIMG" create -f qcow2 -o help 2>/dev/null |
		grep -q 'encrypt.format' &&
		"$QIMG" measure --object secret,id=s,data=x -O qcow2 \
			-o encrypt.format=luks,encrypt.key-secret=s,encrypt.iter-time=1 \
			--size 1M >/dev/null 2>&1; then
		JOBS="$JOBS raw-to-qcow2-luks qcow2-luks-to-raw"
	fi
fi
# the secret of the encrypted jobs, and the image options that open them
SECRET="--object secret,id=bsec,data=qimg-bench"
enc_opts()
{
	case $1 in
	luks) echo "driver=luks,key-secret=bsec,file.filename=$2" ;;
	qcow2-luks) echo "driver=qcow2,encrypt.key-secret=bsec,file.filename=$2" ;;
	esac
}

command -v "$QEMU_IMG" >/dev/null || { echo "bench: qemu-img not found"; exit 1; }
case " $JOBS " in
*" commit-1g "*)
	command -v "$QEMU_IO" >/dev/null ||
		{ echo "bench: qemu-io not found (commit-1g needs it)"; exit 1; } ;;
esac
[ -x /usr/bin/time ] || { echo "bench: /usr/bin/time not found (apt-get install time)"; exit 1; }
have_qimg=1
if [ ! -x "$QIMG" ]; then
	echo "bench: $QIMG not built; timing qemu-img only"
	have_qimg=0
fi
mkdir -p "$WORK" || exit 1

bytes=$(numfmt --from=iec "$SIZE") || exit 1
IN=$WORK/input-$SIZE.raw
INQ=$WORK/input-$SIZE.qcow2
# outputs go to a private directory on the same file system, so two bench
# runs at once do not write each other's files
OUT=$(mktemp -d "$WORK/out.XXXXXX") || exit 1
trap 'rm -rf "$OUT"' EXIT

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

# one generator at a time (the inputs are shared by concurrent runs)
exec 9>"$WORK/.lock"
flock 9
[ -f "$IN" ] || make_input
if [ ! -f "$INQ" ]; then
	"$QEMU_IMG" convert -O qcow2 "$IN" "$INQ.part" && mv "$INQ.part" "$INQ"
fi
case " $JOBS " in
*" commit-1g "*)
	[ -d "$WORK/commit-$SIZE" ] || make_commit_input ||
		{ echo "bench: could not make the commit images"; exit 1; } ;;
esac
case " $JOBS " in
*" rebase-safe "*)
	[ -d "$WORK/rebase-$SIZE" ] || make_rebase_input ||
		{ echo "bench: could not make the rebase images"; exit 1; } ;;
esac
flock -u 9

# --- timing helpers ----------------------------------------------------

warm()
{
	cat "$1" >/dev/null
}

# timed_run LABEL CMD...: run once; print "seconds peak_rss_kib"
timed_run()
{
	local t0 t1 rss
	shift
	sync
	t0=$(date +%s%N)
	/usr/bin/time -f %M -o "$OUT/rss" "$@" >/dev/null 2>"$OUT/err"
	local rc=$?
	t1=$(date +%s%N)
	rss=$(tail -n 1 "$OUT/rss")
	if [ "$rc" != 0 ]; then
		# the command's messages go to the terminal: a failed run is
		# worth seeing even though the bench asserts nothing
		{
			echo "bench: exit $rc: $*"
			sed -n '1,5p' "$OUT/err"
		} >&2
		echo "fail $rss"
		return
	fi
	awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", (b - a) / 1e9 }'
	echo " $rss"
}

best()
{
	tr ' ' '\n' | grep -v '^$' | grep -v fail | sort -g | head -n 1 |
		awk '{ v = $1 } END { if (v == "") print "n/a"; else print v }'
}

median()
{
	tr ' ' '\n' | grep -v '^$' | sort -g | awk '
		{ v[NR] = $1 }
		END { if (NR == 0) print "n/a"; else print v[int((NR + 1) / 2)] }'
}

mbps()
{
	case $1 in
	n/a | fail) echo "n/a" ;;
	wrong) echo "wrong" ;;
	*) awk -v b="$bytes" -v t="$1" 'BEGIN {
		if (t <= 0) t = 0.001; printf "%.0f", b / 1048576 / t }' ;;
	esac
}

alloc_mib()
{
	[ -e "$1" ] || { echo "n/a"; return; }
	du -k "$1" | awk '{ printf "%.0f", $1 / 1024 }'
}

# Each job runs in a directory of its own per tool ($OUT/e for qemu-img,
# $OUT/g for qimg), emptied and prepared before every run.

# job_args NAME DIR -> the tool's arguments
job_args()
{
	case $1 in
	raw-to-qcow2) echo "convert -f raw -O qcow2 $IN $2/out" ;;
	qcow2-to-raw) echo "convert -f qcow2 -O raw $INQ $2/out" ;;
	raw-to-raw) echo "convert -f raw -O raw $IN $2/out" ;;
	raw-to-qcow2-zlib) echo "convert -f raw -O qcow2 -c $IN $2/out" ;;
	raw-to-qcow2-zstd) echo "convert -f raw -O qcow2 -c -o compression_type=zstd $IN $2/out" ;;
	# both tools' default cache modes (writeback, the base flushed at
	# the end); commit empties the overlay as qemu-img's does
	commit-1g) echo "commit -f qcow2 $2/overlay.qcow2" ;;
	rebase-safe) echo "rebase -b new.qcow2 -F qcow2 -f qcow2 $2/overlay.qcow2" ;;
	raw-to-luks) echo "convert $SECRET -f raw -O luks -o key-secret=bsec,iter-time=10 $IN $2/out" ;;
	raw-to-qcow2-luks) echo "convert $SECRET -f raw -O qcow2 -o encrypt.format=luks,encrypt.key-secret=bsec,encrypt.iter-time=10 $IN $2/out" ;;
	luks-to-raw | qcow2-luks-to-raw)
		echo "convert $SECRET --image-opts $(enc_opts "${1%-to-raw}" "$(fmt_input "${1%-to-raw}")") -O raw $2/out" ;;
	raw-to-*) echo "convert -f raw -O ${1#raw-to-} $IN $2/out" ;;
	*-to-raw) echo "convert -f ${1%-to-raw} -O raw $(fmt_input "${1%-to-raw}") $2/out" ;;
	esac
}

# fmt_input FMT -> the input as an FMT image made by qemu-img (once)
fmt_input()
{
	echo "$WORK/input-$SIZE.$1"
}

make_fmt_input()
{
	local f=$WORK/input-$SIZE.$1
	[ -f "$f" ] && return 0
	echo "bench: converting the input to $1 with qemu-img (once)" >&2
	rm -f "$f.part"
	case $1 in
	luks)
		# shellcheck disable=SC2086
		"$QEMU_IMG" convert $SECRET -f raw -O luks \
			-o key-secret=bsec,iter-time=10 "$IN" "$f.part" ;;
	qcow2-luks)
		# shellcheck disable=SC2086
		"$QEMU_IMG" convert $SECRET -f raw -O qcow2 \
			-o encrypt.format=luks,encrypt.key-secret=bsec,encrypt.iter-time=10 \
			"$IN" "$f.part" ;;
	*) "$QEMU_IMG" convert -f raw -O "$1" "$IN" "$f.part" ;;
	esac && mv "$f.part" "$f"
}

# job_input NAME -> the image whose size is the input column
job_input()
{
	case $1 in
	qcow2-to-raw) echo "$INQ" ;;
	raw-to-*) echo "$IN" ;;
	*-to-raw) fmt_input "${1%-to-raw}" ;;
	commit-1g) echo "$WORK/commit-$SIZE/overlay.qcow2" ;;
	rebase-safe) echo "$WORK/rebase-$SIZE/overlay.qcow2" ;;
	*) echo "$IN" ;;
	esac
}

# job_output NAME DIR -> the image whose size is the output column
job_output()
{
	case $1 in
	commit-1g) echo "$2/base.qcow2" ;;
	rebase-safe) echo "$2/overlay.qcow2" ;;
	*) echo "$2/out" ;;
	esac
}

# job_warm NAME: read what the job reads, so both tools start cached
job_warm()
{
	case $1 in
	commit-1g)
		warm "$WORK/commit-$SIZE/base.qcow2"
		warm "$WORK/commit-$SIZE/overlay.qcow2" ;;
	rebase-safe)
		warm "$WORK/rebase-$SIZE/old.qcow2"
		warm "$WORK/rebase-$SIZE/new.qcow2"
		warm "$WORK/rebase-$SIZE/overlay.qcow2" ;;
	*) warm "$(job_input "$1")" ;;
	esac
}

# job_prepare NAME DIR: the run's starting files, copied from the pristine
# ones (the backing files a rebase only reads are linked, not copied)
job_prepare()
{
	rm -rf "$2"
	mkdir -p "$2" || return 1
	case $1 in
	commit-1g)
		cp "$WORK/commit-$SIZE/base.qcow2" "$2/" &&
			cp "$WORK/commit-$SIZE/overlay.qcow2" "$2/" ;;
	rebase-safe)
		ln -s "$WORK/rebase-$SIZE/old.qcow2" "$2/old.qcow2" &&
			ln -s "$WORK/rebase-$SIZE/new.qcow2" "$2/new.qcow2" &&
			cp "$WORK/rebase-$SIZE/overlay.qcow2" "$2/" ;;
	esac
}

# qemu-img check, quietly; a message on failure
checked()
{
	"$QEMU_IMG" check -q -f qcow2 "$1" >"$OUT/check" 2>&1 && return 0
	echo "bench: qemu-img check $1 failed:" >&2
	sed -n '1,5p' "$OUT/check" >&2
	return 1
}

# job_verify NAME DIR: did the run produce the expected images?  (Not for
# the converts.)  commit: the base reads as the pristine overlay did over
# the pristine base, both images check clean and the overlay was emptied;
# rebase: the overlay reads over new.qcow2 as the pristine one did over
# old.qcow2, names new.qcow2 as its backing file and checks clean.
job_verify()
{
	local d=$2 p
	case $1 in
	raw-to-luks | raw-to-qcow2-luks)
		# shellcheck disable=SC2086
		"$QEMU_IMG" compare -q $SECRET --image-opts \
			"driver=raw,file.filename=$IN" \
			"$(enc_opts "${1#raw-to-}" "$d/out")" || {
			echo "bench: $d/out (${1#raw-to-}) does not read as $IN" >&2
			return 1
		}
		;;
	raw-to-qcow2* | qcow2-to-raw | raw-to-raw) ;;
	raw-to-* | *-to-raw)
		if [ "${1#raw-to-}" != "$1" ]; then
			p=${1#raw-to-}
		else
			p=raw
		fi
		"$QEMU_IMG" compare -q -f raw -F "$p" "$IN" "$d/out" || {
			echo "bench: $d/out ($p) does not read as $IN" >&2
			return 1
		}
		;;
	commit-1g)
		p=$WORK/commit-$SIZE
		"$QEMU_IMG" compare -q -f qcow2 -F qcow2 "$d/base.qcow2" \
			"$p/overlay.qcow2" || {
			echo "bench: $d/base.qcow2 does not read as" \
				"$p/overlay.qcow2" >&2
			return 1
		}
		checked "$d/base.qcow2" && checked "$d/overlay.qcow2" || return 1
		if "$QEMU_IMG" map --output=json -f qcow2 "$d/overlay.qcow2" |
			grep -q '"depth": 0'; then
			echo "bench: $d/overlay.qcow2 was not emptied" >&2
			return 1
		fi
		;;
	rebase-safe)
		p=$WORK/rebase-$SIZE
		"$QEMU_IMG" compare -q -f qcow2 -F qcow2 "$d/overlay.qcow2" \
			"$p/overlay.qcow2" || {
			echo "bench: $d/overlay.qcow2 over new.qcow2 does not" \
				"read as $p/overlay.qcow2 over old.qcow2" >&2
			return 1
		}
		checked "$d/overlay.qcow2" || return 1
		"$QEMU_IMG" info --output=json -f qcow2 "$d/overlay.qcow2" |
			grep -q '"backing-filename": "new.qcow2"' || {
			echo "bench: $d/overlay.qcow2 does not name new.qcow2" >&2
			return 1
		}
		;;
	esac
}

# --- reference copy speed ---------------------------------------------

warm "$IN"
ref_times=
for ((r = 0; r < RUNS; r++)); do
	rm -f "$OUT/ref"
	if command -v nbdcopy >/dev/null; then
		ref_tool=nbdcopy
		res=$(timed_run ref nbdcopy "$IN" "$OUT/ref")
	else
		ref_tool="cp --sparse=always"
		res=$(timed_run ref cp --sparse=always "$IN" "$OUT/ref")
	fi
	ref_times="$ref_times ${res%% *}"
done
rm -f "$OUT/ref"
ref_t=$(echo "$ref_times" | best)
echo "bench: input $SIZE ($bytes bytes), $RUNS runs per tool, reference" \
	"$ref_tool: $(mbps "$ref_t") MB/s"
printf '%-18s %8s %10s %10s %9s %9s %6s %9s %9s\n' job input-MiB \
	out-qemu out-qimg qemu-MB/s qimg-MB/s ratio rss-qemu rss-qimg
summary=()

for job in $JOBS; do
	case $job in
	raw-to-qcow2 | qcow2-to-raw | raw-to-raw | raw-to-qcow2-zlib | \
		raw-to-qcow2-zstd | commit-1g | rebase-safe) ;;
	raw-to-* | *-to-raw)
		f=${job#raw-to-}
		f=${f%-to-raw}
		case " $FORMATS luks qcow2-luks " in
		*" $f "*) ;;
		*)
			echo "bench: unknown job $job" >&2
			continue
			;;
		esac
		case $job in
		*-to-raw) make_fmt_input "$f" || exit 1 ;;
		esac
		;;
	*)
		echo "bench: unknown job $job" >&2
		continue
		;;
	esac
	in=$(job_input "$job")
	job_warm "$job"
	et='' gt='' erss='' grss='' ewrong=0 gwrong=0
	for ((r = 0; r < RUNS; r++)); do
		# ABBA order: whichever tool runs second in a round meets the
		# first one's freshly written output in the page cache and the
		# file system's delayed work; alternating cancels that bias.
		if [ $((r % 2)) = 0 ]; then
			order="e g"
		else
			order="g e"
		fi
		for who in $order; do
			[ "$who" = g ] && [ "$have_qimg" = 0 ] && continue
			if [ "$who" = e ]; then
				tool=$QEMU_IMG
			else
				tool=$QIMG
			fi
			job_prepare "$job" "$OUT/$who" || exit 1
			# shellcheck disable=SC2046
			res=$(timed_run "$who" "$tool" $(job_args "$job" "$OUT/$who"))
			t=${res%% *}
			if [ "$t" != fail ] && ! job_verify "$job" "$OUT/$who"; then
				echo "bench: $job: $tool gave a wrong result" >&2
				t=fail
				eval "${who}wrong=1"
			fi
			if [ "$who" = e ]; then
				et="$et $t"
				erss="$erss ${res##* }"
			else
				gt="$gt $t"
				grss="$grss ${res##* }"
			fi
		done
	done
	emed=$(echo "$et" | best)
	gmed=$(echo "$gt" | best)
	[ "$ewrong" = 1 ] && emed=wrong
	[ "$gwrong" = 1 ] && gmed=wrong
	case "$emed $gmed" in
	*n/a* | *fail* | *wrong*) ratio=n/a ;;
	*) ratio=$(awk -v a="$gmed" -v b="$emed" 'BEGIN {
		printf "%.2f", (b > 0 ? a / b : 0) }') ;;
	esac
	er=$(echo "$erss" | median)
	gr=$(echo "$grss" | median)
	line=$(printf '%-18s %8s %10s %10s %9s %9s %6s %9s %9s' "$job" \
		"$(alloc_mib "$in")" "$(alloc_mib "$(job_output "$job" "$OUT/e")")" \
		"$(alloc_mib "$(job_output "$job" "$OUT/g")")" "$(mbps "$emed")" "$(mbps "$gmed")" \
		"$ratio" "$(awk -v k="$er" 'BEGIN { if (k == "n/a") print k; else printf "%.0f", k / 1024 }')" \
		"$(awk -v k="$gr" 'BEGIN { if (k == "n/a") print k; else printf "%.0f", k / 1024 }')")
	echo "$line"
	summary+=("$line  (times qemu-img:$et; qimg:${gt:- n/a})")
	rm -rf "$OUT/e" "$OUT/g"
done

echo
echo "Summary (ratio = qimg time / qemu-img time, lower is better; sizes are"
echo "allocated MiB, RSS in MiB; reference $ref_tool $(mbps "$ref_t") MB/s;" \
	"input $SIZE, best of $RUNS; every run's seconds below):"
printf '%-18s %8s %10s %10s %9s %9s %6s %9s %9s\n' job input-MiB \
	out-qemu out-qimg qemu-MB/s qimg-MB/s ratio rss-qemu rss-qimg
for l in "${summary[@]}"; do
	echo "${l%%  (times*}"
done
for l in "${summary[@]}"; do
	echo "  ${l%% *}:${l#*  (times}" | sed 's/)$//'
done
