//go:build linux

package integration_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/daemonkit/daemonkit/internal/proctest"
	"github.com/daemonkit/daemonkit/lockfile"
)

// respawnHead is shell code the namespace scripts of these tests share:
// $D is daemonctl, $DIR a private directory, $F the PID file there, and
//
//	jnum NAME        the number NAME in the JSON object on stdin
//	prog             the supervised program's PID, from status --json
//	live PID         the process exists and is not a zombie
//	waitfor 'COND'   poll COND (shell code) every 10 ms, at most ~60 s
//	ctl ARGS...      daemonctl bounded by a deadline: exit 137 means hung
//	sup              the PID of the live supervisor of $F, if any
const respawnHead = `
sup() { for p in /proc/[0-9]*; do case "$(tr '\0' ' ' < $p/cmdline 2>/dev/null)" in "daemonctl-supervisor $F "*) live ${p#/proc/} && echo ${p#/proc/};; esac; done; }
jnum() { sed -n "s/.*\"$1\":\([0-9][0-9]*\).*/\1/p"; }
prog() { "$D" status -p "$F" --json 2>/dev/null | jnum program_pid; }
live() { [ -n "$1" ] || return 1; s=$(sed 's/.*) //' /proc/$1/stat 2>/dev/null | cut -c1); [ -n "$s" ] && [ "$s" != Z ]; }
waitfor() { n=0; while ! eval "$1"; do n=$((n+1)); [ $n -ge 6000 ] && return 1; sleep 0.01; done; }
ctl() { timeout -s KILL 60 "$D" "$@"; }
`

// respawnNS runs script as PID 1 of a new PID namespace with its own
// /proc (everything in it is killed when it ends), after respawnHead, and
// returns its output.
func respawnNS(t *testing.T, dir, script string) string {
	t.Helper()
	proctest.RequireRoot(t)
	q := strconv.Quote
	head := fmt.Sprintf("D=%s; DIR=%s; F=%s\n", q(binary(t, "./cmd/daemonctl")), q(dir), q(filepath.Join(dir, "r.pid")))
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "unshare", "--pid", "--fork", "--kill-child", "--mount-proc", "sh", "-c", head+respawnHead+script)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Run(); err != nil {
		t.Fatalf("namespace run: %v\n%s", err, out.String())
	}
	t.Logf("namespace output:\n%s", out.String())
	return out.String()
}

// requireLines fails t unless out has each of want as a whole line.
func requireLines(t *testing.T, out string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains("\n"+out, "\n"+w+"\n") {
			t.Errorf("output lacks the line %q", w)
		}
	}
}

// TestRespawnKill9: the supervised program killed with SIGKILL 20 times
// is started again each time (a new PID, running, polled for), and status
// --json counts the restarts and shows the last exit. A stop then leaves
// nothing running.
func TestRespawnKill9(t *testing.T) {
	t.Parallel()
	out := respawnNS(t, t.TempDir(), `
ctl start -p "$F" --background --respawn --respawn-delay 20ms --respawn-max-delay 100ms --respawn-limit 100/1m --output "$DIR/out" -- sleep 1000; echo "start $?"
S=$(cat "$F")
i=0; fail=0
while [ $i -lt 20 ]; do
	P=$(prog)
	live "$P" || { echo "no program ($i)"; fail=1; break; }
	kill -9 "$P"
	waitfor 'N=$(prog); [ -n "$N" ] && [ "$N" != "$P" ] && live "$N"' || { echo "not restarted ($i)"; fail=1; break; }
	i=$((i+1))
done
echo "killed $i fail $fail"
J=$(ctl status -p "$F" --json); echo "status $?"
echo "restarts $(echo "$J" | jnum restarts)"
echo "$J" | grep -q '"supervised":true' && echo supervised
echo "$J" | grep -q '"last_exit":{[^}]*"signal":"SIGKILL"' && echo last-exit-sigkill
echo "$J" | grep -q "^{\"state\":\"running\",\"pid\":$S," && echo pid-is-supervisor
P=$(prog)
ctl stop -p "$F"; echo "stop $?"
live "$P" && echo program-left
live "$S" && echo supervisor-left
ctl status -p "$F" >/dev/null 2>&1; echo "after $?"
exit 0
`)
	requireLines(t, out, "start 0", "killed 20 fail 0", "status 0", "restarts 20", "supervised",
		"last-exit-sigkill", "pid-is-supervisor", "stop 0", "after 101")
	for _, bad := range []string{"program-left", "supervisor-left"} {
		if strings.Contains(out, bad) {
			t.Error(bad)
		}
	}
}

