//go:build linux

package integration_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/daemonkit/daemonkit/internal/proctest"
)

// TestReaper drives the test service reapsvc as PID 1 of a fresh PID
// namespace (`unshare --pid --fork --mount-proc`), where it reaps orphans
// by itself, and with --reaper as a child subreaper.
func TestReaper(t *testing.T) {
	requireUnshare(t)
	bin, err := proctest.Build(t.TempDir(), "./integration_test/testdata/reapsvc")
	if err != nil {
		t.Fatal(err)
	}
	t.Run("pid1-orphans-and-statuses", func(t *testing.T) { t.Parallel(); testReaperPID1(t, bin) })
	t.Run("exit-status", func(t *testing.T) { t.Parallel(); testReaperExitStatus(t, bin) })
	t.Run("sigkill", func(t *testing.T) { t.Parallel(); testReaperSIGKILL(t, bin) })
	t.Run("subreaper", func(t *testing.T) { t.Parallel(); testSubreaper(t, bin) })
}

// nsService is reapsvc run as PID 1 of its own PID namespace.
type nsService struct {
	cmd    *exec.Cmd // unshare
	out    *proctest.Buffer
	init   int    // the namespace's PID 1 (the reaping first stage), as we see it
	ns     string // its PID namespace, as /proc/PID/ns/pid names it
	report string // reapsvc --report
	pid    string // the PID file
}

// startNS starts `unshare --pid --fork --mount-proc --kill-child BIN run
// --pid-file F --report R ARGS...`; everything in the namespace is killed
// at the end.
func startNS(t *testing.T, bin string, args ...string) *nsService {
	t.Helper()
	dir := t.TempDir()
	s := &nsService{out: &proctest.Buffer{}, report: filepath.Join(dir, "report"), pid: filepath.Join(dir, "r.pid")}
	s.cmd = exec.Command("unshare", append([]string{"--pid", "--fork", "--mount-proc", "--kill-child",
		bin, "run", "--pid-file", s.pid, "--report", s.report}, args...)...)
	s.cmd.Env = append(os.Environ(), "NOTIFY_SOCKET=", "JOURNAL_STREAM=")
	s.cmd.Stdout, s.cmd.Stderr = s.out, s.out
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	proctest.Cleanup(t, s.cmd.Process.Pid) // --kill-child: the namespace goes with it
	proctest.WaitFor(t, 30*time.Second, "unshare to start the namespace's init", func() bool {
		kids := childrenOf(s.cmd.Process.Pid)
		if len(kids) == 1 {
			s.init = kids[0]
		}
		return s.init != 0
	})
	var err error
	if s.ns, err = os.Readlink(fmt.Sprintf("/proc/%d/ns/pid", s.init)); err != nil {
		t.Fatal(err)
	}
	return s
}

// waitReport waits until the report has a line starting with prefix, and
// returns it.
func (s *nsService) waitReport(t *testing.T, prefix string) string {
	t.Helper()
	var line string
	proctest.WaitFor(t, 60*time.Second, fmt.Sprintf("%q in the service's report", prefix), func() bool {
		b, _ := os.ReadFile(s.report)
		for l := range strings.SplitSeq(string(b), "\n") {
			if strings.HasPrefix(l, prefix) {
				line = l
				return true
			}
		}
		return false
	})
	return line
}

// exit waits for unshare to exit and returns its exit status, which is
// that of the namespace's init.
func (s *nsService) exit(t *testing.T) int {
	t.Helper()
	err := proctest.Wait(t, s.cmd, 60*time.Second)
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatal(err)
	}
	t.Logf("namespace output:\n%s", s.out.String())
	return s.cmd.ProcessState.ExitCode()
}

// serviceStage returns the one child of the first stage (PID 1): the
// service stage. It fails t if there is not exactly one.
func (s *nsService) serviceStage(t *testing.T) int {
	t.Helper()
	kids := childrenOf(s.init)
	if len(kids) != 1 {
		t.Fatalf("the first stage (pid %d) has children %v, want exactly the service stage", s.init, kids)
	}
	return kids[0]
}

