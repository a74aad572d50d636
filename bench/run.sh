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
# Compressed inputs (a downloaded cloud image is one): qcow2-zlib-to-raw
# and qcow2-zstd-to-raw read a qcow2 that qemu-img compressed (-c, once);
# every run's output is compared with the input by qemu-img.
#
# Over the network: http-qcow2-to-raw reads the qcow2 input from
# tests/interop/httpd.py (byte ranges, on 127.0.0.1), as an image is
# fetched from a web server; both tools meet the same server.  A run gets
# BENCH_HTTP_TIMEOUT seconds (60; other jobs BENCH_TIMEOUT, 600): qemu-img
# 7.2's curl driver now and then stops for good with every answer received
# (seen in about one run of three against httpd.py, the server idle, no
# bytes left in any socket), and such a run counts as failed.
#
# More jobs: raw-to-vmdk-stream (vmdk streamOptimized), raw-to-qcow-zlib
# (qcow -c: qemu-img 7.2 fails it, so it runs once and shows "fail");
# raw-to-qcow2-direct and qcow2-to-raw-direct (-t none -T none, O_DIRECT,
# on a real disk: BENCH_DISK_DIR); huge-to-raw, huge-to-qcow2, huge-map and
# huge-check on a 1 TiB qcow2 holding 2 GiB of scattered data.
#
# The machine's limit is printed first: nbdcopy and cp --sparse=always of
# the raw input (and dd with O_DIRECT on the disk directory).  The results
# go to a table (seconds, ratio, MB/s, peak RSS and output size of each
# tool) and to a JSON file (BENCH_JSON, default bench/results/DATE.json);
# BENCH_COMPARE=OLD.json adds the old run's ratio to the table.
#
# Environment: QIMG (default build/qimg), QEMU_IMG (qemu-img), QEMU_IO,
# BENCH_SIZE (input size, default 1G), BENCH_DIR (where images live:
# default a tmpfs, /dev/shm/qimg-bench, when it has room, so that the
# disk's write-back does not decide; else bench/work), BENCH_DISK_DIR
# (bench/work-disk), BENCH_RUNS (5; the compression jobs 3 unless
# BENCH_RUNS is set), BENCH_JOBS (subset of job names).

set -u
cd "$(dirname "$0")/.." || exit 1
ROOT=$(pwd)
QIMG=${QIMG:-$ROOT/build/qimg}
QEMU_IMG=${QEMU_IMG:-qemu-img}
QEMU_IO=${QEMU_IO:-qemu-io}
SIZE=${BENCH_SIZE:-1G}
RUNS=${BENCH_RUNS:-5}
SLOW_RUNS=${BENCH_RUNS:-3}
bytes=$(numfmt --from=iec "$SIZE") || exit 1
# images on a tmpfs when it has room for them: the inputs (some 9 times
# the input size over all formats, and the 1 TiB job's 2 GiB) and the
# outputs of one job (2 inputs' worth, or that 2 GiB twice); what an earlier
# run cached there counts as room
if [ -z "${BENCH_DIR:-}" ]; then
	BENCH_DIR=$ROOT/bench/work
	avail=$(df -k --output=avail /dev/shm 2>/dev/null | tail -n 1)
	# the inputs an earlier run cached there count as room
	if [ -n "$avail" ] && [ -d /dev/shm/qimg-bench ]; then
		avail=$((avail + $(du -sk /dev/shm/qimg-bench | cut -f1)))
	fi
	if [ -n "$avail" ] && [ "$avail" -gt $(((bytes * 12 + (5 << 30)) / 1024)) ]; then
		BENCH_DIR=/dev/shm/qimg-bench
	fi
	[ "$BENCH_DIR" = "$ROOT/bench/work" ] &&
		echo "bench: /dev/shm lacks room; images in bench/work: the figures include the disk"
fi
WORK=$BENCH_DIR
DISK=${BENCH_DISK_DIR:-$ROOT/bench/work-disk}
FORMATS="vdi vhdx vpc vmdk qed"
JOBS=${BENCH_JOBS:-"raw-to-qcow2 qcow2-to-raw raw-to-raw raw-to-qcow2-zlib raw-to-qcow2-zstd qcow2-zlib-to-raw qcow2-zstd-to-raw raw-to-vmdk-stream raw-to-qcow-zlib raw-to-qcow2-direct qcow2-to-raw-direct huge-to-raw huge-to-qcow2 huge-map huge-check commit-1g rebase-safe http-qcow2-to-raw"}
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

