//go:build linux

package control_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/daemonkit/daemonkit/control"
	"github.com/daemonkit/daemonkit/internal/pidlock"
	"github.com/daemonkit/daemonkit/internal/proctest"
	"github.com/daemonkit/daemonkit/lockfile"
)

const long = 30 * time.Second

func TestCheck(t *testing.T) {
	t.Run("missing", func(t *testing.T) {
		f := newFixture(t)
		res, err := control.Check(ctxFor(t, long), f.opts())
		want(t, "Check", res, err, control.StatusNotRunning)
		if _, err := os.Stat(lockfile.GuardPath(f.pidFile)); err != nil {
			t.Errorf("guard file not created: %v", err)
		}
	})
	t.Run("empty", func(t *testing.T) {
		f := newFixture(t)
		os.WriteFile(f.pidFile, nil, 0o644)
		res, err := control.Check(ctxFor(t, long), f.opts())
		want(t, "Check", res, err, control.StatusNotRunning)
	})
	t.Run("running", func(t *testing.T) {
		f := newFixture(t)
		pid := f.start()
		res, err := control.Check(ctxFor(t, long), f.opts())
		want(t, "Check", res, err, control.StatusOK)
		if res.Before.State != lockfile.Running || res.Before.PID != pid {
			t.Errorf("Before = %v pid %d, want running pid %d", res.Before.State, res.Before.PID, pid)
		}
	})
	t.Run("stale", func(t *testing.T) {
		f := newFixture(t)
		f.crash(f.start())
		res, err := control.Check(ctxFor(t, long), f.opts())
		want(t, "Check", res, err, control.StatusStale)
	})
	for _, c := range []struct {
		content string
		state   lockfile.State
	}{{"(starting)\n", lockfile.Starting}, {"", lockfile.Stopping}} {
		t.Run(c.state.String(), func(t *testing.T) {
			f := newFixture(t)
			f.hold(c.content)
			res, err := control.Check(ctxFor(t, long), f.opts())
			want(t, "Check", res, err, control.StatusOK)
			if res.Before.State != c.state {
				t.Errorf("state %v, want %v", res.Before.State, c.state)
			}
		})
	}
	t.Run("invalid", func(t *testing.T) {
		f := newFixture(t)
		f.hold("garbage\n")
		res, err := control.Check(ctxFor(t, long), f.opts())
		want(t, "Check", res, err, control.StatusFailed)
		if !errors.Is(err, control.ErrInvalid) || !errors.Is(err, lockfile.ErrInvalidPID) || !strings.Contains(err.Error(), f.pidFile) {
			t.Errorf("error %v: want ErrInvalid, ErrInvalidPID and the path", err)
		}
	})
	t.Run("guard-busy", func(t *testing.T) {
		f := newFixture(t)
		g, err := pidlock.Acquire(lockfile.GuardPath(f.pidFile))
		if err != nil {
			t.Fatal(err)
		}
		defer g.Close()
		res, err := control.Check(ctxFor(t, 200*time.Millisecond), f.opts())
		want(t, "Check", res, err, control.StatusFailed)
		if !errors.Is(err, control.ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("error %v: want ErrTimeout and DeadlineExceeded", err)
		}
	})
	t.Run("guard-file-option", func(t *testing.T) {
		f := newFixture(t)
		o := f.opts()
		o.GuardFile = filepath.Join(f.dir, "other-guard")
		res, err := control.Check(ctxFor(t, long), o)
		want(t, "Check", res, err, control.StatusNotRunning)
		if _, err := os.Stat(o.GuardFile); err != nil {
			t.Errorf("guard file not used: %v", err)
		}
	})
	t.Run("guard-is-pid-file", func(t *testing.T) {
		f := newFixture(t)
		o := f.opts()
		o.GuardFile = f.pidFile
		res, err := control.Check(ctxFor(t, long), o)
		want(t, "Check", res, err, control.StatusFailed)
	})
	t.Run("no-pid-file", func(t *testing.T) {
		res, err := control.Check(ctxFor(t, long), control.Options{})
		want(t, "Check", res, err, control.StatusFailed)
	})
}