// testReaperPID1: while the service, PID 1 of a namespace, runs 1000
// children of its own and checks each exit status, 1000 processes entered
// into the namespace with nsenter leave orphans; 50 of them check that
// their new parent is PID 1. All the service's statuses come back right,
// no zombie is left, and SIGTERM to PID 1 stops the service through its
// OnStop hook with exit status 0, which is unshare's.
func testReaperPID1(t *testing.T, bin string) {
	s := startNS(t, bin, "--children", "1000")
	s.waitReport(t, "ready")
	svc := s.serviceStage(t)
	if comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", svc)); string(comm) != "reapsvc\n" {
		t.Errorf("the service stage's name (comm) is %q, want reapsvc", comm)
	}
	// The OnReady hook reports "ready" just before the PID is written.
	want := nsPID(t, svc) + "\n"
	if !proctest.Eventually(30*time.Second, func() bool { b, _ := os.ReadFile(s.pid); return string(b) == want }) {
		b, _ := os.ReadFile(s.pid)
		t.Errorf("PID file holds %q; want the service stage's PID in the namespace, %q", b, want)
	}

	witness := filepath.Join(t.TempDir(), "ppids")
	// Each inner sh leaves a background job behind: an orphan once the sh
	// exits (alive or already a zombie). Every 20th waits until its
	// parent is no longer that sh, and reports its new parent.
	script := `i=0
while [ $i -lt 1000 ]; do
	if [ $((i % 20)) = 0 ]; then
		sh -c '(while read -r pid comm state ppid rest < /proc/self/stat; [ "$ppid" = "$$" ]; do sleep 0.01; done; echo "$ppid" >> "$1") &' sh "$W"
	else
		sh -c ': &'
	fi
	i=$((i + 1))
done`
	ctx := t.Context()
	nsenter := exec.CommandContext(ctx, "nsenter", "-t", strconv.Itoa(s.init), "-p", "-m", "--", "sh", "-c", script)
	nsenter.Env = append(os.Environ(), "W="+witness)
	if out, err := nsenter.CombinedOutput(); err != nil {
		t.Fatalf("making orphans with nsenter: %v\n%s", err, out)
	}
	proctest.WaitFor(t, 30*time.Second, "50 orphans to report their parent", func() bool {
		b, _ := os.ReadFile(witness)
		return strings.Count(string(b), "\n") == 50
	})
	b, _ := os.ReadFile(witness)
	if got := strings.Fields(string(b)); slices.ContainsFunc(got, func(p string) bool { return p != "1" }) {
		t.Errorf("orphans' parents: %v, want all 1 (the reaper)", got)
	}

	if line := s.waitReport(t, "children "); line != "children 1000/1000 ok" {
		t.Errorf("the service's own children: %q, want all 1000 statuses right", line)
	}
	var zombies []string
	if !proctest.Eventually(30*time.Second, func() bool { zombies = zombiesIn(s.ns); return len(zombies) == 0 }) {
		t.Errorf("zombies left in the namespace after 30s: %v", zombies)
	}

	if err := syscall.Kill(s.init, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := s.exit(t); code != 0 {
		t.Errorf("unshare exited %d after SIGTERM to PID 1, want 0 (a graceful stop)", code)
	}
	if b, _ := os.ReadFile(s.report); !strings.HasSuffix(string(b), "stopped\n") {
		t.Errorf("report %q: the OnStop hook did not run last", b)
	}
	if b, _ := os.ReadFile(s.pid); len(b) != 0 {
		t.Errorf("PID file %q after the stop, want empty", b)
	}
}

// testReaperExitStatus: a service that exits 3 makes PID 1, and so
// unshare, exit 3, with nothing added to its output.
func testReaperExitStatus(t *testing.T, bin string) {
	s := startNS(t, bin, "--exit", "3")
	if code := s.exit(t); code != 3 {
		t.Errorf("unshare exited %d, want the service's 3", code)
	}
	if strings.Contains(s.out.String(), "reapsvc:") {
		t.Errorf("the first stage printed something of its own:\n%s", s.out.String())
	}
}

