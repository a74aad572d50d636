# SPDX-License-Identifier: MIT
# shellcheck shell=bash
# Shared helpers for the interop suites: TAP output, a scratch directory,
# and "run the same command with qemu-img and with qimg, compare stdout,
# stderr and exit status".  Sourced by every tests/interop/*.sh.
#
# Environment: QIMG (binary under test, default build/qimg), QEMU_IMG,
# QEMU_IO (reference tools), QIMG_TIMEOUT (seconds per qimg run, 120),
# TAP_VERBOSE=1 (print every compared command as a diagnostic).

set -u

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
QIMG=${QIMG:-$ROOT/build/qimg}
case $QIMG in
/*) ;;
*) QIMG=$ROOT/$QIMG ;;
esac
# The oracle: qemu-img from PATH, run through the release build's
# tests/tools/qemu-img (oracle-exec.c), which preloads kdfclock.so so that
# its LUKS benchmark costs no 2.4 processor-s a command (only the
# machine-dependent iteration counts change; the suites mask them).
if [ -z "${QEMU_IMG:-}" ]; then
	QEMU_IMG=qemu-img
	if [ -x "$ROOT/build/tests/tools/qemu-img" ] &&
		[ -f "$ROOT/build/tests/tools/kdfclock.so" ] &&
		QIMG_ORACLE_QEMU_IMG=$(command -v qemu-img); then
		export QIMG_ORACLE_QEMU_IMG
		QEMU_IMG=$ROOT/build/tests/tools/qemu-img
	fi
fi
QEMU_IO=${QEMU_IO:-qemu-io}
QIMG_TIMEOUT=${QIMG_TIMEOUT:-120}
# limit_qimg SECS: QIMG_LIMIT is what bounds a qimg run to SECS seconds:
# the release build's tlimit (an alarm, then exec: no process stays
# behind), else timeout(1), which costs a fork and a dynamic exec more on
# every run.  Either way a run that hangs ends with an exit status >= 124.
# (Not for qemu-img and qemu-io: QEMU blocks SIGALRM and reads it from a
# signalfd.)
# An ASan build's runs get tests/tools/prefault.so preloaded too (its
# LeakSanitizer's exit scan faults no pages in one by one).
limit_qimg()
{
	local pre=()
	case $QIMG in
	*asan*/qimg) [ -f "$ROOT/build/tests/tools/prefault.so" ] &&
		pre=(-P "$ROOT/build/tests/tools/prefault.so") ;;
	esac
	if [ -x "$ROOT/build/tests/tools/tlimit" ]; then
		QIMG_LIMIT=("$ROOT/build/tests/tools/tlimit" "${pre[@]}" "$1")
	else
		QIMG_LIMIT=(timeout -k 5 "$1")
	fi
}
limit_qimg "$QIMG_TIMEOUT"

# spawn [-C DIR] PROGRAM [ARG]...: run PROGRAM as a simple command would
# (in DIR), without forking this shell: the release build's bash builtin
# (tests/tools/spawn.c; a fork of the shell costs more than a small
# program's run on the CI's virtual machine), else a subshell that execs.
if ! enable -f "$ROOT/build/tests/tools/spawn.so" spawn 2>/dev/null; then
	spawn()
	{
		local dir=
		if [ "${1:-}" = -C ]; then
			dir=$2
			shift 2
		fi
		(
			if [ -n "$dir" ]; then cd "$dir" || exit 126; fi
			exec "$@"
		)
	}
fi
SAMPLES=${SAMPLES:-$ROOT/../shared/samples}

tap_n=0
tap_failed=0

