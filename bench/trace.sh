#!/usr/bin/env bash
# bench/trace.sh: a kernel timeline of one command, to see where a start or
# stop spends its time (used for docs/performance.md).
#
#   bench/trace.sh [-e EVENT]... [-p PID]... -- CMD [ARG...]
#
# Enables a few ftrace events (process exec/fork/exit and the syscalls a
# start or stop makes: flock, pwrite64, ftruncate, sendto, recvmsg, ppoll,
# pidfd_send_signal, setsid, execve, exit_group, write), runs CMD, and prints
# each event with milliseconds since CMD was forked. Thread creation is left
# out. -p adds a running process (all its threads), e.g. the daemon a stop
# command signals. Tracing costs microseconds per event, far less than
# strace. Needs root and tracefs (/sys/kernel/tracing).
set -euo pipefail

T=/sys/kernel/tracing
[ -w "$T/trace" ] || T=/sys/kernel/debug/tracing
[ -w "$T/trace" ] || { echo "trace.sh: tracefs is not writable (need root)" >&2; exit 1; }

events="sched/sched_process_exec sched/sched_process_fork sched/sched_process_exit
syscalls/sys_enter_execve syscalls/sys_enter_setsid syscalls/sys_enter_exit_group
syscalls/sys_enter_flock syscalls/sys_enter_pwrite64 syscalls/sys_enter_ftruncate
syscalls/sys_enter_sendto syscalls/sys_exit_recvmsg syscalls/sys_enter_ppoll
syscalls/sys_exit_ppoll syscalls/sys_enter_pidfd_send_signal syscalls/sys_enter_write"
extra=
while [ $# -gt 0 ]; do
	case $1 in
	-e) events="$events $2"; shift 2 ;;
	-p) extra="$extra $(ls "/proc/$2/task" | tr '\n' ' ')"; shift 2 ;;
	--) shift; break ;;
	*) break ;;
	esac
done
[ $# -gt 0 ] || { sed -n '2,13p' "$0"; exit 1; }

set_events() {
	for e in $events; do
		[ -e "$T/events/$e/enable" ] && echo "$1" >"$T/events/$e/enable"
	done
}
cleanup() { echo 0 >"$T/tracing_on"; set_events 0; }
trap cleanup EXIT

echo 0 >"$T/tracing_on"
: >"$T/trace"
set_events 1
echo 1 >"$T/tracing_on"
status=0
"$@" || status=$?
echo 0 >"$T/tracing_on"

# Lines look like: "  comm-pid  [cpu] flags  12345.678901: event: details".
# Start at this shell's fork of CMD and keep only CMD's tree (threads and
# processes it forks, followed through the fork events); print ms since the
# fork, without thread creation. The last line, this shell's write to
# tracing_on, is when the caller saw CMD exit.
grep -v '^#' "$T/trace" | awk -v self="$$" -v extra="$extra" '
	function field(name,    k, v) {
		for (k = i + 1; k <= NF; k++) if (index($k, name "=") == 1) { v = substr($k, length(name) + 2); return v }
		return ""
	}
	{
		for (i = 1; i <= NF; i++) if ($i ~ /^[0-9]+\.[0-9]+:$/) break
		ts = substr($i, 1, length($i) - 1)
		n = split($1, a, "-"); tid = a[n]
		rest = ""
		for (j = i + 1; j <= NF; j++) rest = rest " " $j
		fork = rest ~ /sched_process_fork:/
		if (!started) {
			if (fork && field("pid") == self) {
				started = 1; t0 = ts; tree[field("child_pid")] = 1
				n = split(extra, x, " "); for (k = 1; k <= n; k++) tree[x[k]] = 1
			}
			else next
		} else if (fork && (field("pid") in tree)) {
			tree[field("child_pid")] = 1
			next
		}
		if (tid != self && !(tid in tree)) next
		printf "%8.3f ms  %-22s%s\n", (ts - t0) * 1000, $1, rest
	}'
exit $status