IN=$WORK/input-$SIZE.raw
INQ=$WORK/input-$SIZE.qcow2
# outputs go to a private directory on the same file system, so two bench
# runs at once do not write each other's files
OUT=$(mktemp -d "$WORK/out.XXXXXX") || exit 1
HUGE=$WORK/huge-1T.qcow2
trap 'rm -rf "$OUT"' EXIT

# shellcheck source=bench/inputs.sh
. "$ROOT/bench/inputs.sh"

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
case " $JOBS " in
*" http-"*)
	# an HTTP server with byte ranges over the inputs, for both tools
	rm -f "$OUT/http.port"
	python3 "$ROOT/tests/interop/httpd.py" --dir "$WORK" \
		--port-file "$OUT/http.port" &
	HTTP_PID=$!
	trap 'kill $HTTP_PID 2>/dev/null; rm -rf "$OUT"' EXIT
	for i in $(seq 100); do
		[ -s "$OUT/http.port" ] && break
		sleep 0.05
	done
	HTTP_PORT=$(cat "$OUT/http.port" 2>/dev/null) ||
		{ echo "bench: httpd.py did not start"; exit 1; }
	;;
esac
case " $JOBS " in
*" huge-"*)
	[ -f "$WORK/huge-1T.qcow2" ] || make_huge_input ||
		{ echo "bench: could not make the 1 TiB image"; exit 1; } ;;
esac
case " $JOBS " in
*"-direct "*)
	mkdir -p "$DISK" || exit 1
	[ -f "$DISK/input-$SIZE.raw" ] || cp "$IN" "$DISK/input-$SIZE.raw" || exit 1
	[ -f "$DISK/input-$SIZE.qcow2" ] || cp "$INQ" "$DISK/input-$SIZE.qcow2" || exit 1
	;;
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
	# a run that never ends (qemu-img's curl driver now and then) is a
	# failed run, not a stuck bench
	timeout -k 5 "${RUN_TIMEOUT:-${BENCH_TIMEOUT:-600}}" \
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

# jlist WORD...: the words as a JSON list of strings
jlist()
{
	local sep='' w
	for w in "$@"; do
		printf '%s"%s"' "$sep" "$w"
		sep=', '
	done
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
	raw-to-vmdk-stream) echo "convert -f raw -O vmdk -o subformat=streamOptimized $IN $2/out" ;;
	raw-to-qcow-zlib) echo "convert -f raw -O qcow -c $IN $2/out" ;;
	raw-to-qcow2-direct) echo "convert -t none -T none -f raw -O qcow2 $DISK/input-$SIZE.raw $2/out" ;;
	qcow2-to-raw-direct) echo "convert -t none -T none -f qcow2 -O raw $DISK/input-$SIZE.qcow2 $2/out" ;;
	huge-to-raw) echo "convert -f qcow2 -O raw $HUGE $2/out" ;;
	huge-to-qcow2) echo "convert -f qcow2 -O qcow2 $HUGE $2/out" ;;
	huge-map) echo "map --output=json -f qcow2 $HUGE" ;;
	huge-check) echo "check -f qcow2 $HUGE" ;;
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
	qcow2-zlib-to-raw | qcow2-zstd-to-raw)
		echo "convert -f qcow2 -O raw $(fmt_input "${1%-to-raw}") $2/out" ;;
	# the qcow2 input served by tests/interop/httpd.py on this machine
	http-qcow2-to-raw) echo "convert -f qcow2 -O raw http://127.0.0.1:$HTTP_PORT/$(basename "$INQ") $2/out" ;;
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
	local f=$WORK/input-$SIZE.$1 try
	[ -f "$f" ] && return 0
	echo "bench: converting the input to $1 with qemu-img (once)" >&2
	# qemu-img's LUKS key-slot timing fails now and then with a 10 ms
	# iter-time ("Unable to get accurate CPU usage"): tried three times
	for try in 1 2 3; do
		rm -f "$f.part"
		convert_fmt_input "$1" "$f.part" && mv "$f.part" "$f" &&
			return 0
	done
	return 1
}