# QIMG_QUICK=1 (make check sets it): a suite's long matrices run a sample
# of their variants; 0 (make check-full, or a suite run by hand) runs them
# whole.  quick_pick N is true for the N-th variant of a matrix that the
# sample keeps (every third, from the first), and always when whole;
# whole is true when the suite runs whole.
QUICK=${QIMG_QUICK:-0}
# norm_default's patterns
shopt -s extglob
quick_pick()
{
	[ "$QUICK" != 1 ] || [ $(($1 % 3)) = 0 ]
}
whole()
{
	[ "$QUICK" != 1 ]
}
# tsan_build: the suite runs the ThreadSanitizer build, whose value is the
# threads; single-threaded checks (option errors) may be left to the
# release and ASan runs of the same suite.
tsan_build()
{
	case $QIMG in
	*build-tsan/*) return 0 ;;
	esac
	return 1
}

# alike ITEM: sets $item to ITEM without its mark.  In a list of cases, an
# ITEM marked with a leading "~" is one more case of a path an unmarked
# item already takes (the same message over a similar value, the same
# failure through another command): quick mode runs one in three of the
# marked items (alike is false for the others), whole mode all of them.
alike_n=0
alike()
{
	item=$1
	case $item in
	'~'*) item=${item#'~'} ;;
	*) return 0 ;;
	esac
	alike_n=$((alike_n + 1))
	quick_pick $((alike_n - 1))
}

# Under a sanitizer build, any report (ASan, LSan, UBSan) must look like a
# crash (exit 134), not like an ordinary "exit 1" failure.
export ASAN_OPTIONS="exitcode=134:detect_leaks=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export LSAN_OPTIONS="print_suppressions=0:suppressions=$ROOT/tests/interop/lsan.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
export UBSAN_OPTIONS="halt_on_error=1:exitcode=134:print_stacktrace=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"

skip_all()
{
	echo "1..0 # SKIP $*"
	exit 77
}

# A missing oracle is a skip on a developer's machine and a failure in CI
# (CI=true): CI must never go green without the tool it compares with.
need_oracle()
{
	command -v "$1" >/dev/null 2>&1 && return 0
	if [ "${CI:-}" = true ]; then
		echo "not ok 1 - oracle $1 not found (CI=true)"
		echo "1..1"
		exit 1
	fi
	skip_all "$1 not found"
}
need_oracle "$QEMU_IMG"
need_oracle "$QEMU_IO"

T=$(mktemp -d "${TMPDIR:-/tmp}/qimg-interop.XXXXXX") ||
	skip_all "cannot make a scratch directory"
cleanup_hooks=
tap_cleanup()
{
	local h
	# a hook naming a variable unset by now must not end the shell (set
	# -u) before the scratch directory is gone
	set +u
	for h in $cleanup_hooks; do
		"$h" >/dev/null 2>&1
	done
	cd /
	rm -rf "$T"
}
trap tap_cleanup EXIT
trap 'exit 130' INT TERM

# E/ is where qemu-img runs, G/ where qimg runs; inputs live in $T and are
# referred to as ../NAME from both, so outputs naming files are equal.
E=$T/e
G=$T/g
R=$T/.res
mkdir -p "$E" "$G" "$R"
cd "$T" || exit 1

# python3 is the system's (Debian's, with the modules setup.sh installs:
# python3-libnbd, pyftpdlib, OpenSSL) where there is one, as $PY and first
# on PATH: a python3 found on PATH may be a version manager's shim that
# costs more than the script it runs (pyenv's: 0.7 s of processor time a
# run here).
PY=python3
if [ -x /usr/bin/python3 ]; then
	PY=/usr/bin/python3
	mkdir -p "$T/.bin" && ln -sf /usr/bin/python3 "$T/.bin/python3" &&
		PATH=$T/.bin:$PATH
fi

# Register a function to run at exit (kill background helpers).
at_exit()
{
	cleanup_hooks="$cleanup_hooks $1"
}

# Servers a suite started in the background (their pids in $pids):
# stop_servers kills and reaps them (register it with at_exit).
pids=
stop_servers()
{
	local p
	for p in $pids; do
		kill "$p" 2>/dev/null
	done
	wait 2>/dev/null
}

# wait_sock PATH [PID]: until a unix socket exists (5 s at most); with
# the PID of the server that makes it, until the socket exists or the
# server has exited (30 s at most).
wait_sock()
{
	local i n=100
	[ -n "${2:-}" ] && n=600
	for i in $(seq $n); do
		[ -S "$1" ] && return 0
		[ -n "${2:-}" ] && ! kill -0 "$2" 2>/dev/null && return 1
		sleep 0.05
	done
	return 1
}

# free_port: a TCP port nothing listens on, for a server started with it.
free_port()
{
	local p
	while :; do
		p=$((20000 + RANDOM % 20000))
		(exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || {
			echo "$p"
			return
		}
	done
}

# make_tls_certs DIR: certtool makes a CA (DIR/ca-cert.pem, ca-key.pem),
# DIR/s with a server certificate for localhost, its key and the CA's
# certificate, and DIR/c with a client's (qemu's file names).
make_tls_certs()
{
	local d=$1
	mkdir -p "$d/s" "$d/c"
	printf 'cn = qimg test CA\nca\ncert_signing_key\nexpiration_days = 2\n' >"$d/ca.info"
	printf 'organization = qimg\ncn = localhost\ndns_name = localhost\ntls_www_server\nencryption_key\nsigning_key\nexpiration_days = 2\n' >"$d/server.info"
	printf 'organization = qimg\ncn = qimg-client\ntls_www_client\nencryption_key\nsigning_key\nexpiration_days = 2\n' >"$d/client.info"
	(
		cd "$d" &&
		certtool --generate-privkey >ca-key.pem &&
		certtool --generate-self-signed --load-privkey ca-key.pem \
			--template ca.info --outfile ca-cert.pem &&
		certtool --generate-privkey >s/server-key.pem &&
		certtool --generate-certificate --load-ca-certificate ca-cert.pem \
			--load-ca-privkey ca-key.pem --load-privkey s/server-key.pem \
			--template server.info --outfile s/server-cert.pem &&
		certtool --generate-privkey >c/client-key.pem &&
		certtool --generate-certificate --load-ca-certificate ca-cert.pem \
			--load-ca-privkey ca-key.pem --load-privkey c/client-key.pem \
			--template client.info --outfile c/client-cert.pem &&
		cp ca-cert.pem s/ && cp ca-cert.pem c/
	) >/dev/null 2>&1
}

# make_unfit_certs DIR CA OTHER: certificates that tls-creds-x509's
# sanity check refuses, one directory each under DIR, signed by the CA in
# directory CA (ca-cert.pem, ca-key.pem) unless said: a server's signed by
# OTHER (its ca-cert.pem, ca-key.pem), one that is a CA, one that may not
# sign (RSA: an ECDSA key always may), an expired one, one not yet active, a CA list and a certificate
# that are not PEM, a CA that is no CA (its own, signing the server's);
# a client's signed by OTHER, an expired client's.  ECDSA keys: quick.
make_unfit_certs()
{
	local d=$1 ca=$2 other=$3 srv cli n
	srv='cn = localhost\ndns_name = localhost\ntls_www_server\nencryption_key\nsigning_key\n'
	cli='cn = qimg-client\ntls_www_client\nencryption_key\nsigning_key\n'
	# leaf DIR ROLE TEMPLATE SIGNER [KEYTYPE]: DIR/ROLE-{key,cert}.pem,
	# DIR/ca-cert.pem
	leaf()
	{
		mkdir -p "$1"
		[ -e "$1/ca-cert.pem" ] || cp "$ca/ca-cert.pem" "$1/"
		printf "$3" >"$1/$2.info"
		certtool --generate-privkey --key-type="${5:-ecdsa}" >"$1/$2-key.pem" &&
		certtool --generate-certificate --load-ca-certificate "$4/ca-cert.pem" \
			--load-ca-privkey "$4/ca-key.pem" --load-privkey "$1/$2-key.pem" \
			--template "$1/$2.info" --outfile "$1/$2-cert.pem"
	}
	(
		leaf "$d/otherca" server "$srv"'expiration_days = 2\n' "$other"
		leaf "$d/isca" server "${srv}"'ca\nexpiration_days = 2\n' "$ca"
		leaf "$d/nosign" server 'cn = localhost\ntls_www_server\nencryption_key\nexpiration_days = 2\n' "$ca" rsa
		leaf "$d/expired" server "$srv"'activation_date = "2019-01-01 00:00:00 UTC"\nexpiration_date = "2020-01-01 00:00:00 UTC"\n' "$ca"
		leaf "$d/future" server "$srv"'activation_date = "2090-01-01 00:00:00 UTC"\nexpiration_date = "2091-01-01 00:00:00 UTC"\n' "$ca"
		leaf "$d/junkca" server "$srv"'expiration_days = 2\n' "$ca"
		echo junk >"$d/junkca/ca-cert.pem"
		leaf "$d/junkcert" server "$srv"'expiration_days = 2\n' "$ca"
		echo junk >"$d/junkcert/server-cert.pem"
		mkdir -p "$d/notca"
		certtool --generate-privkey --key-type=ecdsa >"$d/notca/ca-key.pem"
		printf 'cn = not a CA\nexpiration_days = 2\n' >"$d/notca/ca.info"
		certtool --generate-self-signed --load-privkey "$d/notca/ca-key.pem" \
			--template "$d/notca/ca.info" --outfile "$d/notca/ca-cert.pem"
		leaf "$d/notca" server "$srv"'expiration_days = 2\n' "$d/notca"
		leaf "$d/cotherca" client "$cli"'expiration_days = 2\n' "$other"
		leaf "$d/cexpired" client "$cli"'activation_date = "2019-01-01 00:00:00 UTC"\nexpiration_date = "2020-01-01 00:00:00 UTC"\n' "$ca"
	) >/dev/null 2>&1
}

diag()
{
	printf '%s\n' "$@" | sed 's/^/# /'
}

# Print at most 40 lines of a file as diagnostics.
diag_file()
{
	sed -n '1,40p' "$1" | sed 's/^/# /'
}

pass()
{
	tap_n=$((tap_n + 1))
	echo "ok $tap_n - $*"
}

fail()
{
	tap_n=$((tap_n + 1))
	tap_failed=$((tap_failed + 1))
	echo "not ok $tap_n - $*"
}

skip()
{
	tap_n=$((tap_n + 1))
	echo "ok $tap_n # SKIP $*"
}

# ok DESC CMD...: pass if CMD succeeds.
ok()
{
	local d=$1
	shift
	if run_cmd "$@"; then
		pass "$d"
	else
		fail "$d"
		diag "command failed: $*"
	fi
}

# run_cmd COMMAND [ARG]...: a function or builtin run here, a program
# through spawn (no fork of the shell).
declare -A SHELL_BUILTIN=()
for _b in $(compgen -b); do SHELL_BUILTIN[$_b]=1; done
unset _b
run_cmd()
{
	if [ -n "${SHELL_BUILTIN[$1]:-}" ] || declare -F "$1" >/dev/null; then
		"$@"
	else
		spawn "$@"
	fi
}

# bounded DESC ARGS...: qimg ARGS succeeds with a peak RSS under 64 MiB
# (its output in $T/bounded.out).
bounded()
{
	local d=$1 rc rss
	shift
	# ASan holds freed memory in a quarantine (256 MiB by default) that
	# would count as RSS; a small one keeps the figure the program's own
	ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=4 \
		/usr/bin/time -f %M -o "$T/bounded.rss" "$QIMG" "$@" \
		>"$T/bounded.out" 2>&1
	rc=$?
	rss=$(tail -n 1 "$T/bounded.rss" 2>/dev/null)
	case $rss in '' | *[!0-9]*) rss=999999 ;; esac
	if [ "$rc" = 0 ] && [ "$rss" -lt 65536 ]; then
		pass "$d in bounded memory (${rss} KiB < 64 MiB)"
	else
		fail "$d in bounded memory"
		diag "exit $rc, peak RSS $rss KiB: $(head -n 2 "$T/bounded.out")"
	fi
}

done_testing()
{
	echo "1..$tap_n"
	[ "$tap_failed" -eq 0 ]
	exit $?
}

# Run qimg with a time limit.  Exit status 124 or 142 = timeout, >= 128 =
# signal.
qimg()
{
	spawn "${QIMG_LIMIT[@]}" "$QIMG" "$@"
}

qemu_img()
{
	spawn "$QEMU_IMG" "$@"
}

# qemu-io on an image, quiet; fails the caller's test if it fails.
qio()
{
	spawn "$QEMU_IO" "$@" >/dev/null
}

# refused_clearly DESC PATTERN ARGS...: qimg ARGS must fail with exit 1,
# print nothing on stdout and exactly one stderr line that names the
# feature (PATTERN, a grep -E expression).  For features a later issue
# brings, where qimg says so instead of guessing.
refused_clearly()
{
	local d=$1 pat=$2 rc out err
	shift 2
	out=$(qimg "$@" 2>"$T/refused.err")
	rc=$?
	err=$(cat "$T/refused.err")
	if [ "$rc" = 1 ] && [ -z "$out" ] &&
		[ "$(printf '%s\n' "$err" | wc -l)" = 1 ] &&
		printf '%s\n' "$err" | grep -Eq "$pat"; then
		pass "$d"
	else
		fail "$d"
		diag "exit $rc, stdout: $out"
		diag "stderr: $err"
	fi
}

have_qimg()
{
	[ -x "$QIMG" ]
}

# Normalisers, applied to both tools' stdout+stderr before comparing.
# The program-name prefix of qimg's messages becomes qemu-img's; host
# allocation ("disk size", "actual-size") is filesystem dependent.
norm_prog()
{
	# Help text: the version, copyright, format list and closing lines
	# are qimg's own on purpose; the rest must match.
	sed "${NORM_PROG_SED[@]}"
}

norm_size()
{
	sed "${NORM_SIZE_SED[@]}"
}

# norm_size, and snapshot dates masked (two tools' snapshots of the same
# image are taken at different seconds).
norm_date()
{
	norm_size | sed -E 's/[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9:]{8}/DATE/'
}

# What the result files hold for the last run_both: $R/{e,g}.{out,err,rc}.
NORM=norm_size

# norm_files PREFIX: PREFIX.out and PREFIX.err normalised (NORM, then
# norm_prog) into PREFIX.out.n and PREFIX.err.n.  The default NORM is run
# as one sed with norm_prog's rules, and an empty stream costs nothing:
# this runs twice per compared command, thousands of times per suite.
NORM_PROG_SED=(-e 's/^qimg:/qemu-img:/' -e 's/^qimg-[a-z]*:/qemu-img:/'
	-e 's/^\(qimg\|qemu-img\) version .*/VERSION/'
	-e 's/^Copyright (c) .*/COPYRIGHT/'
	-e 's/^usage: qimg /usage: qemu-img /'
	-e 's/^Supported formats: .*/Supported formats: LIST/'
	-e '/^See <https:\/\/qemu.org\/contribute/d'
	-e '/^More information on the QEMU project/d'
	-e '/^qimg is a reimplementation of qemu-img/d'
	-e '/^for the meaning of every command and option\.$/d'
	-e '/^Commands qemu-img does not have:$/d'
	-e '/^  drives \[--object/d' -e '/^  run \[--object/d')
