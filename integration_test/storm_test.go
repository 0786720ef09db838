//go:build linux

package integration_test

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/daemonkit/daemonkit/background"
	"github.com/daemonkit/daemonkit/control"
	"github.com/daemonkit/daemonkit/internal/pidlock"
	"github.com/daemonkit/daemonkit/internal/proctest"
	"github.com/daemonkit/daemonkit/lockfile"
)

var stormRounds = flag.Int("storm.rounds", 15, "operations per client in TestStorm (raise for long runs)")

// stormClients is how many controllers act on one PID file at once.
const stormClients = 8

// stormTimeout bounds every action; stormHang is when an action counts as
// hung (its own timeout plus slack).
const (
	stormTimeout = 20 * time.Second
	stormHang    = 40 * time.Second
)

// stormOp is one kind of action a storm client performs: it returns the
// exit status (control's status for in-process actions) and whether the
// action overran stormHang.
type stormOp struct {
	name    string
	allowed []int // exit statuses the protocol allows when nothing dies
	do      func(ctx context.Context) (code int, detail string)
}

// stormTarget is a daemon kind under storm: its PID file, its actions and
// how to recognise its daemon processes.
type stormTarget struct {
	pidFile  string
	ops      []stormOp
	isDaemon func(pid int, argv [][]byte) bool
}

// TestStorm runs stormClients concurrent controllers for -storm.rounds
// actions each (start, stop, restart, status, signal; as daemonctl
// processes, as the service's own verbs, and through the control package)
// against one PID file, for a framework daemon and for a foreground
// program under daemonctl --background. A monitor checks after every
// action (holding the guard, so between actions) and continuously (without
// it) that there are never two live daemons, that a locked PID file naming
// a PID names a live daemon, that no action hangs past its timeout and
// that every exit status is one the protocol allows; at the end no process of
// the test is left.
func TestStorm(t *testing.T) {
	t.Run("framework", func(t *testing.T) {
		t.Parallel()
		stormRun(t, frameworkStormTarget(t))
	})
	t.Run("background", func(t *testing.T) {
		t.Parallel()
		stormRun(t, backgroundStormTarget(t))
	})
}

// runCode runs bin args with a hang limit and returns its exit status.
func runCode(ctx context.Context, bin string, args ...string) (int, string) {
	ctx, cancel := context.WithTimeout(ctx, stormHang)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	var errb bytes.Buffer
	cmd.Stderr = &errb
	err := cmd.Run()
	if ctx.Err() != nil {
		return -1, fmt.Sprintf("hung: still running after %v: %s", stormHang, errb.String())
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode(), errb.String()
	}
	if err != nil {
		return -1, err.Error()
	}
	return 0, errb.String()
}

// controlOp wraps an in-process control action with the hang check.
func controlOp(fn func(ctx context.Context) (control.Result, error)) func(context.Context) (int, string) {
	return func(ctx context.Context) (int, string) {
		ctx, cancel := context.WithTimeout(ctx, stormTimeout)
		defer cancel()
		begin := time.Now()
		res, err := fn(ctx)
		detail := ""
		if err != nil {
			detail = err.Error()
		}
		if time.Since(begin) > stormHang {
			return -1, "hung: took " + time.Since(begin).String() + ": " + detail
		}
		return int(res.Status), detail
	}
}

func argvOf(pid int) [][]byte {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil || len(b) == 0 {
		return nil
	}
	return bytes.Split(bytes.TrimSuffix(b, []byte{0}), []byte{0})
}

func hasArg(argv [][]byte, s string) bool {
	return slices.ContainsFunc(argv, func(a []byte) bool { return string(a) == s })
}

