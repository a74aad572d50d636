#!/bin/bash
# SPDX-License-Identifier: MIT
# `make bench` itself (bench/run.sh), on a tiny input with one run per job:
# it runs, prints the machine's limit and a table row per job, and writes
# JSON that parses, with qemu-img's failure on qcow -c shown as "fail", the
# ratio of a job both tools finish, and the outputs checked by qemu-img
# (a wrong result would show "wrong").  Speed itself is never asserted.
. "$(dirname "$0")/lib.sh"

have_qimg || skip_all "no qimg binary at $QIMG"
command -v python3 >/dev/null || skip_all "python3 not installed"

jobs="raw-to-raw raw-to-qcow2 raw-to-qcow-zlib raw-to-vmdk-stream"
BENCH_DIR=$T/w BENCH_DISK_DIR=$T/d BENCH_SIZE=8M BENCH_RUNS=1 \
	BENCH_JSON=$T/b.json BENCH_JOBS=$jobs QIMG=$QIMG \
	bash "$ROOT/bench/run.sh" >"$T/out" 2>"$T/err"
rc=$?
ok "make bench: exit 0" test "$rc" = 0
[ "$rc" = 0 ] || sed -n '1,20p' "$T/err" | sed 's/^/# /'
ok "make bench: the machine's limit is printed" \
	grep -q "nbdcopy\|cp--sparse" "$T/out"
for j in $jobs; do
	ok "make bench: a table row for $j" grep -q "^$j " "$T/out"
done
ok "make bench: no wrong result" sh -c "! grep -q wrong '$T/out'"
ok "make bench: the JSON parses, with every job" python3 - "$T/b.json" "$jobs" <<'PYEOF'
import json, sys
d = json.load(open(sys.argv[1]))
jobs = {j["job"]: j for j in d["jobs"]}
assert sorted(jobs) == sorted(sys.argv[2].split()), jobs.keys()
assert d["limit"] and d["machine"]["cpus"] >= 1
assert jobs["raw-to-qcow-zlib"]["qemu_img_s"] == "fail", jobs["raw-to-qcow-zlib"]
float(jobs["raw-to-qcow-zlib"]["qimg_s"])
float(jobs["raw-to-raw"]["ratio"])
float(jobs["raw-to-vmdk-stream"]["ratio"])
PYEOF
ok "make bench: BENCH_COMPARE shows the earlier ratios" sh -c "
	BENCH_DIR='$T/w' BENCH_SIZE=8M BENCH_RUNS=1 BENCH_JSON='$T/b2.json' \
	BENCH_COMPARE='$T/b.json' BENCH_JOBS=raw-to-raw QIMG='$QIMG' \
	bash '$ROOT/bench/run.sh' 2>/dev/null | grep -q ' was\$'"

# The NBD part: qimg-nbd against qemu-nbd on the same small input.
BENCH_DIR=$T/w BENCH_SIZE=8M BENCH_RUNS=1 BENCH_RAND_OPS=2000 BENCH_CONN_SECS=0.5 \
	QIMG_NBD=$(dirname "$QIMG")/qimg-nbd \
	bash "$ROOT/bench/nbd.sh" >"$T/nbd.out" 2>"$T/nbd.err"
rc=$?
ok "bench/nbd.sh: exit 0" test "$rc" = 0
[ "$rc" = 0 ] || sed -n '1,20p' "$T/nbd.err" | sed 's/^/# /'
for j in nbd-seq-read nbd-seq-write nbd-rand-read nbd-64-conns; do
	ok "bench/nbd.sh: a row with a ratio and both RSS for $j" \
		grep -Eq "^$j +[0-9]+ +[0-9]+ +[0-9.]+ +[0-9.]+ +[0-9.]+ +[0-9]+ +[0-9]+$" "$T/nbd.out"
done
nbdjson=$(sed -n 's/^bench: results written to //p' "$T/nbd.out")
ok "bench/nbd.sh: the JSON parses" python3 -c "
import json, sys
d = json.load(open('$nbdjson'))
assert len(d) == 4 and all(j['ratio'] > 0 and j['qimg_rss_mib'] > 0 for j in d), d
"
spawn rm -f "$nbdjson"
done_testing