NORM_SIZE_SED=(-e 's/^\(\( *\)disk size: \).*/\1X/'
	-e 's/^\( *"actual-size": \)[0-9]*/\1X/')
# NORM_THEN[NAME]=FUNC: normaliser NAME is norm_size followed by bash
# function FUNC, which edits a normalised file FILE.n in place; norm_files
# then does NAME without a process for small outputs (a suite's own sed
# pipeline would cost three processes per stream).  FUNC is most simply a
# call of lines_edit.
declare -A NORM_THEN=()
# norm_date's edit
NORM_THEN[norm_date]=dates_masked
dates_masked()
{
	lines_edit "$1" dates_masked_lines \
		-E 's/[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9:]{8}/DATE/'
}
dates_masked_lines()
{
	local c='[0-9:]'
	lines=("${lines[@]/[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9] $c$c$c$c$c$c$c$c/DATE}")
}

# norm_bench: norm_size, and what changes from run to run in bench's
# output and in automatic node names masked: "Run completed in T seconds."
# becomes "Run completed", "#block123" becomes "#blockN".
BENCH_SED=(-e 's/#block[0-9]*/#blockN/g' -e 's/^Run completed in .*/Run completed/')
norm_bench()
{
	norm_size | sed "${BENCH_SED[@]}"
}
NORM_THEN[norm_bench]=bench_masked
bench_masked()
{
	lines_edit "$1" bench_masked_lines "${BENCH_SED[@]}"
}
bench_masked_lines()
{
	lines=("${lines[@]//#block*([0-9])/#blockN}")
	lines=("${lines[@]/#Run completed in */Run completed}")
}