func frameworkStormTarget(t *testing.T) stormTarget {
	hello := binary(t, "./examples/hello")
	ctl := binary(t, "./cmd/daemonctl")
	pidFile := filepath.Join(t.TempDir(), "hello.pid")
	o := control.Options{PIDFile: pidFile}
	to := "--timeout=" + stormTimeout.String()
	proc := func(bin string, args ...string) func(context.Context) (int, string) {
		return func(ctx context.Context) (int, string) { return runCode(ctx, bin, args...) }
	}
	// The service's start verb as the control package's start command: it
	// runs the launcher under the caller's guard lock (the service finds
	// that its ancestor holds the guard: control.StartedByController).
	helloStarter := func() control.Starter {
		s := control.Command(hello, "start", "--pid-file", pidFile)
		s.Stdout, s.Stderr = io.Discard, io.Discard
		return s
	}
	return stormTarget{
		pidFile: pidFile,
		ops: []stormOp{
			// A framework service starts itself (its start verb takes the
			// guard), or daemonctl runs that verb under its own guard lock.
			{"start/hello", []int{0, 100}, proc(hello, "start", "--pid-file", pidFile, to)},
			{"start/daemonctl", []int{0, 100}, proc(ctl, "start", "--pid-file", pidFile, to, "--", hello, "start", "--pid-file", pidFile)},
			{"restart/daemonctl", []int{0}, proc(ctl, "restart", "--pid-file", pidFile, to, "--", hello, "start", "--pid-file", pidFile)},
			{"start/control", []int{0, 100}, controlOp(func(ctx context.Context) (control.Result, error) { return control.Start(ctx, o, helloStarter()) })},
			{"restart/control", []int{0}, controlOp(func(ctx context.Context) (control.Result, error) { return control.Restart(ctx, o, helloStarter()) })},
			{"restart/hello", []int{0}, proc(hello, "restart", "--pid-file", pidFile, to)},
			{"stop/hello", []int{0, 100}, proc(hello, "stop", "--pid-file", pidFile, to)},
			{"stop/daemonctl", []int{0, 100}, proc(ctl, "stop", "--pid-file", pidFile, to)},
			{"stop/control", []int{0, 100}, controlOp(func(ctx context.Context) (control.Result, error) { return control.Stop(ctx, o) })},
			{"status/daemonctl", []int{0, 101}, proc(ctl, "status", "--pid-file", pidFile, to)},
			{"status/control", []int{0, 101}, controlOp(func(ctx context.Context) (control.Result, error) { return control.Check(ctx, o) })},
			{"reload/daemonctl", []int{0, 101}, proc(ctl, "reload", "--pid-file", pidFile, to)},
			{"signal/control", []int{0, 101}, controlOp(func(ctx context.Context) (control.Result, error) { return control.Signal(ctx, o) })},
		},
		isDaemon: func(pid int, argv [][]byte) bool {
			if len(argv) == 0 || string(argv[0]) != hello || !hasArg(argv, pidFile) {
				return false
			}
			env, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/environ")
			return bytes.Contains(env, []byte("DAEMONKIT_STAGE=daemon:"))
		},
	}
}

func backgroundStormTarget(t *testing.T) stormTarget {
	fake := binary(t, "./integration_test/testdata/fakes/fakedaemon")
	ctl := binary(t, "./cmd/daemonctl")
	dir := t.TempDir()
	pidFile, hupFile := filepath.Join(dir, "fake.pid"), filepath.Join(dir, "hups")
	o := control.Options{PIDFile: pidFile}
	to := "--timeout=" + stormTimeout.String()
	cmdArgs := []string{"-notify", "-hup-file", hupFile}
	proc := func(args ...string) func(context.Context) (int, string) {
		return func(ctx context.Context) (int, string) { return runCode(ctx, ctl, args...) }
	}
	starter := background.Starter{Options: background.Options{
		PIDFile: pidFile, Command: fake, Args: cmdArgs, Readiness: background.ReadyNotify, ReadyTimeout: stormTimeout,
	}}
	startArgs := append([]string{"--pid-file", pidFile, to, "--background", "--notify", "--", fake}, cmdArgs...)
	return stormTarget{
		pidFile: pidFile,
		ops: []stormOp{
			{"start/daemonctl", []int{0, 100}, proc(append([]string{"start"}, startArgs...)...)},
			{"start/control", []int{0, 100}, controlOp(func(ctx context.Context) (control.Result, error) { return control.Start(ctx, o, starter) })},
			{"restart/daemonctl", []int{0}, proc(append([]string{"restart"}, startArgs...)...)},
			{"restart/control", []int{0}, controlOp(func(ctx context.Context) (control.Result, error) { return control.Restart(ctx, o, starter) })},
			{"stop/daemonctl", []int{0, 100}, proc("stop", "--pid-file", pidFile, to)},
			{"stop/control", []int{0, 100}, controlOp(func(ctx context.Context) (control.Result, error) { return control.Stop(ctx, o) })},
			{"status/daemonctl", []int{0, 101}, proc("status", "--pid-file", pidFile, to)},
			{"status/control", []int{0, 101}, controlOp(func(ctx context.Context) (control.Result, error) { return control.Check(ctx, o) })},
			{"signal/daemonctl", []int{0, 101}, proc("signal", "--pid-file", pidFile, to, "HUP")},
			{"signal/control", []int{0, 101}, controlOp(func(ctx context.Context) (control.Result, error) { return control.Signal(ctx, o) })},
		},
		isDaemon: func(pid int, argv [][]byte) bool {
			return len(argv) > 0 && string(argv[0]) == fake && hasArg(argv, hupFile)
		},
	}
}