func TestStart(t *testing.T) {
	t.Run("ok-then-already-done", func(t *testing.T) {
		f := newFixture(t)
		pid := f.start()
		if got := f.content(); got != strconv.Itoa(pid)+"\n" {
			t.Errorf("pid file %q, want %d", got, pid)
		}
		called := false
		res, err := control.Start(ctxFor(t, long), f.opts(), control.StarterFunc(func(context.Context) error {
			called = true
			return nil
		}))
		want(t, "second Start", res, err, control.StatusAlreadyDone)
		if called || res.Before.PID != pid {
			t.Errorf("starter called %v, Before pid %d want %d", called, res.Before.PID, pid)
		}
	})
	t.Run("exit-100", func(t *testing.T) {
		f := newFixture(t)
		res, err := control.Start(ctxFor(t, long), f.opts(), f.cmd("-exit", "100"))
		want(t, "Start", res, err, control.StatusAlreadyDone)
	})
	t.Run("starter-locked", func(t *testing.T) {
		f := newFixture(t)
		res, err := control.Start(ctxFor(t, long), f.opts(), control.StarterFunc(func(context.Context) error {
			return &lockfile.LockedError{Path: f.pidFile, State: lockfile.Starting}
		}))
		want(t, "Start", res, err, control.StatusAlreadyDone)
	})
	t.Run("stale", func(t *testing.T) {
		f := newFixture(t)
		old := f.start()
		f.crash(old)
		res, err := control.Start(ctxFor(t, long), f.opts(), f.cmd())
		want(t, "Start", res, err, control.StatusStale)
		proctest.Cleanup(t, res.After.PID)
		if res.Before.State != lockfile.Stale || res.After.State != lockfile.Running || res.After.PID == old || !proctest.Alive(res.After.PID) {
			t.Errorf("Before %v, After %v pid %d (old %d)", res.Before.State, res.After.State, res.After.PID, old)
		}
	})
	t.Run("command-fails", func(t *testing.T) {
		f := newFixture(t)
		res, err := control.Start(ctxFor(t, long), f.opts(), f.cmd("-fail", "config file broken"))
		want(t, "Start", res, err, control.StatusFailed)
		var xe *control.ExitError
		if !errors.As(err, &xe) || xe.Code != 1 || xe.Message != "config file broken" {
			t.Fatalf("error %v (%#v): want ExitError status 1 with the message", err, xe)
		}
		if !strings.Contains(err.Error(), f.pidFile) || !strings.Contains(err.Error(), "status 1") {
			t.Errorf("error %q lacks the pid file or status", err)
		}
		if res.After.State == lockfile.Running || res.After.State.Alive() {
			t.Errorf("after failure: %v", res.After.State)
		}
	})
	t.Run("command-killed-on-timeout", func(t *testing.T) {
		f := newFixture(t)
		c := control.Command(f.bin, "-holder")
		c.Stdin, c.Stdout, c.Stderr = nil, nil, nil
		res, err := control.Start(ctxFor(t, 300*time.Millisecond), f.opts(), c)
		want(t, "Start", res, err, control.StatusFailed)
		var xe *control.ExitError
		if !errors.As(err, &xe) || xe.Signal != syscall.SIGTERM || !errors.Is(err, control.ErrTimeout) {
			t.Errorf("error %v: want ExitError killed by SIGTERM and ErrTimeout", err)
		}
	})
	t.Run("command-missing", func(t *testing.T) {
		f := newFixture(t)
		res, err := control.Start(ctxFor(t, long), f.opts(), control.Command(filepath.Join(f.dir, "no-such-program")))
		want(t, "Start", res, err, control.StatusFailed)
	})
	t.Run("not-running-after", func(t *testing.T) {
		f := newFixture(t)
		res, err := control.Start(ctxFor(t, long), f.opts(), f.cmd("-no-daemon"))
		want(t, "Start", res, err, control.StatusFailed)
		if !errors.Is(err, control.ErrNotStarted) || !strings.Contains(err.Error(), "stale") {
			t.Errorf("error %v: want ErrNotStarted naming the stale state", err)
		}
	})
	t.Run("no-starter", func(t *testing.T) {
		f := newFixture(t)
		res, err := control.Start(ctxFor(t, long), f.opts(), nil)
		want(t, "Start", res, err, control.StatusFailed)
		if !errors.Is(err, control.ErrNoStarter) {
			t.Errorf("error %v: want ErrNoStarter", err)
		}
	})
	t.Run("invalid", func(t *testing.T) {
		f := newFixture(t)
		f.hold("x\n")
		res, err := control.Start(ctxFor(t, long), f.opts(), f.cmd())
		want(t, "Start", res, err, control.StatusFailed)
	})
}