# convert_fmt_input FMT OUT: the input converted by qemu-img
convert_fmt_input()
{
	case $1 in
	luks)
		# shellcheck disable=SC2086
		"$QEMU_IMG" convert $SECRET -f raw -O luks \
			-o key-secret=bsec,iter-time=10 "$IN" "$2" ;;
	qcow2-luks)
		# shellcheck disable=SC2086
		"$QEMU_IMG" convert $SECRET -f raw -O qcow2 \
			-o encrypt.format=luks,encrypt.key-secret=bsec,encrypt.iter-time=10 \
			"$IN" "$2" ;;
	qcow2-zlib) "$QEMU_IMG" convert -f raw -O qcow2 -c "$IN" "$2" ;;
	qcow2-zstd)
		"$QEMU_IMG" convert -f raw -O qcow2 -c \
			-o compression_type=zstd "$IN" "$2" ;;
	*) "$QEMU_IMG" convert -f raw -O "$1" "$IN" "$2" ;;
	esac
}

# job_input NAME -> the image whose size is the input column
job_input()
{
	case $1 in
	raw-to-qcow2-direct) echo "$DISK/input-$SIZE.raw" ;;
	qcow2-to-raw-direct) echo "$DISK/input-$SIZE.qcow2" ;;
	huge-*) echo "$HUGE" ;;
	qcow2-to-raw | http-qcow2-to-raw) echo "$INQ" ;;
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
	huge-map | huge-check) echo none ;;
	commit-1g) echo "$2/base.qcow2" ;;
	rebase-safe) echo "$2/overlay.qcow2" ;;
	*) echo "$2/out" ;;
	esac
}

# job_warm NAME: read what the job reads, so both tools start cached
job_warm()
{
	case $1 in
	huge-*) warm "$HUGE" ;;
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
	raw-to-vmdk-stream | raw-to-qcow-zlib | raw-to-qcow2-direct | qcow2-to-raw-direct)
		case $1 in
		raw-to-vmdk-stream) p=vmdk ;;
		raw-to-qcow-zlib) p=qcow ;;
		raw-to-qcow2-direct) p=qcow2 ;;
		*) p=raw ;;
		esac
		"$QEMU_IMG" compare -q -f raw -F "$p" "$IN" "$d/out" || {
			echo "bench: $d/out ($p) does not read as $IN" >&2
			return 1
		}
		;;
	huge-to-raw | huge-to-qcow2)
		"$QEMU_IMG" compare -q -f qcow2 -F "${1#huge-to-}" "$HUGE" \
			"$d/out" || {
			echo "bench: $d/out does not read as $HUGE" >&2
			return 1
		}
		;;
	huge-map | huge-check) ;;
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
	http-qcow2-to-raw)
		"$QEMU_IMG" compare -q -f raw -F raw "$IN" "$d/out" || {
			echo "bench: $d/out does not read as $IN" >&2
			return 1
		}
		;;
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

# --- reference copy speed: the machine's limit ------------------------

# ref_best CMD...: best seconds of RUNS runs of CMD copying to $OUT/ref
ref_best()
{
	local times='' res r
	for ((r = 0; r < RUNS; r++)); do
		rm -f "$OUT/ref"
		res=$(timed_run ref "$@" "$OUT/ref")
		times="$times ${res%% *}"
	done
	rm -f "$OUT/ref"
	echo "$times" | best
}

warm "$IN"
refs=()
if command -v nbdcopy >/dev/null; then
	refs+=("nbdcopy $(ref_best nbdcopy "$IN")")
fi
refs+=("cp--sparse=always $(ref_best cp --sparse=always "$IN")")
case " $JOBS " in
*"-direct "*)
	# the disk's own speed without the page cache, both ends
	drw=''
	for ((r = 0; r < RUNS; r++)); do
		rm -f "$DISK/ref"
		res=$(timed_run ref dd if="$DISK/input-$SIZE.raw" \
			of="$DISK/ref" bs=2M iflag=direct oflag=direct status=none)
		drw="$drw ${res%% *}"
	done
	rm -f "$DISK/ref"
	refs+=("dd-direct(disk) $(echo "$drw" | best)")
	;;
esac
echo "bench: input $SIZE ($bytes bytes) in $WORK ($(df --output=fstype "$WORK" | tail -n 1));" \
	"$RUNS runs per tool ($SLOW_RUNS for compression); the machine's limit:"
for l in "${refs[@]}"; do
	echo "  ${l%% *}: ${l##* } s, $(mbps "${l##* }") MB/s"
done

# --- the jobs -----------------------------------------------------------

# job_runs NAME: how many runs (the compression jobs are slow in qemu-img)
job_runs()
{
	case $1 in
	raw-to-qcow2-zlib | raw-to-vmdk-stream | raw-to-qcow-zlib | \
		raw-to-vmdk | raw-to-qcow2-zstd) echo "$SLOW_RUNS" ;;
	*) echo "$RUNS" ;;
	esac
}