// TestRespawnBackoffGivesUp: a program that exits at once (after a first
// run that got past its start) is started again after growing delays —
// measured from its own log of start times: each gap at least the delay
// due (first delay, doubled each time), and gaps not shrinking — until
// five exits within the period make the supervisor give up: the PID file
// is left naming it (stale, 103), it is gone, nothing runs, and the output
// file says why.
func TestRespawnBackoffGivesUp(t *testing.T) {
	t.Parallel()
	ctl := binary(t, "./cmd/daemonctl")
	dir := t.TempDir()
	pidFile, starts, output := filepath.Join(dir, "g.pid"), filepath.Join(dir, "starts"), filepath.Join(dir, "out")
	// The first run sleeps, so that it is ready; every later one exits at once.
	script := `date +%s%N >> "$1"; [ "$(wc -l < "$1")" -gt 1 ] && exit 7; sleep 1; exit 7`
	const first = 250 * time.Millisecond
	run(t, nil, ctl, "start", "-p", pidFile, "--background", "--respawn", "--respawn-delay", first.String(),
		"--respawn-max-delay", "2s", "--respawn-limit", "5/1m", "--output", output,
		"--", "sh", "-c", script, "sh", starts).expect(t, 0, "start --respawn")
	info, err := lockfile.Inspect(pidFile)
	if err != nil || info.State != lockfile.Running {
		t.Fatalf("after start: %v %v", info.State, err)
	}
	sup := info.PID
	proctest.Cleanup(t, sup)
	proctest.WaitFor(t, 90*time.Second, "the supervisor to give up", func() bool { return !proctest.Alive(sup) })

	r := run(t, nil, ctl, "status", "-p", pidFile)
	r.expect(t, 103, "status after giving up")
	if b, _ := os.ReadFile(pidFile); string(b) != strconv.Itoa(sup)+"\n" {
		t.Errorf("PID file %q, want the supervisor's PID %d", b, sup)
	}
	requireNoProcess(t, starts)
	log, _ := os.ReadFile(output)
	if !strings.Contains(string(log), "giving up: sh ended 5 times within 1m0s") {
		t.Errorf("output file does not say why it gave up:\n%s", log)
	}

	b, err := os.ReadFile(starts)
	if err != nil {
		t.Fatal(err)
	}
	var at []time.Duration
	for _, l := range strings.Fields(string(b)) {
		ns, err := strconv.ParseInt(l, 10, 64)
		if err != nil {
			t.Fatalf("start log %q: %v", b, err)
		}
		at = append(at, time.Duration(ns))
	}
	if len(at) != 5 {
		t.Fatalf("%d starts logged, want 5 (the limit): %q", len(at), b)
	}
	// Gaps from the second start on are the delays (the first run slept).
	const clock = 20 * time.Millisecond // slack for the clock and date(1)
	due := 2 * first
	var prev time.Duration
	for i := 2; i < len(at); i++ {
		gap := at[i] - at[i-1]
		t.Logf("gap %d: %v (delay due %v)", i, gap, due)
		if gap < due-clock || gap < first-clock {
			t.Errorf("start %d came %v after the previous one, before the delay due (%v)", i+1, gap, due)
		}
		if gap < prev-clock && gap < due {
			t.Errorf("gap %d (%v) shorter than the one before (%v)", i, gap, prev)
		}
		prev, due = gap, min(2*due, 2*time.Second)
	}
}