# norm_nodes: norm_size, and the two random digits QEMU puts after the
# counter of a node name it generates masked: "#block412" is "#block4NN".
NODES_SED=(-e 's/#block\([0-9]*\)[0-9][0-9]/#block\1NN/g')
norm_nodes()
{
	norm_size | sed "${NODES_SED[@]}"
}
NORM_THEN[norm_nodes]=nodes_masked
nodes_masked()
{
	lines_edit "$1" nodes_masked_lines "${NODES_SED[@]}"
}
nodes_masked_lines()
{
	local i l out
	for i in "${!lines[@]}"; do
		l=${lines[i]} out=
		while [[ $l =~ \#block([0-9]*)[0-9][0-9] ]]; do
			out+=${l%%"${BASH_REMATCH[0]}"*}#block${BASH_REMATCH[1]}NN
			l=${l#*"${BASH_REMATCH[0]}"}
		done
		lines[i]=$out$l
	done
}

# norm_remote: norm_size, without the GLib warnings qemu-img's curl and
# iscsi modules print on some failed opens (their own bug), and with the
# milliseconds of a connect error masked.
REMOTE_SED=(-e '/^qemu-img: GLib: /d' -e 's/ after [0-9]* ms:/ after N ms:/')
NORM_THEN[norm_remote]=remote_masked
remote_masked()
{
	lines_edit "$1" remote_masked_lines "${REMOTE_SED[@]}"
}
remote_masked_lines()
{
	lines_drop "qemu-img: GLib: "
	lines=("${lines[@]/ after *([0-9]) ms:/ after N ms:}")
}

# lines_edit FILE FUNC SED-ARGS...: FILE edited in place.  A small file is
# read into the array `lines`, one element per line, which bash function
# FUNC edits (unset an element to delete its line), and written back; a big
# one goes through sed SED-ARGS, which must make the same edits.  An empty
# file is left alone.
lines_edit()
{
	local f=$1 fn=$2
	local -a lines
	shift 2
	[ -s "$f" ] || return 0
	if ! small_file "$f"; then
		spawn sed -i "$@" "$f"
		return
	fi
	mapfile -t lines <"$f"
	"$fn"
	if [ "${#lines[@]}" = 0 ]; then
		: >"$f"
	else
		printf '%s\n' "${lines[@]}" >"$f"
	fi
}
# lines_drop PREFIX...: in a lines_edit function, the lines that start
# with a PREFIX deleted.
lines_drop()
{
	local i p
	for i in "${!lines[@]}"; do
		for p in "$@"; do
			if [[ ${lines[i]} == "$p"* ]]; then
				unset 'lines[i]'
				break
			fi
		done
	done
}

norm_files()
{
	local f then=${NORM_THEN[$NORM]:-}
	for f in "$1.out" "$1.err"; do
		if [ ! -s "$f" ]; then
			: >"$f.n"
		elif [ "$NORM" = norm_size ] || [ -n "$then" ]; then
			norm_default "$f" ||
				sed "${NORM_SIZE_SED[@]}" "${NORM_PROG_SED[@]}" \
					"$f" >"$f.n"
			[ -z "$then" ] || "$then" "$f.n"
		else
			"$NORM" <"$f" | norm_prog >"$f.n"
		fi
	done
}

# norm_default FILE: NORM_SIZE_SED and NORM_PROG_SED's rules done by bash
# itself into FILE.n (a sed per stream was most of a suite's own time);
# returns 1, writing nothing, for help text (its line deletions are left to
# sed).  Text only: the outputs compared are lines of text.
norm_default()
{
	local -a a
	local all i rest
	# big outputs (a map of a million extents) go to sed
	small_file "$1" || return 1
	mapfile -t a <"$1" || return 1
	all="${a[*]}"
	case $all in
	*"qemu.org/contribute"* | *"More information on the QEMU project"* | \
		*"qimg is a reimplementation of qemu-img"* | \
		*"for the meaning of every command and option."*)
		return 1
		;;
	esac
	a=("${a[@]/#"qimg:"/qemu-img:}")
	a=("${a[@]/#qimg-+([a-z]):/qemu-img:}")
	a=("${a[@]/#@(qimg|qemu-img)" version "*/VERSION}")
	a=("${a[@]/#"Copyright (c) "*/COPYRIGHT}")
	a=("${a[@]/#"usage: qimg "/usage: qemu-img }")
	a=("${a[@]/#"Supported formats: "*/Supported formats: LIST}")
	case $all in
	*"disk size: "* | *'"actual-size": '*)
		for i in "${!a[@]}"; do
			case ${a[i]} in
			*( )"disk size: "*)
				a[i]="${a[i]%%disk size: *}disk size: X"
				;;
			*( )'"actual-size": '*)
				rest="${a[i]#*\"actual-size\": }"
				rest="${rest##+([0-9])}"
				a[i]="${a[i]%%\"actual-size\": *}\"actual-size\": X$rest"
				;;
			esac
		done
		;;
	esac
	printf '%s\n' "${a[@]}" >"$1.n"
}