# job_bytes NAME: the bytes a second of the job is counted against (MB/s):
# the input's size, or the 1 TiB image's data; none for map and check
job_bytes()
{
	case $1 in
	huge-map | huge-check) echo 0 ;;
	huge-*) echo $((2 << 30)) ;;
	*) echo "$bytes" ;;
	esac
}

rate()
{
	case $1 in
	n/a | fail | wrong) echo "$1" ;;
	*) [ "$2" = 0 ] && { echo n/a; return; }
		awk -v b="$2" -v t="$1" 'BEGIN {
			if (t <= 0) t = 0.001; printf "%.0f", b / 1048576 / t }' ;;
	esac
}

kib_mib()
{
	awk -v k="$1" 'BEGIN { if (k == "n/a" || k == "") print "n/a"; else printf "%.0f", k / 1024 }'
}

# the earlier run to compare with: "job ratio" lines
declare -A old_ratio=()
if [ -n "${BENCH_COMPARE:-}" ] && [ -f "$BENCH_COMPARE" ]; then
	while read -r j rt; do
		old_ratio[$j]=$rt
	done < <(sed -n 's/.*"job": "\([^"]*\)".*"ratio": "\{0,1\}\([^",}]*\).*/\1 \2/p' "$BENCH_COMPARE")
fi

hdr=$(printf '%-20s %7s %8s %8s %6s %8s %8s %7s %7s %8s %8s' job in-MiB \
	qimg-s qemu-s ratio qimg-MB/s qemu-MB/s rss-qimg rss-qemu out-qimg out-qemu)
[ -n "${BENCH_COMPARE:-}" ] && hdr="$hdr  was"
echo "$hdr"
summary=()
tmpjobs=$OUT/jobs.json
: >"$tmpjobs"

for job in $JOBS; do
	case $job in
	raw-to-qcow2 | qcow2-to-raw | raw-to-raw | raw-to-qcow2-zlib | \
		raw-to-qcow2-zstd | commit-1g | rebase-safe | raw-to-vmdk-stream | \
		raw-to-qcow-zlib | raw-to-qcow2-direct | qcow2-to-raw-direct | \
		huge-to-raw | huge-to-qcow2 | huge-map | huge-check | \
		http-qcow2-to-raw) ;;
	raw-to-* | *-to-raw)
		f=${job#raw-to-}
		f=${f%-to-raw}
		case " $FORMATS luks qcow2-luks qcow2-zlib qcow2-zstd " in
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
	case $job in
	*-direct) jd=$(mktemp -d "$DISK/out.XXXXXX") || exit 1 ;;
	*) jd=$OUT ;;
	esac
	case $job in
	http-*) RUN_TIMEOUT=${BENCH_HTTP_TIMEOUT:-60} ;;
	*) RUN_TIMEOUT=${BENCH_TIMEOUT:-600} ;;
	esac
	in=$(job_input "$job")
	job_warm "$job"
	et='' gt='' erss='' grss='' ewrong=0 gwrong=0
	runs=$(job_runs "$job")
	for ((r = 0; r < runs; r++)); do
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
			# qemu-img 7.2 fails qcow -c: once is enough to show it
			[ "$who" = e ] && [ "$job" = raw-to-qcow-zlib ] &&
				[ "$r" -gt 0 ] && continue
			if [ "$who" = e ]; then
				tool=$QEMU_IMG
			else
				tool=$QIMG
			fi
			job_prepare "$job" "$jd/$who" || exit 1
			# shellcheck disable=SC2046
			res=$(timed_run "$who" "$tool" $(job_args "$job" "$jd/$who"))
			t=${res%% *}
			if [ "$t" != fail ] && ! job_verify "$job" "$jd/$who"; then
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
	# a tool that failed every run shows "fail"
	[ "$emed" = n/a ] && [ -n "$et" ] && emed=fail
	[ "$gmed" = n/a ] && [ -n "$gt" ] && gmed=fail
	[ "$ewrong" = 1 ] && emed=wrong
	[ "$gwrong" = 1 ] && gmed=wrong
	case "$emed $gmed" in
	*n/a* | *fail* | *wrong*) ratio=n/a ;;
	*) ratio=$(awk -v a="$gmed" -v b="$emed" 'BEGIN {
		printf "%.2f", (b > 0 ? a / b : 0) }') ;;
	esac
	er=$(echo "$erss" | median)
	gr=$(echo "$grss" | median)
	jb=$(job_bytes "$job")
	oe=$(job_output "$job" "$jd/e")
	og=$(job_output "$job" "$jd/g")
	# a failed tool's leftover output is no result: its size shows n/a
	case $emed in fail | wrong) oe=none ;; esac
	case $gmed in fail | wrong) og=none ;; esac
	line=$(printf '%-20s %7s %8s %8s %6s %8s %8s %7s %7s %8s %8s' "$job" \
		"$(alloc_mib "$in")" "$gmed" "$emed" "$ratio" "$(rate "$gmed" "$jb")" \
		"$(rate "$emed" "$jb")" "$(kib_mib "$gr")" "$(kib_mib "$er")" \
		"$(alloc_mib "$og")" "$(alloc_mib "$oe")")
	[ -n "${BENCH_COMPARE:-}" ] && line="$line  ${old_ratio[$job]:-n/a}"
	echo "$line"
	summary+=("$line  (times qemu-img:$et; qimg:${gt:- n/a})")
	# shellcheck disable=SC2086
	printf '    {"job": "%s", "ratio": "%s", "qimg_s": "%s", "qemu_img_s": "%s", "qimg_mb_s": "%s", "qemu_img_mb_s": "%s", "qimg_rss_mib": "%s", "qemu_img_rss_mib": "%s", "input_mib": "%s", "qimg_out_mib": "%s", "qemu_img_out_mib": "%s", "runs": %s, "qimg_runs_s": [%s], "qemu_img_runs_s": [%s], "qimg_runs_rss_kib": [%s], "qemu_img_runs_rss_kib": [%s]}\n' \
		"$job" "$ratio" "$gmed" "$emed" "$(rate "$gmed" "$jb")" "$(rate "$emed" "$jb")" \
		"$(kib_mib "$gr")" "$(kib_mib "$er")" "$(alloc_mib "$in")" "$(alloc_mib "$og")" \
		"$(alloc_mib "$oe")" "$runs" "$(jlist $gt)" "$(jlist $et)" "$(jlist $grss)" \
		"$(jlist $erss)" >>"$tmpjobs"
	rm -rf "$jd/e" "$jd/g"
	[ "$jd" = "$OUT" ] || rm -rf "$jd"
