#!/bin/bash
# SPDX-License-Identifier: MIT
# `make bench`: the same convert jobs through qemu-img and qimg, timed
# interleaved (ABBA..., BENCH_RUNS runs each, best run: this machine's
# noise, kernel page reclaim and delayed file-system work, only ever adds
# time, hitting either tool in a third of the runs), with peak RSS, plus
# the machine's plain copy speed as a reference.  No assertions: it prints
# one line per job and a summary table.
#
# Environment: QIMG (default build/qimg), QEMU_IMG (qemu-img),
# BENCH_SIZE (input size, default 1G; the input is cached per size under
# bench/work/), BENCH_RUNS (5), BENCH_JOBS (subset of job names).

set -u
cd "$(dirname "$0")/.." || exit 1
ROOT=$(pwd)
QIMG=${QIMG:-$ROOT/build/qimg}
QEMU_IMG=${QEMU_IMG:-qemu-img}
SIZE=${BENCH_SIZE:-1G}
RUNS=${BENCH_RUNS:-5}
WORK=$ROOT/bench/work
JOBS=${BENCH_JOBS:-"raw-to-qcow2 qcow2-to-raw raw-to-raw raw-to-qcow2-zlib raw-to-qcow2-zstd"}

command -v "$QEMU_IMG" >/dev/null || { echo "bench: qemu-img not found"; exit 1; }
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

# one generator at a time (the inputs are shared by concurrent runs)
exec 9>"$WORK/.lock"
flock 9
[ -f "$IN" ] || make_input
if [ ! -f "$INQ" ]; then
	"$QEMU_IMG" convert -O qcow2 "$IN" "$INQ.part" && mv "$INQ.part" "$INQ"
fi
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
	*) awk -v b="$bytes" -v t="$1" 'BEGIN {
		if (t <= 0) t = 0.001; printf "%.0f", b / 1048576 / t }' ;;
	esac
}

alloc_mib()
{
	[ -e "$1" ] || { echo "n/a"; return; }
	du -k "$1" | awk '{ printf "%.0f", $1 / 1024 }'
}

job_args()
{
	# job_args NAME OUTPUT -> the convert arguments
	case $1 in
	raw-to-qcow2) echo "-f raw -O qcow2 $IN $2" ;;
	qcow2-to-raw) echo "-f qcow2 -O raw $INQ $2" ;;
	raw-to-raw) echo "-f raw -O raw $IN $2" ;;
	raw-to-qcow2-zlib) echo "-f raw -O qcow2 -c $IN $2" ;;
	raw-to-qcow2-zstd) echo "-f raw -O qcow2 -c -o compression_type=zstd $IN $2" ;;
	esac
}

job_input()
{
	case $1 in
	qcow2-to-raw) echo "$INQ" ;;
	*) echo "$IN" ;;
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
	in=$(job_input "$job")
	warm "$in"
	et='' gt='' erss='' grss=''
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
			rm -f "$OUT/$who"
			if [ "$who" = e ]; then
				# shellcheck disable=SC2046
				res=$(timed_run e "$QEMU_IMG" convert \
					$(job_args "$job" "$OUT/e"))
				et="$et ${res%% *}"
				erss="$erss ${res##* }"
			elif [ "$have_qimg" = 1 ]; then
				# shellcheck disable=SC2046
				res=$(timed_run g "$QIMG" convert \
					$(job_args "$job" "$OUT/g"))
				gt="$gt ${res%% *}"
				grss="$grss ${res##* }"
			fi
		done
	done
	emed=$(echo "$et" | best)
	gmed=$(echo "$gt" | best)
	case "$emed $gmed" in
	*n/a* | *fail*) ratio=n/a ;;
	*) ratio=$(awk -v a="$gmed" -v b="$emed" 'BEGIN {
		printf "%.2f", (b > 0 ? a / b : 0) }') ;;
	esac
	er=$(echo "$erss" | median)
	gr=$(echo "$grss" | median)
	line=$(printf '%-18s %8s %10s %10s %9s %9s %6s %9s %9s' "$job" \
		"$(alloc_mib "$in")" "$(alloc_mib "$OUT/e")" \
		"$(alloc_mib "$OUT/g")" "$(mbps "$emed")" "$(mbps "$gmed")" \
		"$ratio" "$(awk -v k="$er" 'BEGIN { if (k == "n/a") print k; else printf "%.0f", k / 1024 }')" \
		"$(awk -v k="$gr" 'BEGIN { if (k == "n/a") print k; else printf "%.0f", k / 1024 }')")
	echo "$line"
	summary+=("$line  (times qemu-img:$et; qimg:${gt:- n/a})")
	rm -f "$OUT/e" "$OUT/g"
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