# small_file FILE: FILE holds at most 64 KiB (bash's own string work is
# slower than a process beyond that).
small_file()
{
	local x
	IFS= read -r -d '' -N 65537 x <"$1"
	[ "${#x}" -le 65536 ]
}

# size_within REF FILE PCT: FILE is at most PCT percent larger than REF
# (qimg's compressed output against qemu-img's).
size_within()
{
	local a b
	a=$(stat -c %s "$1") && b=$(stat -c %s "$2") || return 1
	[ $((b * 100)) -le $((a * (100 + $3))) ] && return 0
	diag "$2: $b bytes, $1: $a bytes (more than $3 % larger)"
	return 1
}

# retry_qemu_img_flake: from now on $QEMU_IMG is a wrapper that runs
# qemu-img again (up to 6 times) when it fails with "Unable to get accurate
# CPU usage": its LUKS key derivation's timer fails so now and then on this
# kernel (iotests/README.md), which would otherwise break a suite's set-up
# steps at random.  Only the last run's output is printed.
retry_qemu_img_flake()
{
	local real=$QEMU_IMG
	QEMU_IMG=$T/qemu-img-retry
	cat >"$QEMU_IMG" <<EOF
#!/bin/bash
for i in 1 2 3 4 5 6; do
	"$real" "\$@" >"$T/qemu-img-retry.out" 2>"$T/qemu-img-retry.err"
	rc=\$?
	grep -q "accurate CPU usage" "$T/qemu-img-retry.err" || break
done
cat "$T/qemu-img-retry.out"
cat "$T/qemu-img-retry.err" >&2
exit \$rc
EOF
	chmod +x "$QEMU_IMG"
}