// TestRespawnStorm: several clients at once run start, stop, status and
// signal on one supervised daemon whose program crashes 200 ms after each
// start and is killed with SIGKILL now and then, all in a PID
// namespace. Never are two programs alive at once (two process groups of
// it: a fork of the program before its exec is no second one); a program
// seen before
// a stop that returned 0 is gone after it; no controller hangs (each call
// is bounded by a deadline and none reaches it); every exit status is one
// the protocol allows; and after a last stop nothing runs.
func TestRespawnStorm(t *testing.T) {
	t.Parallel()
	out := respawnNS(t, t.TempDir(), `
M="$DIR/marker"
start() { ctl start -p "$F" --timeout 20s --background --respawn --respawn-delay 30ms --respawn-max-delay 200ms --respawn-limit 1000/1m --respawn-stop-timeout 5s --output "$DIR/out" -- sh -c 'echo run >> "$0.runs"; sleep 0.2; exit 1' "$M"; }
progs() { for f in $(grep -lsF "$M" /proc/[0-9]*/cmdline); do p=${f#/proc/}; p=${p%/cmdline}; [ "$(head -c 3 $f 2>/dev/null | tr '\0' ' ')" = "sh " ] && live $p && sed 's/.*) //' /proc/$p/stat 2>/dev/null | cut -d' ' -f3; done | sort -u | wc -l; }
client() {
	i=0
	while [ $i -lt 40 ]; do
		E="$DIR/err.$1"
		case $(( ($1 + i) % 5 )) in
		0|1) start >/dev/null 2>"$E"; rc=$?; echo "rc start $rc";;
		2) P=$(prog); ctl stop -p "$F" --timeout 20s >/dev/null 2>"$E"; rc=$?; echo "rc stop $rc"
		   [ $rc = 0 ] && live "$P" && echo "ALIVE after stop: $P";;
		3) ctl status -p "$F" --timeout 20s >/dev/null 2>"$E"; rc=$?; echo "rc status $rc";;
		4) ctl signal -p "$F" --timeout 20s HUP >/dev/null 2>"$E"; rc=$?; echo "rc signal $rc";;
		esac
		case $rc in 102|137) sed 's/^/stderr: /' "$E";; esac
		i=$((i+1)); sleep 0.1
	done
}
monitor() { while [ ! -e "$DIR/done" ]; do n=$(progs); n=$((n+0)); [ "$n" -gt 1 ] && echo "TWO programs: $n"; [ "$n" = 1 ] && : > "$DIR/seen"; sleep 0.01; done; }
killer() { while [ ! -e "$DIR/done" ]; do P=$(prog); [ -n "$P" ] && kill -9 "$P" 2>/dev/null; sleep 0.3; done; }
monitor & MON=$!
killer & KIL=$!
c=0; pids=
while [ $c -lt 6 ]; do client $c > "$DIR/client.$c" & pids="$pids $!"; c=$((c+1)); done
wait $pids
touch "$DIR/done"; wait $MON $KIL
cat "$DIR"/client.*
ctl stop -p "$F" >/dev/null 2>&1; echo "final stop $?"
echo "left $(($(progs)+0))"
echo "runs $(wc -l < "$M.runs")"
[ -e "$DIR/seen" ] && echo monitor-saw-a-program
exit 0
`)
	allowed := map[string][]string{"start": {"0", "100", "103"}, "stop": {"0", "100", "103"}, "status": {"0", "101", "103"}, "signal": {"0", "101"}}
	count := 0
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "TWO") || strings.HasPrefix(l, "ALIVE") {
			t.Error(l)
		}
		f := strings.Fields(l)
		if len(f) != 3 || f[0] != "rc" {
			continue
		}
		count++
		ok := false
		for _, a := range allowed[f[1]] {
			ok = ok || a == f[2]
		}
		if !ok {
			t.Errorf("%s exited %s (137: hung past its deadline)", f[1], f[2])
		}
	}
	if count != 6*40 {
		t.Errorf("%d actions reported, want %d", count, 6*40)
	}
	// More runs of the program than successful starts: it was started
	// again after crashes during the storm.
	var started, runs int
	for _, l := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(l, "runs "); ok {
			runs, _ = strconv.Atoi(strings.TrimSpace(v))
		}
		if l == "rc start 0" {
			started++
		}
	}
	if runs <= started {
		t.Errorf("%d runs of the program for %d successful starts: no respawn happened during the storm", runs, started)
	}
	t.Logf("%d actions, %d successful starts, %d runs of the program", count, started, runs)
	if !strings.Contains(out, "\nfinal stop 0\n") && !strings.Contains(out, "\nfinal stop 100\n") {
		t.Error("the last stop failed")
	}
	requireLines(t, out, "left 0", "monitor-saw-a-program")
}

