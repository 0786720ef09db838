#!/usr/bin/env bash
# bench/run.sh: build every starter, measure them side by side in one run and
# print tables of medians and ratios (see docs/performance.md).
#
#   bench/run.sh [-n ITERATIONS] [-w WARMUP] [-o OUTDIR] [-d PIDDIR] [-N NICE]
#
# PID files and sockets go in PIDDIR: by default /dev/shm when it is a tmpfs
# (as /run is on a real system), else /tmp. -N runs the measurements at that
# nice value (e.g. -10, as root) to shield them from other jobs on a shared
# machine; every row gets the same priority.
#
# Installs daemonize with apt-get if it is missing (start-stop-daemon comes
# with dpkg). Builds into a temporary directory. Runs the driver twice: with
# RLIMIT_NOFILE 1024 (the main table) and at the machine's default limit,
# then the in-process Go benchmarks. Not run by CI; nothing here asserts a
# timing. Needs root only for apt-get.
set -euo pipefail

n=50
warmup=3
outdir=
piddir=
niceness=0
while getopts "n:w:o:d:N:h" opt; do
	case $opt in
	n) n=$OPTARG ;;
	w) warmup=$OPTARG ;;
	o) outdir=$OPTARG ;;
	d) piddir=$OPTARG ;;
	N) niceness=$OPTARG ;;
	*) sed -n '2,17p' "$0"; exit 1 ;;
	esac
done

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

need() { command -v "$1" >/dev/null 2>&1; }
if ! need daemonize && need apt-get; then
	echo "installing daemonize" >&2
	if ! apt-get install -y -qq daemonize >/dev/null 2>&1; then
		apt-get update -qq >/dev/null 2>&1 || true
		apt-get install -y -qq daemonize >/dev/null 2>&1 ||
			echo "run.sh: cannot install daemonize; its row is skipped" >&2
	fi
fi
for tool in gcc go; do
	need "$tool" || { echo "run.sh: $tool is missing" >&2; exit 1; }
done
need start-stop-daemon || echo "run.sh: start-stop-daemon is missing (it comes with dpkg); its rows are skipped" >&2

tmp=$(mktemp -d /tmp/daemonkit-bench.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
bin=$tmp/bin
sbin=$tmp/static
mkdir -p "$bin" "$sbin"
chmod 755 "$tmp" "$bin" "$sbin"
if [ -z "$outdir" ]; then
	outdir=$tmp/out
fi
mkdir -p "$outdir"

echo "building into $bin" >&2
# Static, like the Go programs' runtime: no dynamic loader in the floor.
floor_link="statically linked"
if ! gcc -O2 -static -Wall -Wextra -o "$bin/floor" bench/floor/floor.c 2>/dev/null; then
	echo "run.sh: no static libc; the floor is dynamically linked (about 0.2 ms slower)" >&2
	gcc -O2 -Wall -Wextra -o "$bin/floor" bench/floor/floor.c
	floor_link="dynamically linked"
fi
go build -o "$bin/tinyd" ./bench/tinyd
go build -o "$bin/driver" ./bench/cmd/driver
go build -o "$bin/upgradebench" ./bench/cmd/upgradebench
go build -o "$bin/httpd" ./examples/httpd
# The framework example and the CLI are measured when they exist, as built
# by default (this toolchain links libc through os/user and net) and static.
for pkg in examples/hello cmd/daemonctl; do
	if [ -d "$pkg" ]; then
		go build -o "$bin/$(basename "$pkg")" "./$pkg" ||
			echo "run.sh: $pkg does not build; its rows are skipped" >&2
		CGO_ENABLED=0 go build -o "$sbin/$(basename "$pkg")" "./$pkg" ||
			echo "run.sh: $pkg does not build with CGO_ENABLED=0; its static rows are skipped" >&2
	fi
done

if [ -z "$piddir" ]; then
	piddir=/tmp
	if [ "$(stat -f -c %T /dev/shm 2>/dev/null)" = tmpfs ] && [ -w /dev/shm ]; then
		piddir=/dev/shm
	fi
fi

default_nofile=$(ulimit -Sn)
default_nofile_hard=$(ulimit -Hn)

echo "## Machine"
echo
echo "- daemonkit at commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- 2>/dev/null || echo ', with uncommitted changes')"
echo "- CPU: $(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1), $(nproc) CPUs available"
echo "- kernel: $(uname -srm)"
echo "- $(go version), CGO_ENABLED=$(go env CGO_ENABLED) by default"
echo "- $(start-stop-daemon --version 2>/dev/null | head -1 || true)"
echo "- daemonize $(dpkg-query -W -f='${Version}' daemonize 2>/dev/null || echo 'not installed')"
echo "- gcc $(gcc -dumpversion); floor: $floor_link"
echo "- load average before the run: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "- RLIMIT_NOFILE default: soft $default_nofile, hard $default_nofile_hard"
echo "- measurements run at nice $niceness"
echo

echo "## RLIMIT_NOFILE 1024 (main table)"
echo
(
	ulimit -n 1024
	nice -n "$niceness" "$bin/driver" -bin "$bin" -static-bin "$sbin" -dir "$piddir" -n "$n" -warmup "$warmup" \
		-label "RLIMIT_NOFILE soft $(ulimit -Sn), hard $(ulimit -Hn), inherited by every starter." \
		-raw "$outdir/samples-1024.csv"
)
echo

echo "## RLIMIT_NOFILE machine default ($default_nofile)"
echo
nice -n "$niceness" "$bin/driver" -bin "$bin" -static-bin "$sbin" -dir "$piddir" -n "$n" -warmup "$warmup" \
	-label "RLIMIT_NOFILE soft $default_nofile, hard $default_nofile_hard, inherited by every starter." \
	-raw "$outdir/samples-default.csv"
echo

echo "## Replacing a running daemon: upgrade against stop + start"
echo
TMPDIR=$piddir nice -n "$niceness" "$bin/upgradebench" -httpd "$bin/httpd" -rounds 20 -phase 5s
echo

echo "## In-process Go benchmarks (files in $piddir)"
echo
echo '```'
TMPDIR=$piddir nice -n "$niceness" go test -run '^$' -bench . -benchmem -benchtime 0.3s -count 5 ./bench/ | tee "$outdir/gobench.txt" |
	grep -E '^(Benchmark|goos|goarch|cpu)'
echo '```'
echo
check_ns=$(awk '/^BenchmarkControlCheck-/ { print $3 }' "$outdir/gobench.txt" | sort -n)
if [ -z "$check_ns" ]; then
	echo "control.Check: not measured (no BenchmarkControlCheck in bench/)"
else
	echo "$check_ns" | awk '{ v[NR] = $1 }
		END {
			m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
			print "| target | measured | verdict |"
			print "|---|---|---|"
			printf "| control.Check in-process ≤ 15 µs | %.2f µs (median of %d runs) | %s |\n", m / 1000, NR, (m <= 15000 ? "met" : "missed")
		}'
fi