# same_text A B: two text files are equal (small ones compared by bash
# itself: no process).
same_text()
{
	local a b
	if ! small_file "$1" || ! small_file "$2"; then
		spawn cmp -s "$1" "$2"
		return
	fi
	IFS= read -r -d '' a <"$1"
	IFS= read -r -d '' b <"$2"
	[ "$a" = "$b" ]
}

# text_same DESC A B: pass when the two text files are equal, else fail
# with the first lines of their diff.
text_same()
{
	if same_text "$2" "$3"; then
		pass "$1"
	else
		fail "$1"
		diff "$2" "$3" | head -20 | sed 's/^/# /'
	fi
}

# The reference `same` runs in $E: qemu-img, or in a sanitizer build's run
# of a suite whose release run is part of the same make check
# (QIMG_SAME_REF, set by tests/run-all.sh to the release qimg), that
# release qimg.  Its run compared it with qemu-img line by line, so the
# sanitizer build is held to qemu-img's results through it, at a third of
# qemu-img's start-up cost.  Set-up steps and the checks of images run
# qemu-img itself.
SAME_REF= SAME_REF_NAME=qemu-img
if [ -n "${QIMG_SAME_REF:-}" ] && [ "$QIMG_SAME_REF" != "$QIMG" ] &&
	[ -x "$QIMG_SAME_REF" ]; then
	SAME_REF=$QIMG_SAME_REF SAME_REF_NAME="qimg (release)"