// TestRespawnStops: a stop during the delay before a new start, during a
// new start (a program not ready yet), and during the first start (its
// controller killed) ends the supervisor and its program, leaving the PID
// file not running; a SIGKILLed supervisor takes its program with it
// (parent-death signal); and reload reaches the program.
func TestRespawnStops(t *testing.T) {
	t.Parallel()
	out := respawnNS(t, t.TempDir(), `
# during the delay: the program exits once, the next start is 30 s away
ctl start -p "$F" --background --respawn --respawn-delay 30s --respawn-max-delay 30s -- sh -c 'sleep 0.3; exit 3'; echo "start $?"
S=$(cat "$F")
waitfor '"$D" status -p "$F" --json 2>/dev/null | grep -q "\"program_state\":\"waiting\""' && echo waiting
ctl stop -p "$F" --timeout 10s; echo "stop-waiting $?"
live "$S" && echo supervisor-left
ctl status -p "$F" 2>/dev/null; echo "status $?"

# during a new start: the second run is never ready
rm -f "$DIR/n"
ctl start -p "$F" --background --respawn --respawn-delay 10ms --ready-fd 5 -- sh -c 'echo >> "$1"; [ "$(wc -l < "$1")" -gt 1 ] && exec sleep 1000; echo >&5; exec 5>&-; sleep 0.3; exit 3' sh "$DIR/n"; echo "start $?"
S=$(cat "$F")
waitfor '"$D" status -p "$F" --json 2>/dev/null | grep -q "\"program_state\":\"starting\""' && echo starting
P=$(prog)
ctl stop -p "$F" --timeout 10s; echo "stop-starting $?"
live "$P" && echo program-left
live "$S" && echo supervisor-left
ctl status -p "$F" 2>/dev/null; echo "status $?"

# during the first start (never ready): its controller is killed
"$D" start -p "$F" --background --respawn --ready-fd 5 -- sleep 1001 & C=$!
waitfor 'S=$(sup); [ -n "$S" ] && P=$(cat /proc/$S/task/*/children 2>/dev/null | tr -d " \n") && [ -n "$P" ]' && echo first-started
kill -9 $C
waitfor '! live "$P" && ! live "$S"' && echo first-gone
ctl status -p "$F" 2>/dev/null; echo "status-first $?"

# the supervisor killed: its program follows it
ctl start -p "$F" --background --respawn --output "$DIR/hup" -- sh -c 'trap "echo got-hup" HUP; while :; do sleep 0.05; done'; echo "start $?"
S=$(cat "$F"); P=$(prog)
ctl reload -p "$F" 2>/dev/null; echo "reload $?"
waitfor 'grep -q got-hup "$DIR/hup"' && echo program-got-hup
[ "$(prog)" = "$P" ] && echo same-program
kill -9 "$S"
waitfor '! live "$P"' && echo program-followed
ctl status -p "$F" 2>/dev/null; echo "status $?"
ctl start -p "$F" --background --respawn -- sleep 1000; echo "again $?"
ctl stop -p "$F"; echo "stop $?"
exit 0
`)
	requireLines(t, out, "start 0", "waiting", "stop-waiting 0", "status 101",
		"starting", "stop-starting 0", "first-started", "first-gone", "status-first 101",
		"reload 0", "program-got-hup", "same-program", "program-followed", "status 103", "again 103", "stop 0")
	for _, bad := range []string{"program-left", "supervisor-left"} {
		if strings.Contains(out, bad) {
			t.Error(bad)
		}
	}
}