// daemonsOf lists the live daemons of target; seen collects every one ever
// found, for reaping at the end.
func (st stormTarget) daemons(seen *sync.Map) []int {
	ents, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		if argv := argvOf(pid); argv != nil && st.isDaemon(pid, argv) && proctest.Alive(pid) {
			pids = append(pids, pid)
			seen.Store(pid, true)
		}
	}
	sort.Ints(pids)
	return pids
}

// lockedPID reports the PID a locked PID file names, without taking any
// lock (a lock probe, even a shared one, would make a concurrent start's
// non-blocking exclusive lock fail): the lock is looked up in /proc/locks.
func lockedPID(pidFile string) (int, bool) {
	var st syscall.Stat_t
	if syscall.Stat(pidFile, &st) != nil {
		return 0, false
	}
	locks, err := os.ReadFile("/proc/locks")
	if err != nil {
		return 0, false
	}
	// "1: FLOCK  ADVISORY  WRITE 1234 08:01:5678 0 EOF": maj:min:inode, in hex.
	id := fmt.Sprintf(":%d ", st.Ino)
	locked := false
	for _, line := range bytes.Split(locks, []byte{'\n'}) {
		if bytes.Contains(line, []byte("FLOCK")) && bytes.Contains(line, []byte("WRITE")) && bytes.Contains(line, []byte(id)) {
			locked = true
		}
	}
	if !locked {
		return 0, false
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		return 0, false
	}
	pid, err := lockfile.ParsePID(b, 0)
	return pid, err == nil
}

// holding returns those of pids that have the PID file open.
func holding(pids []int, pidFile string) []int {
	var st syscall.Stat_t
	if syscall.Stat(pidFile, &st) != nil {
		return nil
	}
	var out []int
	for _, pid := range pids {
		dir := "/proc/" + strconv.Itoa(pid) + "/fd"
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			var fst syscall.Stat_t
			if syscall.Stat(dir+"/"+e.Name(), &fst) == nil && fst.Dev == st.Dev && fst.Ino == st.Ino {
				out = append(out, pid)
				break
			}
		}
	}
	return out
}

