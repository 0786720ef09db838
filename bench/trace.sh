#!/usr/bin/env bash
# bench/trace.sh: a kernel timeline of one command, to see where a start or
# stop spends its time (used for docs/performance.md).
#
#   bench/trace.sh [-e EVENT]... -- CMD [ARG...]
#
# Enables a few ftrace events (process exec/fork/exit and the syscalls a
# start or stop makes: flock, pwrite64, ftruncate, sendto, recvmsg, ppoll,
# pidfd_send_signal, setsid, execve, exit_group, write), runs CMD, and prints
# each event with milliseconds since CMD was forked. Thread creation is left
# out. Tracing costs microseconds per event, far less than strace. Needs root
# and tracefs (/sys/kernel/tracing).
set -euo pipefail

T=/sys/kernel/tracing
[ -w "$T/trace" ] || T=/sys/kernel/debug/tracing
[ -w "$T/trace" ] || { echo "trace.sh: tracefs is not writable (need root)" >&2; exit 1; }

events="sched/sched_process_exec sched/sched_process_fork sched/sched_process_exit
syscalls/sys_enter_execve syscalls/sys_enter_setsid syscalls/sys_enter_exit_group
syscalls/sys_enter_flock syscalls/sys_enter_pwrite64 syscalls/sys_enter_ftruncate
syscalls/sys_enter_sendto syscalls/sys_exit_recvmsg syscalls/sys_enter_ppoll
syscalls/sys_exit_ppoll syscalls/sys_enter_pidfd_send_signal syscalls/sys_enter_write"
while [ $# -gt 0 ]; do
	case $1 in
	-e) events="$events $2"; shift 2 ;;
	--) shift; break ;;
	*) break ;;
	esac
done
[ $# -gt 0 ] || { sed -n '2,12p' "$0"; exit 1; }

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
# Keep the traced command's processes (everything after this shell's fork of
# it), drop thread creation, print ms since the first kept event.
grep -v '^#' "$T/trace" | awk -v self="$$" '
	{
		for (i = 1; i <= NF; i++) if ($i ~ /^[0-9]+\.[0-9]+:$/) break
		ts = substr($i, 1, length($i) - 1)
		task = $1
		rest = ""
		for (j = i + 1; j <= NF; j++) rest = rest " " $j
		if (!started) {
			if (rest ~ /sched_process_fork/ && rest ~ ("pid=" self " ")) { started = 1; t0 = ts }
			else next
		}
		if (rest ~ /sched_process_fork/ && rest ~ /child_comm=/) {
			split(task, a, "-"); parent = a[length(a)]
			# a new thread shares its parent comm and is followed by no exec;
			# keep forks of processes only when they exec later (shown anyway)
		}
		if (rest ~ /sched_process_fork: comm=[^ ]+ pid=[0-9]+ child_comm=[^ ]+ child_pid=[0-9]+$/ && task !~ ("-" self "$")) next
		printf "%8.3f ms  %-22s%s\n", (ts - t0) * 1000, task, rest
	}'
exit $status
