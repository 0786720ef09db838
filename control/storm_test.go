//go:build linux

package control_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/daemonkit/daemonkit/control"
	"github.com/daemonkit/daemonkit/internal/pidlock"
	"github.com/daemonkit/daemonkit/internal/proctest"
	"github.com/daemonkit/daemonkit/lockfile"
)

// TestStorm runs random Start, Stop, Check, Signal and Restart actions, and
// SIGKILLs of the daemon, from many goroutines on one PID file, and after each action checks, holding
// the guard file so that no action is in progress, that (docs/protocol.md, what must hold)
// there is never more than one live daemon, that a running PID file names
// the one live daemon, that a not-running or stale one has no live daemon,
// and that no action failed or timed out.
func TestStorm(t *testing.T) {
	const workers, ops = 8, 20
	f := newFixture(t)
	o := control.Options{PIDFile: f.pidFile}
	var (
		mu      sync.Mutex
		started []int
		counts  = map[string]int{}
	)
	t.Cleanup(func() {
		for _, pid := range started {
			proctest.Kill(pid)
		}
	})
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), uint64(time.Now().UnixNano())))
			for i := range ops {
				ctx, cancel := context.WithTimeout(t.Context(), long)
				var (
					res  control.Result
					err  error
					ok   []control.Status
					name string
				)
				switch rng.IntN(6) {
				case 0:
					name, ok = "start", []control.Status{control.StatusOK, control.StatusAlreadyDone, control.StatusStale}
					res, err = control.Start(ctx, o, f.cmd())
				case 1:
					name, ok = "stop", []control.Status{control.StatusOK, control.StatusAlreadyDone, control.StatusStale}
					res, err = control.Stop(ctx, o)
				case 2:
					name, ok = "check", []control.Status{control.StatusOK, control.StatusNotRunning, control.StatusStale}
					res, err = control.Check(ctx, o)
				case 3:
					name, ok = "signal", []control.Status{control.StatusOK, control.StatusNotRunning}
					res, err = control.Signal(ctx, o)
				case 4:
					name, ok = "restart", []control.Status{control.StatusOK, control.StatusStale}
					res, err = control.Restart(ctx, o, f.cmd())
				case 5:
					name, ok = "crash", []control.Status{control.StatusOK}
					err = crash(ctx, f.pidFile)
				}
				cancel()
				mu.Lock()
				counts[name+"/"+res.Status.String()]++
				if (name == "start" || name == "restart") && (res.Status == control.StatusOK || res.Status == control.StatusStale) {
					started = append(started, res.After.PID)
				}
				mu.Unlock()
				if res.Status == control.StatusStale && errors.Is(err, control.ErrStale) {
					err = nil // Stop on a stale PID file says that the daemon died
				}
				if err != nil || !slices.Contains(ok, res.Status) {
					t.Errorf("worker %d op %d: %s = %v, %v", w, i, name, res.Status, err)
					return
				}
				if !checkInvariants(t, f.pidFile) {
					return
				}
			}
		})
	}
	wg.Wait()
	t.Logf("outcomes: %v", counts)
	res, err := control.Stop(ctxFor(t, long), o)
	if err != nil && !(res.Status == control.StatusStale && errors.Is(err, control.ErrStale)) {
		t.Fatalf("final Stop: %v", err)
	}
	if live := liveDaemons(f.pidFile); len(live) != 0 {
		t.Errorf("after final Stop (%v): live daemons %v", res.Status, live)
	}
}

// crash kills the running daemon with SIGKILL, as a fault would, holding
// the guard file until its lock is gone: it leaves a stale PID file.
func crash(ctx context.Context, pidFile string) error {
	g, err := pidlock.AcquireWait(ctx, lockfile.GuardPath(pidFile))
	if err != nil {
		return err
	}
	defer g.Close()
	info, err := lockfile.Inspect(pidFile)
	if err != nil || info.State != lockfile.Running {
		return err
	}
	proctest.Kill(info.PID)
	if !proctest.Eventually(10*time.Second, func() bool {
		info, err := lockfile.Inspect(pidFile)
		return err == nil && !info.State.Alive()
	}) {
		return fmt.Errorf("pid file %s still locked after SIGKILL of %d", pidFile, info.PID)
	}
	return nil
}

// checkInvariants holds the guard file (so no action is in progress) and
// checks the PID file against the live daemons.
func checkInvariants(t *testing.T, pidFile string) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), long)
	defer cancel()
	g, err := pidlock.AcquireWait(ctx, lockfile.GuardPath(pidFile))
	if err != nil {
		t.Errorf("guard: %v", err)
		return false
	}
	defer g.Close()
	info, err := lockfile.Inspect(pidFile)
	if err != nil {
		t.Errorf("inspect: %v", err)
		return false
	}
	live := liveDaemons(pidFile)
	switch {
	case len(live) > 1:
		t.Errorf("two live daemons for one pid file: %v (pid file %v pid %d)", live, info.State, info.PID)
	case info.State == lockfile.Running && (!proctest.Alive(info.PID) || !slices.Equal(live, []int{info.PID})):
		t.Errorf("pid file names %d (alive %v) but live daemons are %v", info.PID, proctest.Alive(info.PID), live)
	case (info.State == lockfile.NotRunning || info.State == lockfile.Stale) && len(live) != 0:
		t.Errorf("pid file %v but live daemons %v", info.State, live)
	case info.State != lockfile.Running && info.State != lockfile.NotRunning && info.State != lockfile.Stale:
		t.Errorf("between actions the pid file is %v (content %q)", info.State, info.Content)
	default:
		return true
	}
	return false
}

// liveDaemons returns the live test daemons (daemon stage) for pidFile.
func liveDaemons(pidFile string) []int {
	ents, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := bytes.Split(bytes.TrimSuffix(b, []byte{0}), []byte{0})
		if slices.ContainsFunc(args, func(a []byte) bool { return string(a) == "-daemon" }) &&
			slices.ContainsFunc(args, func(a []byte) bool { return string(a) == pidFile }) &&
			proctest.Alive(pid) {
			pids = append(pids, pid)
		}
	}
	return pids
}