fi

# run_tool e|g ARGS...: run qemu-img (e, in $E; see SAME_REF) or qimg (g, in
# $G).
run_tool()
{
	local who=$1 rc
	shift
	if [ "$who" = e ]; then
		spawn -C "$E" "${SAME_REF:-$QEMU_IMG}" "$@" >"$R/e.out" \
			2>"$R/e.err" \
			</dev/null
		rc=$?
	else
		spawn -C "$G" "${QIMG_LIMIT[@]}" "$QIMG" "$@" \
			>"$R/g.out" 2>"$R/g.err" </dev/null
		rc=$?
	fi
	echo "$rc" >"$R/$who.rc"
	norm_files "$R/$who"
}

# same DESC ARGS...: run `qemu-img ARGS` in $E and `qimg ARGS` in $G;
# one TAP test passes when stdout, stderr (normalised) and exit status
# are equal and qimg did not crash or time out.
same()
{
	local d=$1
	shift
	run_tool e "$@"
	same_from_e "$d" "$@"
}

# same_from_e DESC ARGS...: the second half of same: qimg's run, compared
# with the qemu-img run just made (for a suite that runs qemu-img its own
# way first).
same_from_e()
{
	local d=$1
	shift
	run_tool g "$@"
	judge "$d" "$@"
}

# judge DESC ARGS...: the runs in $R/e.* and $R/g.* have the same exit
# status, stdout and stderr (normalised), and g did not crash or time out;
# one TAP test.  JUDGE_E and JUDGE_G name the runs in the diagnostics (a
# suite that runs one reader on each tool's images renames them).
JUDGE_E=$SAME_REF_NAME JUDGE_G=qimg
judge()
{
	local d=$1 erc grc bad=
	shift
	read -r erc <"$R/e.rc"
	read -r grc <"$R/g.rc"
	if [ "$erc" = 124 ] || [ "$erc" = 137 ]; then
		# a suite that bounds the oracle's runs too (a server that
		# does not answer)
		bad="$JUDGE_E timed out (exit $erc)"
	elif [ "$grc" -ge 124 ] && [ "$grc" != "$erc" ]; then
		bad="$JUDGE_G crashed or timed out (exit $grc)"
	elif [ "$erc" != "$grc" ]; then
		bad="exit status: $JUDGE_E $erc, $JUDGE_G $grc"
	elif ! same_text "$R/e.out.n" "$R/g.out.n"; then
		bad="stdout differs"
	elif ! same_text "$R/e.err.n" "$R/g.err.n"; then
		bad="stderr differs"
	fi
	if [ -z "$bad" ]; then
		pass "$d"
		[ "${TAP_VERBOSE:-0}" = 1 ] && diag "args: $*"
		return 0
	fi
	fail "$d"
	diag "args: $*" "$bad"
	diff -u "$R/e.out.n" "$R/g.out.n" | sed -n '3,30p' | sed 's/^/# out /'
	diff -u "$R/e.err.n" "$R/g.err.n" | sed -n '3,30p' | sed 's/^/# err /'
	return 1
}

# same_rc DESC ARGS...: only the exit status and the first line of stderr
# (normalised) must match; for commands whose later lines legitimately
# differ.
same_rc()
{
	local d=$1 erc grc bad=
	shift
	run_tool e "$@"
	run_tool g "$@"
	read -r erc <"$R/e.rc"
	read -r grc <"$R/g.rc"
	if [ "$grc" -ge 124 ] && [ "$grc" != "$erc" ]; then
		bad="qimg crashed or timed out (exit $grc)"
	elif [ "$erc" != "$grc" ]; then
		bad="exit status: qemu-img $erc, qimg $grc"
	elif [ "$(head -n 1 "$R/e.err.n")" != "$(head -n 1 "$R/g.err.n")" ]; then
		bad="first line of stderr differs"
	fi
	if [ -z "$bad" ]; then
		pass "$d"
		return 0
	fi
	fail "$d"
	diag "args: $*" "$bad"
	diag "qemu-img: $(head -n 1 "$R/e.err.n")" "qimg:     $(head -n 1 "$R/g.err.n")"
	return 1
}

# Compare the guest contents of two images with qemu-img (exit 0 = same).
contents_equal()
{
	spawn "$QEMU_IMG" compare -q "$1" "$2" >/dev/null 2>&1
}