func TestStop(t *testing.T) {
	t.Run("not-running", func(t *testing.T) {
		f := newFixture(t)
		res, err := control.Stop(ctxFor(t, long), f.opts())
		want(t, "Stop", res, err, control.StatusAlreadyDone)
	})
	t.Run("running", func(t *testing.T) {
		f := newFixture(t)
		pid := f.start()
		res, err := control.Stop(ctxFor(t, long), f.opts())
		want(t, "Stop", res, err, control.StatusOK)
		if proctest.Alive(pid) || f.content() != "" || res.After.State != lockfile.NotRunning {
			t.Errorf("after Stop: alive %v, content %q, state %v", proctest.Alive(pid), f.content(), res.After.State)
		}
		res, err = control.Stop(ctxFor(t, long), f.opts())
		want(t, "second Stop", res, err, control.StatusAlreadyDone)
	})
	t.Run("stale-is-kept", func(t *testing.T) {
		// As libucw: 103, the file kept so that a later check still
		// shows that the daemon died.
		f := newFixture(t)
		pid := f.start()
		f.crash(pid)
		content := f.content()
		res, err := control.Stop(ctxFor(t, long), f.opts())
		if res.Status != control.StatusStale || !errors.Is(err, control.ErrStale) || !strings.Contains(err.Error(), "died (pid "+strconv.Itoa(pid)+")") {
			t.Fatalf("Stop = %v, %v; want stale, ErrStale naming pid %d", res.Status, err, pid)
		}
		if res.Before.State != lockfile.Stale || res.After.State != lockfile.Stale || f.content() != content {
			t.Errorf("Before %v After %v content %q (was %q)", res.Before.State, res.After.State, f.content(), content)
		}
		res, err = control.Check(ctxFor(t, long), f.opts())
		want(t, "Check after Stop", res, err, control.StatusStale)
	})
	t.Run("signal-kills-and-file-is-emptied", func(t *testing.T) {
		// SIGINT kills the test daemon without it cleaning up: Stop
		// empties the PID file itself.
		f := newFixture(t)
		pid := f.start()
		o := f.opts()
		o.Signal = syscall.SIGINT
		res, err := control.Stop(ctxFor(t, long), o)
		want(t, "Stop", res, err, control.StatusOK)
		if proctest.Alive(pid) || f.content() != "" {
			t.Errorf("after Stop: alive %v, content %q", proctest.Alive(pid), f.content())
		}
	})
	t.Run("kill-after", func(t *testing.T) {
		f := newFixture(t)
		pid := f.start("-ignore-term")
		o := f.opts()
		o.KillAfter = 200 * time.Millisecond
		escalated := f.hooks.on("SIGKILL")
		res, err := control.Stop(ctxFor(t, long), o)
		want(t, "Stop", res, err, control.StatusOK)
		select {
		case <-escalated:
		default:
			t.Error("no SIGKILL escalation logged")
		}
		if proctest.Alive(pid) || f.content() != "" {
			t.Errorf("after Stop: alive %v, content %q", proctest.Alive(pid), f.content())
		}
	})
	t.Run("timeout", func(t *testing.T) {
		f := newFixture(t)
		pid := f.start("-ignore-term")
		res, err := control.Stop(ctxFor(t, 300*time.Millisecond), f.opts())
		want(t, "Stop", res, err, control.StatusFailed)
		if !errors.Is(err, control.ErrStillRunning) || !errors.Is(err, control.ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) ||
			!strings.Contains(err.Error(), "pid "+strconv.Itoa(pid)) {
			t.Errorf("error %v: want ErrStillRunning, ErrTimeout, DeadlineExceeded naming pid %d", err, pid)
		}
		if !proctest.Alive(pid) || res.After.State != lockfile.Running {
			t.Errorf("daemon alive %v, state %v: want still running", proctest.Alive(pid), res.After.State)
		}
		// Stopping it properly still works afterwards.
		o := f.opts()
		o.KillAfter = time.Millisecond
		res, err = control.Stop(ctxFor(t, long), o)
		want(t, "second Stop", res, err, control.StatusOK)
	})
	// holdingDaemon starts a daemon whose child inherits the PID file lock.
	holdingDaemon := func(f *fixture) (pid, holder int) {
		holderFile := filepath.Join(f.dir, "holder")
		pid = f.start("-hold-child", holderFile)
		b, err := os.ReadFile(holderFile)
		if err != nil {
			f.t.Fatal(err)
		}
		holder, _ = strconv.Atoi(string(b))
		proctest.Cleanup(f.t, holder)
		return pid, holder
	}
	t.Run("lock-held-by-child-timeout", func(t *testing.T) {
		f := newFixture(t)
		pid, _ := holdingDaemon(f)
		o := f.opts()
		o.Signal = syscall.SIGKILL // the daemon is gone at once, even on a loaded machine
		res, err := control.Stop(ctxFor(t, time.Second), o)
		want(t, "Stop", res, err, control.StatusFailed)
		if !errors.Is(err, control.ErrLockHeld) || !errors.Is(err, control.ErrTimeout) || proctest.Alive(pid) {
			t.Errorf("error %v, daemon alive %v: want ErrLockHeld and ErrTimeout, daemon gone", err, proctest.Alive(pid))
		}
	})
	t.Run("lock-held-by-child-released", func(t *testing.T) {
		// SIGINT: the daemon dies without emptying the file; Stop waits
		// for the lock its child holds, then empties the file.
		f := newFixture(t)
		pid, holder := holdingDaemon(f)
		o := f.opts()
		o.Signal = syscall.SIGINT
		waiting := f.hooks.on("still locked")
		done := make(chan struct{})
		var res control.Result
		var err error
		go func() {
			defer close(done)
			res, err = control.Stop(ctxFor(t, long), o)
		}()
		await(t, waiting, done)
		proctest.Kill(holder)
		<-done
		want(t, "Stop", res, err, control.StatusOK)
		if proctest.Alive(pid) || f.content() != "" || res.After.State != lockfile.NotRunning {
			t.Errorf("alive %v, content %q, state %v", proctest.Alive(pid), f.content(), res.After.State)
		}
	})
	t.Run("waits-for-starting", func(t *testing.T) {
		f := newFixture(t)
		release := f.hold("(starting)\n")
		// Only this process holds the lock: nobody can be signalled, so
		// Stop waits for the lock.
		waiting := f.hooks.on("waiting for the daemon to finish starting")
		done := make(chan struct{})
		var res control.Result
		var err error
		go func() {
			defer close(done)
			res, err = control.Stop(ctxFor(t, long), f.opts())
		}()
		await(t, waiting, done)
		release() // the "daemon" died while starting: now stale, and kept
		<-done
		if res.Status != control.StatusStale || !errors.Is(err, control.ErrStale) {
			t.Fatalf("Stop = %v, %v; want stale", res.Status, err)
		}
		if res.Before.State != lockfile.Starting || res.After.State != lockfile.Stale || f.content() != "(starting)\n" {
			t.Errorf("Before %v After %v content %q", res.Before.State, res.After.State, f.content())
		}
	})
	t.Run("starting-timeout", func(t *testing.T) {
		f := newFixture(t)
		f.hold("(starting)\n")
		res, err := control.Stop(ctxFor(t, 200*time.Millisecond), f.opts())
		want(t, "Stop", res, err, control.StatusFailed)
		if !errors.Is(err, control.ErrTimeout) {
			t.Errorf("error %v: want ErrTimeout", err)
		}
	})
	t.Run("waits-for-stopping", func(t *testing.T) {
		f := newFixture(t)
		release := f.hold("")
		waiting := f.hooks.on("waiting for the daemon to finish stopping")
		done := make(chan struct{})
		var res control.Result
		var err error
		go func() {
			defer close(done)
			res, err = control.Stop(ctxFor(t, long), f.opts())
		}()
		await(t, waiting, done)
		release()
		<-done
		want(t, "Stop", res, err, control.StatusAlreadyDone)
	})
	t.Run("invalid", func(t *testing.T) {
		f := newFixture(t)
		f.hold("(stopping)\n")
		res, err := control.Stop(ctxFor(t, long), f.opts())
		want(t, "Stop", res, err, control.StatusFailed)
	})
}