// testReaperSIGKILL: SIGHUP to PID 1 reaches the service (its OnReload
// hook runs); a service killed by SIGKILL makes PID 1 exit 137 (128+9),
// saying so.
func testReaperSIGKILL(t *testing.T, bin string) {
	s := startNS(t, bin)
	s.waitReport(t, "ready")
	if err := syscall.Kill(s.init, syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	s.waitReport(t, "reloaded")
	if err := syscall.Kill(s.serviceStage(t), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if code := s.exit(t); code != 137 {
		t.Errorf("unshare exited %d, want 137 (128+SIGKILL)", code)
	}
	if !strings.Contains(s.out.String(), "was killed by SIGKILL") {
		t.Errorf("the first stage did not say the service was killed:\n%s", s.out.String())
	}
}

// testSubreaper: with --reaper, not PID 1 (a shell is), the first stage is
// a child subreaper: orphans of the service's descendants come to it, not
// to PID 1, and are reaped; the service's children's statuses are right;
// SIGTERM to the first stage stops the service gracefully.
func testSubreaper(t *testing.T, bin string) {
	dir := t.TempDir()
	report, witness := filepath.Join(dir, "report"), filepath.Join(dir, "ppids")
	spawn := `i=0
while [ $i -lt 20 ]; do
	(while read -r pid comm state ppid rest < /proc/self/stat; [ "$ppid" = "$$" ]; do sleep 0.01; done; echo "$ppid" >> "$W") &
	i=$((i + 1))
done`
	// PID 1 is a shell that stays (it waits for the service's first stage
	// and then reports its exit status).
	cmd := exec.Command("unshare", "--pid", "--fork", "--mount-proc", "--kill-child", "sh", "-c",
		`"$BIN" run --reaper --report "$R" --children 200 --spawn "$SPAWN"; echo "first stage exited $?"`)
	cmd.Env = append(os.Environ(), "BIN="+bin, "R="+report, "SPAWN="+spawn, "W="+witness, "NOTIFY_SOCKET=", "JOURNAL_STREAM=")
	var out proctest.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	proctest.Cleanup(t, cmd.Process.Pid)
	var first int
	proctest.WaitFor(t, 60*time.Second, "the service to be ready under --reaper", func() bool {
		b, _ := os.ReadFile(report)
		if kids := childrenOf(cmd.Process.Pid); len(kids) == 1 {
			if sh := childrenOf(kids[0]); len(sh) == 1 {
				first = sh[0]
			}
		}
		return bytes.Contains(b, []byte("ready\n")) && first != 0
	})
	proctest.WaitFor(t, 30*time.Second, "20 orphans to report their parent", func() bool {
		b, _ := os.ReadFile(witness)
		return strings.Count(string(b), "\n") == 20
	})
	b, _ := os.ReadFile(witness)
	if got, want := strings.Fields(string(b)), nsPID(t, first); slices.ContainsFunc(got, func(p string) bool { return p != want }) {
		t.Errorf("orphans' parents: %v, want all %s (the first stage, a subreaper)", got, want)
	}
	ns, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/pid", first))
	proctest.WaitFor(t, 60*time.Second, "the service's children to finish", func() bool {
		b, _ := os.ReadFile(report)
		return bytes.Contains(b, []byte("children "))
	})
	if b, _ := os.ReadFile(report); !bytes.Contains(b, []byte("children 200/200 ok\n")) || !bytes.Contains(b, []byte("spawn: <nil>")) {
		t.Errorf("report %q: want all 200 children's statuses right and the spawn script to succeed", b)
	}
	var zombies []string
	if !proctest.Eventually(30*time.Second, func() bool { zombies = zombiesIn(ns); return len(zombies) == 0 }) {
		t.Errorf("zombies left in the namespace after 30s: %v", zombies)
	}
	if err := syscall.Kill(first, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := proctest.Wait(t, cmd, 60*time.Second); err != nil {
		t.Fatalf("namespace: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "first stage exited 0\n") {
		t.Errorf("first stage's exit after SIGTERM: want 0\n%s", out.String())
	}
	if b, _ := os.ReadFile(report); !strings.HasSuffix(string(b), "stopped\n") {
		t.Errorf("report %q: the OnStop hook did not run last", b)
	}
}

// procState returns pid's state letter and parent from /proc/PID/stat.
func procState(pid int) (state byte, ppid int, ok bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, false
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, false
	}
	f := strings.Fields(string(b[i+1:])) // state ppid ...
	if len(f) < 2 {
		return 0, 0, false
	}
	ppid, err = strconv.Atoi(f[1])
	return f[0][0], ppid, err == nil
}

// zombiesIn lists the zombies in the PID namespace ns (as
// /proc/PID/ns/pid names it), as "pid (parent ppid)".
func zombiesIn(ns string) []string {
	var zs []string
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if l, err := os.Readlink("/proc/" + e.Name() + "/ns/pid"); err != nil || l != ns {
			continue
		}
		if st, ppid, ok := procState(p); ok && st == 'Z' {
			zs = append(zs, fmt.Sprintf("%d (parent %d)", p, ppid))
		}
	}
	return zs
}

// nsPID returns pid's PID in its own (innermost) namespace.
func nsPID(t *testing.T, pid int) string {
	t.Helper()
	f := strings.Fields(procStatus(t, pid)["NSpid"])
	if len(f) == 0 {
		t.Fatalf("no NSpid for pid %d", pid)
	}
	return f[len(f)-1]
}