done

echo
echo "Summary (ratio = qimg time / qemu-img time, lower is better; sizes are"
echo "allocated MiB, RSS peak in MiB, MB/s of the input (the 1 TiB jobs: of"
echo "its 2 GiB of data); input $SIZE in $WORK, best of $RUNS ($SLOW_RUNS for"
echo "compression); the machine's limit:$(for l in "${refs[@]}"; do
	printf ' %s %s MB/s;' "${l%% *}" "$(mbps "${l##* }")"
done)"
echo "$hdr"
for l in "${summary[@]}"; do
	echo "${l%%  (times*}"
done
for l in "${summary[@]}"; do
	echo "  ${l%% *}:${l#*  (times}" | sed 's/)$//'
done

# --- JSON ---------------------------------------------------------------
JSON=${BENCH_JSON:-$ROOT/bench/results/$(date -u +%Y%m%dT%H%M%SZ).json}
mkdir -p "$(dirname "$JSON")" || exit 1
{
	printf '{\n  "date": "%s",\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
	printf '  "qimg_commit": "%s",\n' "$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
	printf '  "qemu_img": "%s",\n' "$("$QEMU_IMG" --version | sed -n '1{s/"/\\"/g;p;}')"
	printf '  "machine": {"cpus": %s, "cpu": "%s", "mem_kib": %s, "kernel": "%s", "fs": "%s"},\n' \
		"$(nproc)" "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)" \
		"$(awk '/^MemTotal/ { print $2 }' /proc/meminfo)" "$(uname -r)" \
		"$(df --output=fstype "$WORK" | tail -n 1)"
	printf '  "input": {"size": "%s", "bytes": %s, "dir": "%s"},\n' "$SIZE" "$bytes" "$WORK"
	printf '  "runs": %s, "slow_runs": %s,\n' "$RUNS" "$SLOW_RUNS"
	printf '  "limit": ['
	sep=''
	for l in "${refs[@]}"; do
		printf '%s{"tool": "%s", "s": "%s", "mb_s": "%s"}' "$sep" "${l%% *}" "${l##* }" "$(mbps "${l##* }")"
		sep=', '
	done
	printf '],\n  "jobs": [\n'
	sed '$!s/$/,/' "$tmpjobs"
	printf '  ]\n}\n'
} >"$JSON"
echo
echo "bench: results written to $JSON"