func TestSignal(t *testing.T) {
	t.Run("running", func(t *testing.T) {
		f := newFixture(t)
		hups := filepath.Join(f.dir, "hups")
		pid := f.start("-hup-file", hups)
		res, err := control.Signal(ctxFor(t, long), f.opts())
		want(t, "Signal", res, err, control.StatusOK)
		proctest.WaitFor(t, 10*time.Second, "SIGHUP recorded", func() bool {
			b, _ := os.ReadFile(hups)
			return string(b) == "hup "+strconv.Itoa(pid)+"\n"
		})
		if !proctest.Alive(pid) {
			t.Error("daemon died of SIGHUP")
		}
	})
	t.Run("custom-signal", func(t *testing.T) {
		f := newFixture(t)
		pid := f.start()
		o := f.opts()
		o.Signal = syscall.SIGTERM
		res, err := control.Signal(ctxFor(t, long), o)
		want(t, "Signal", res, err, control.StatusOK)
		proctest.WaitFor(t, 10*time.Second, "daemon exit on SIGTERM", func() bool { return !proctest.Alive(pid) })
	})
	t.Run("not-running", func(t *testing.T) {
		f := newFixture(t)
		res, err := control.Signal(ctxFor(t, long), f.opts())
		want(t, "Signal", res, err, control.StatusNotRunning)
	})
	t.Run("stale", func(t *testing.T) {
		f := newFixture(t)
		f.crash(f.start())
		res, err := control.Signal(ctxFor(t, long), f.opts())
		want(t, "Signal", res, err, control.StatusNotRunning)
		if res.Before.State != lockfile.Stale {
			t.Errorf("Before %v, want stale", res.Before.State)
		}
	})
	t.Run("invalid", func(t *testing.T) {
		f := newFixture(t)
		f.hold("12 34\n")
		res, err := control.Signal(ctxFor(t, long), f.opts())
		want(t, "Signal", res, err, control.StatusFailed)
	})
}