# qemu-img check of a qcow2 image, backing file not opened: no corruption,
# no leaks (exit 0).
check_clean()
{
	spawn "$QEMU_IMG" check -q "$(qcow2_nobacking "$1")" >/dev/null 2>&1
}

# check_clean_or_leaks IMG: exit 0 or 3 (leaks only, allowed after a crash).
check_no_corruption()
{
	spawn "$QEMU_IMG" check -q "$(qcow2_nobacking "$1")" >/dev/null 2>&1
	case $? in
	0 | 3) return 0 ;;
	*) return 1 ;;
	esac
}

# json: pseudo file name opening a qcow2 file without its backing chain.
qcow2_nobacking()
{
	local f=$1
	case $f in
	/*) ;;
	*) f=$(pwd)/$f ;;
	esac
	printf 'json:{"driver":"qcow2","backing":null,"file":{"driver":"file","filename":"%s"}}' "$f"
}

# info --output=json with the host-dependent fields and the name removed.
info_json()
{
	"$QEMU_IMG" info --output=json "$@" 2>&1 |
		sed -e '/"actual-size"/d' -e '/"filename"/d'
}

# A file of N KiB (N a multiple of 64) mixing one-byte runs, random bytes,
# zeros and text, in 64 KiB pieces (one perl: a few processes per piece
# were seconds for the 64 MiB ones).
mkpattern()
{
	spawn perl -e '
		my ($f, $kib) = @ARGV;
		open(my $o, ">", $f) or die "$f: $!\n";
		open(my $r, "<", "/dev/urandom") or die "/dev/urandom: $!\n";
		for (my $i = 0; $i * 64 < $kib; $i++) {
			my $b;
			if ($i % 4 == 0) {
				$b = "A" x 65536;
			} elsif ($i % 4 == 1) {
				read($r, $b, 65536) == 65536 or die "urandom\n";
			} elsif ($i % 4 == 2) {
				$b = "\0" x 65536;
			} else {
				my $l = "line $i of some text for compression\n";
				$b = substr($l x (65536 / length($l) + 1), 0, 65536);
			}
			print $o $b or die "$f: $!\n";
		}
		close($o) or die "$f: $!\n";' "$1" "$2"
}

# map_shape IMG [fold]: IMG's map without host offsets, neighbours of the
# same kind merged: the allocation and zero state only, not where clusters
# landed.  With "fold", a data cluster over a hole in the host file counts
# as plain data (how sparse the host file is, is not compared).
map_shape()
{
	"$QEMU_IMG" map --output=json "$1" 2>&1 |
		awk -v fold="${2:-}" '
		{
			line = $0
			sub(/, "offset": [0-9]*/, "", line)
			if (fold == "fold")
				sub(/"zero": true, "data": true/,
				    "\"zero\": false, \"data\": true", line)
			split(line, f, /"length": |, "depth"/)
			match(line, /"start": [0-9]+/)
			st = substr(line, RSTART + 9, RLENGTH - 9) + 0
			len = f[2] + 0
			kind = line
			sub(/.*"depth"/, "", kind)
			sub(/[],]*$/, "", kind)
			if (n && kind == k && st == s + l) { l += len; next }
			if (n) print s, l, k
			s = st; l = len; k = kind; n = 1
		}
		END { if (n) print s, l, k }'
}

# poke FILE OFFSET HEX: overwrite bytes of FILE at OFFSET with the bytes the
# hex string gives (damaging an image on purpose).
poke()
{
	spawn perl -e 'open(my $f, "+<:raw", $ARGV[0]) or die; seek($f, $ARGV[1], 0);
		print $f pack("H*", $ARGV[2]); close($f) or die' "$@"
}

# le32 N, le64 N: N as little-endian hex, for poke.
le32() { perl -e 'print unpack("H*", pack("V", $ARGV[0]))' -- "$1"; }
le64() { perl -e 'print unpack("H*", pack("Q<", $ARGV[0]))' -- "$1"; }

# same_file DESC NAME: NAME in E/ (qemu-img's) and G/ (qimg's) is the same
# file byte for byte, or absent from both.
same_file()
{
	local d=$1 f=$2
	if [ ! -e "$E/$f" ] && [ ! -e "$G/$f" ]; then
		pass "$d: no $f, as qemu-img"
	elif [ -e "$E/$f" ] && [ -e "$G/$f" ] && spawn cmp -s "$E/$f" "$G/$f"; then
		pass "$d: $f is qemu-img's byte for byte"
	else
		fail "$d: $f is qemu-img's byte for byte"
		diag "$(ls -l "$E/$f" "$G/$f" 2>&1)"
	fi
}

# unchanged DESC FILE CKSUM: FILE still has the cksum taken before.
unchanged()
{
	if [ "$(cksum <"$2")" = "$3" ]; then
		pass "$1: image unchanged"
	else
		fail "$1: image unchanged"
	fi
}