// TestRespawnSupervisorFDs: the supervisor of a start from a daemonctl
// that had fds 3-9 open keeps 0 (/dev/null), 1 and 2 (the output file),
// 3 (the PID file) and nothing else but pidfds of its running program
// (besides the Go runtime's own): no socket, after status asked it over the
// control channel. The program has 0, 1, 2 and no PID file. libucw's
// --check says running.
func TestRespawnSupervisorFDs(t *testing.T) {
	t.Parallel()
	ctl := binary(t, "./cmd/daemonctl")
	dir := t.TempDir()
	pidFile, output := filepath.Join(dir, "f.pid"), filepath.Join(dir, "out")
	startWithStrays(t, strayFiles(t), ctl, "start", "-p", pidFile, "--background", "--respawn", "--output", output,
		"--", "sleep", "1000").expect(t, 0, "start --respawn with fds 3-9 open")
	sup := daemonPID(t, pidFile)
	r := run(t, nil, ctl, "status", "-p", pidFile, "--json")
	r.expect(t, 0, "status --json")
	var st struct {
		PID        int    `json:"pid"`
		Supervised bool   `json:"supervised"`
		ProgramPID int    `json:"program_pid"`
		State      string `json:"program_state"`
		Restarts   *int   `json:"restarts"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil {
		t.Fatalf("status --json %q: %v", r.stdout, err)
	}
	if st.PID != sup || !st.Supervised || st.ProgramPID == 0 || st.State != "running" || st.Restarts == nil || *st.Restarts != 0 {
		t.Fatalf("status --json: %s", r.stdout)
	}
	prog := st.ProgramPID
	proctest.Cleanup(t, prog)

	fds := openFDs(t, sup)
	for fd, target := range fds {
		switch {
		case fd == 0 && target == os.DevNull, (fd == 1 || fd == 2) && target == output, fd == 3 && target == pidFile:
		case target == "anon_inode:[pidfd]" && pidfdOf(t, sup, fd) == prog:
		default:
			t.Errorf("supervisor fd %d -> %s", fd, target)
		}
	}
	for _, fd := range []int{0, 1, 2, 3} {
		if _, ok := fds[fd]; !ok {
			t.Errorf("supervisor has no fd %d: %v", fd, fds)
		}
	}
	pfds := openFDs(t, prog)
	if len(pfds) != 3 || pfds[0] != os.DevNull || pfds[1] != output || pfds[2] != output {
		t.Errorf("program fds: %v, want 0 /dev/null, 1 and 2 %s", pfds, output)
	}
	if ppid := procStatus(t, prog)["PPid"]; ppid != strconv.Itoa(sup) {
		t.Errorf("program's parent %s, want the supervisor %d", ppid, sup)
	}
	run(t, nil, ctl, "--check", "--pid-file", pidFile).expect(t, 0, "libucw --check of a supervised daemon")
	run(t, nil, ctl, "stop", "-p", pidFile).expect(t, 0, "stop")
	proctest.WaitFor(t, 10*time.Second, "the program to be gone", func() bool { return !proctest.Alive(prog) })
}

// pidfdOf returns the PID that pid's descriptor fd, a pidfd, refers to.
func pidfdOf(t *testing.T, pid, fd int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/fdinfo/%d", pid, fd))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "Pid:"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(v))
			return n
		}
	}
	return 0
}