func TestRestart(t *testing.T) {
	t.Run("running", func(t *testing.T) {
		f := newFixture(t)
		old := f.start()
		res, err := control.Restart(ctxFor(t, long), f.opts(), f.cmd())
		want(t, "Restart", res, err, control.StatusOK)
		proctest.Cleanup(t, res.After.PID)
		if proctest.Alive(old) || res.Before.PID != old || res.After.PID == old || !proctest.Alive(res.After.PID) {
			t.Errorf("old %d alive %v; Before pid %d; After pid %d alive %v", old, proctest.Alive(old), res.Before.PID, res.After.PID, proctest.Alive(res.After.PID))
		}
	})
	t.Run("not-running", func(t *testing.T) {
		f := newFixture(t)
		res, err := control.Restart(ctxFor(t, long), f.opts(), f.cmd())
		want(t, "Restart", res, err, control.StatusOK)
		proctest.Cleanup(t, res.After.PID)
	})
	t.Run("stale", func(t *testing.T) {
		f := newFixture(t)
		f.crash(f.start())
		res, err := control.Restart(ctxFor(t, long), f.opts(), f.cmd())
		want(t, "Restart", res, err, control.StatusStale)
		proctest.Cleanup(t, res.After.PID)
	})
	t.Run("start-fails", func(t *testing.T) {
		f := newFixture(t)
		f.start()
		res, err := control.Restart(ctxFor(t, long), f.opts(), f.cmd("-fail", "bad config"))
		want(t, "Restart", res, err, control.StatusFailed)
		if !strings.Contains(err.Error(), "bad config") {
			t.Errorf("error %v lacks the command's message", err)
		}
	})
	t.Run("stop-fails", func(t *testing.T) {
		f := newFixture(t)
		pid := f.start("-ignore-term")
		res, err := control.Restart(ctxFor(t, 300*time.Millisecond), f.opts(), control.StarterFunc(func(context.Context) error {
			t.Error("started although stop failed")
			return nil
		}))
		want(t, "Restart", res, err, control.StatusFailed)
		if !errors.Is(err, control.ErrStillRunning) || !proctest.Alive(pid) {
			t.Errorf("error %v, alive %v", err, proctest.Alive(pid))
		}
	})
}