func stormRun(t *testing.T, st stormTarget) {
	var seen sync.Map
	t.Cleanup(func() {
		seen.Range(func(k, _ any) bool { proctest.Kill(k.(int)); return true })
	})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()

	// The continuous monitor, without the guard: at most one daemon has
	// the PID file open, and a locked PID file that names a PID names a
	// live process.
	var samples atomic.Int64
	monitorDone := make(chan struct{})
	go func() {
		defer close(monitorDone)
		var deadPID int
		var deadSince time.Time
		for ctx.Err() == nil {
			samples.Add(1)
			if h := holding(st.daemons(&seen), st.pidFile); len(h) > 1 {
				t.Errorf("monitor: %d daemons have the pid file open: %v", len(h), h)
			}
			if pid, ok := lockedPID(st.pidFile); ok && !proctest.Alive(pid) {
				// A controller that stops the daemon, or a starter, holds
				// the lock for a moment over the dead daemon's PID before
				// emptying or rewriting the file: only a state that lasts
				// is wrong.
				if deadPID != pid {
					deadPID, deadSince = pid, time.Now()
				} else if time.Since(deadSince) > 2*time.Second {
					t.Errorf("monitor: pid file locked and names %d, which has been dead for %v", pid, time.Since(deadSince).Round(time.Millisecond))
					deadSince = time.Now()
				}
			} else {
				deadPID = 0
			}
			time.Sleep(10 * time.Millisecond) // a sampling period, not synchronisation
		}
	}()

	var (
		mu     sync.Mutex
		counts = map[string]int{}
		total  atomic.Int64
	)
	begin := time.Now()
	var wg sync.WaitGroup
	for c := range stormClients {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(c), uint64(time.Now().UnixNano())))
			for i := range *stormRounds {
				op := st.ops[rng.IntN(len(st.ops))]
				code, detail := op.do(ctx)
				total.Add(1)
				mu.Lock()
				counts[op.name+"="+strconv.Itoa(code)]++
				mu.Unlock()
				if !slices.Contains(op.allowed, code) {
					t.Errorf("client %d op %d: %s exited %d, allowed %v: %s", c, i, op.name, code, op.allowed, detail)
					return
				}
				if !stormCheck(t, st, &seen) {
					return
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(begin)
	cancel()
	<-monitorDone
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b bytes.Buffer
	for _, k := range keys {
		fmt.Fprintf(&b, " %s:%d", k, counts[k])
	}
	t.Logf("%d actions by %d clients in %v: %.1f ops/s; %d monitor samples; outcomes:%s",
		total.Load(), stormClients, elapsed.Round(time.Millisecond), float64(total.Load())/elapsed.Seconds(), samples.Load(), b.String())

	// The end: stop, and nothing of the test is left.
	res, err := control.Stop(ctxFor(t, stormTimeout), control.Options{PIDFile: st.pidFile})
	if err != nil {
		t.Fatalf("final stop: %v, %v", res.Status, err)
	}
	requireReleased(t, st.pidFile)
	var left []int
	if !proctest.Eventually(5*time.Second, func() bool {
		left = append(st.daemons(&seen), procsWithArg(st.pidFile)...)
		return len(left) == 0
	}) {
		t.Errorf("processes left after the storm: %v", left)
	}
	seen.Range(func(k, _ any) bool { proctest.Reap(k.(int)); return true })
}

// stormCheck holds the guard file (so no action is in progress) and checks
// the PID file against the live daemons.
func stormCheck(t *testing.T, st stormTarget, seen *sync.Map) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), stormHang)
	defer cancel()
	g, err := pidlock.AcquireWait(ctx, lockfile.GuardPath(st.pidFile))
	if err != nil {
		t.Errorf("guard: %v", err)
		return false
	}
	defer g.Close()
	info, err := lockfile.Inspect(st.pidFile)
	if err != nil {
		t.Errorf("inspect: %v", err)
		return false
	}
	var live []int
	// A daemon that was just stopped may still be exiting: its lock is
	// gone but /proc shows it for a moment.
	proctest.Eventually(5*time.Second, func() bool {
		live = st.daemons(seen)
		return len(live) <= 1 && (info.State == lockfile.Running) == (len(live) == 1)
	})
	switch {
	case len(live) > 1:
		t.Errorf("two live daemons for one pid file: %v (pid file %v %q)", live, info.State, info.Content)
	case info.State == lockfile.Running && !slices.Equal(live, []int{info.PID}):
		t.Errorf("pid file names %d (alive %v) but the live daemons are %v", info.PID, proctest.Alive(info.PID), live)
	case info.State == lockfile.NotRunning && len(live) != 0:
		t.Errorf("pid file not running but live daemons %v", live)
	case info.State != lockfile.Running && info.State != lockfile.NotRunning:
		t.Errorf("between actions the pid file is %v (content %q); nothing dies in this storm", info.State, info.Content)
	default:
		return true
	}
	return false
}

// ctxFor returns a context that ends after d or with the test.
func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}