// TestNotHolder: a locked PID file naming a live process that does not
// have the file open (the daemon's PID was reused while something else
// holds the lock) gets an error and no signal. libucw's protocol would
// signal the process.
func TestNotHolder(t *testing.T) {
	for _, fallback := range []bool{false, true} {
		t.Run("kill-fallback="+strconv.FormatBool(fallback), func(t *testing.T) {
			f := newFixture(t)
			can := canary(t)
			f.hold(strconv.Itoa(can) + "\n")
			o := f.opts()
			if fallback {
				o = control.WithoutPidfd(o)
			}
			res, err := control.Stop(ctxFor(t, long), o)
			want(t, "Stop", res, err, control.StatusFailed)
			if !errors.Is(err, control.ErrNotHolder) {
				t.Errorf("Stop error %v: want ErrNotHolder", err)
			}
			res, err = control.Signal(ctxFor(t, long), o)
			want(t, "Signal", res, err, control.StatusFailed)
			if !errors.Is(err, control.ErrNotHolder) {
				t.Errorf("Signal error %v: want ErrNotHolder", err)
			}
			if !proctest.Alive(can) {
				t.Fatal("canary was signalled")
			}
		})
	}
}

// TestKillFallback runs Stop and Signal with kill(2) instead of pidfds, as
// on kernels or systems without them: Stop then waits on the PID file lock.
func TestKillFallback(t *testing.T) {
	t.Run("stop", func(t *testing.T) {
		f := newFixture(t)
		pid := f.start()
		res, err := control.Stop(ctxFor(t, long), control.WithoutPidfd(f.opts()))
		want(t, "Stop", res, err, control.StatusOK)
		// Without a pidfd, Stop returns once the lock is released, which
		// can be a moment before the process has finished exiting.
		proctest.WaitFor(t, 10*time.Second, "daemon exit", func() bool { return !proctest.Alive(pid) })
		if f.content() != "" {
			t.Errorf("content %q", f.content())
		}
	})
	t.Run("kill-after", func(t *testing.T) {
		f := newFixture(t)
		pid := f.start("-ignore-term")
		o := control.WithoutPidfd(f.opts())
		o.KillAfter = 200 * time.Millisecond
		escalated := f.hooks.on("SIGKILL")
		res, err := control.Stop(ctxFor(t, long), o)
		want(t, "Stop", res, err, control.StatusOK)
		select {
		case <-escalated:
		default:
			t.Error("no SIGKILL escalation logged")
		}
		// Without a pidfd, Stop returns once the lock is released, which
		// can be a moment before the process has finished exiting.
		proctest.WaitFor(t, 10*time.Second, "daemon exit", func() bool { return !proctest.Alive(pid) })
		if f.content() != "" {
			t.Errorf("content %q", f.content())
		}
	})
	t.Run("timeout", func(t *testing.T) {
		f := newFixture(t)
		pid := f.start("-ignore-term")
		res, err := control.Stop(ctxFor(t, 300*time.Millisecond), control.WithoutPidfd(f.opts()))
		want(t, "Stop", res, err, control.StatusFailed)
		if !errors.Is(err, control.ErrStillRunning) || !proctest.Alive(pid) {
			t.Errorf("error %v, alive %v: want ErrStillRunning, alive", err, proctest.Alive(pid))
		}
	})
	t.Run("signal", func(t *testing.T) {
		f := newFixture(t)
		hups := filepath.Join(f.dir, "hups")
		pid := f.start("-hup-file", hups)
		res, err := control.Signal(ctxFor(t, long), control.WithoutPidfd(f.opts()))
		want(t, "Signal", res, err, control.StatusOK)
		proctest.WaitFor(t, 10*time.Second, "SIGHUP recorded", func() bool {
			b, _ := os.ReadFile(hups)
			return string(b) == "hup "+strconv.Itoa(pid)+"\n"
		})
	})
}
