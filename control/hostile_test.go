//go:build linux

package control_test

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/daemonkit/daemonkit/control"
	"github.com/daemonkit/daemonkit/internal/pidfile"
	"github.com/daemonkit/daemonkit/internal/pidlock"
	"github.com/daemonkit/daemonkit/internal/proctest"
	"github.com/daemonkit/daemonkit/lockfile"
)

// TestHostileContent: PID files naming no usable process get a clear error
// and nobody is signalled: a canary in our process group (which kill(0) or
// kill(-1) would hit) and the test process itself survive. Unlocked, such
// content is not a PID file (or, for our own PID, names a live process
// that holds no lock): every action refuses it and leaves it untouched.
func TestHostileContent(t *testing.T) {
	cases := []struct{ name, content string }{
		{"zero", "0\n"},
		{"minus-one", "-1\n"},
		{"one", "1\n"},
		{"own-pid", strconv.Itoa(os.Getpid()) + "\n"},
		{"garbage", "garbage\n"},
		{"huge", strings.Repeat("9", 4096)},
		{"big-number", "99999999999\n"},
		{"above-pid-max", strconv.Itoa(pidfile.PIDMax()+1) + "\n"},
		{"leading-zero", "0042\n"},
		{"space", " 42\n"},
		{"two-lines", "42\n43\n"},
		{"nul", "42\x00\n"},
	}
	for _, c := range cases {
		t.Run(c.name+"/locked", func(t *testing.T) {
			f := newFixture(t)
			can := canary(t)
			f.hold(c.content)
			res, err := control.Check(ctxFor(t, long), f.opts())
			if c.name == "own-pid" {
				// We hold the lock and are named: that is a running daemon.
				want(t, "Check", res, err, control.StatusOK)
			} else {
				want(t, "Check", res, err, control.StatusFailed)
			}
			res, err = control.Stop(ctxFor(t, long), f.opts())
			want(t, "Stop", res, err, control.StatusFailed)
			if !errors.Is(err, lockfile.ErrInvalidPID) || !strings.Contains(err.Error(), f.pidFile) {
				t.Errorf("Stop error %v: want ErrInvalidPID naming the pid file", err)
			}
			res, err = control.Signal(ctxFor(t, long), f.opts())
			want(t, "Signal", res, err, control.StatusFailed)
			if !errors.Is(err, lockfile.ErrInvalidPID) {
				t.Errorf("Signal error %v: want ErrInvalidPID", err)
			}
			res, err = control.Restart(ctxFor(t, long), f.opts(), f.cmd())
			want(t, "Restart", res, err, control.StatusFailed)
			if !proctest.Alive(can) {
				t.Fatal("canary was signalled")
			}
		})
		t.Run(c.name+"/unlocked", func(t *testing.T) {
			f := newFixture(t)
			can := canary(t)
			if err := os.WriteFile(f.pidFile, []byte(c.content), 0o644); err != nil {
				t.Fatal(err)
			}
			old := time.Now().Add(-time.Hour).Truncate(time.Second)
			os.Chtimes(f.pidFile, old, old)
			res, err := control.Check(ctxFor(t, long), f.opts())
			if c.name == "own-pid" {
				// A live process that holds no lock: stale (103), but
				// never called dead, signalled or emptied.
				if res.Status != control.StatusStale || !errors.Is(err, control.ErrUnlockedLive) || !res.After.NamesLive {
					t.Errorf("Check = %v, %v; want stale with ErrUnlockedLive", res.Status, err)
				}
			} else {
				want(t, "Check", res, err, control.StatusFailed)
				if !errors.Is(err, lockfile.ErrNotPIDFile) || !strings.Contains(err.Error(), "is not a PID file") {
					t.Errorf("Check error %v: want ErrNotPIDFile", err)
				}
			}
			res, err = control.Signal(ctxFor(t, long), f.opts())
			want(t, "Signal", res, err, control.StatusFailed)
			res, err = control.Stop(ctxFor(t, long), f.opts())
			want(t, "Stop", res, err, control.StatusFailed)
			res, err = control.Start(ctxFor(t, long), f.opts(), f.cmd())
			want(t, "Start", res, err, control.StatusFailed)
			res, err = control.Restart(ctxFor(t, long), f.opts(), f.cmd())
			want(t, "Restart", res, err, control.StatusFailed)
			if f.content() != c.content {
				t.Errorf("content %q changed to %q", c.content, f.content())
			}
			if st, _ := os.Stat(f.pidFile); !st.ModTime().Equal(old) {
				t.Errorf("pid file touched: mtime %v", st.ModTime())
			}
			if !proctest.Alive(can) {
				t.Fatal("canary was signalled")
			}
		})
	}
}

// TestUnsafeFile: PID files that are not regular files get a clear error
// and no signal, even when they name a live process (the canary) and are
// locked. (World-writable files: TestWorldWritable.)
func TestUnsafeFile(t *testing.T) {
	setups := map[string]func(f *fixture, pid string) error{
		"symlink": func(f *fixture, pid string) error {
			target := filepath.Join(f.dir, "target.pid")
			lf, err := pidlock.Acquire(target)
			if err != nil {
				return err
			}
			f.t.Cleanup(func() { lf.Close() })
			if err := lf.WritePID(mustAtoi(pid)); err != nil {
				return err
			}
			return os.Symlink(target, f.pidFile)
		},
		"directory": func(f *fixture, _ string) error { return os.Mkdir(f.pidFile, 0o755) },
		"fifo":      func(f *fixture, _ string) error { return syscall.Mkfifo(f.pidFile, 0o644) },
	}
	for name, setup := range setups {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t)
			can := canary(t)
			if err := setup(f, strconv.Itoa(can)+"\n"); err != nil {
				t.Fatal(err)
			}
			res, err := control.Check(ctxFor(t, long), f.opts())
			want(t, "Check", res, err, control.StatusFailed)
			res, err = control.Stop(ctxFor(t, long), f.opts())
			want(t, "Stop", res, err, control.StatusFailed)
			if !errors.Is(err, lockfile.ErrNotRegular) {
				t.Errorf("Stop error %v: want ErrNotRegular", err)
			}
			res, err = control.Signal(ctxFor(t, long), f.opts())
			want(t, "Signal", res, err, control.StatusFailed)
			res, err = control.Start(ctxFor(t, long), f.opts(), f.cmd())
			want(t, "Start", res, err, control.StatusFailed)
			if !proctest.Alive(can) {
				t.Fatal("canary was signalled")
			}
		})
	}
}

func mustAtoi(s string) int {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		panic(err)
	}
	return n
}

// TestThreadID: a locked PID file naming a thread of a process (not the
// process) gets an error and no signal, with pidfds and with kill(2).
func TestThreadID(t *testing.T) {
	for _, fallback := range []bool{false, true} {
		t.Run("kill-fallback="+strconv.FormatBool(fallback), func(t *testing.T) {
			f := newFixture(t)
			can := canary(t)
			tid := 0
			proctest.WaitFor(t, 10*time.Second, "a second thread in the canary", func() bool {
				ents, _ := os.ReadDir("/proc/" + strconv.Itoa(can) + "/task")
				for _, e := range ents {
					if n, _ := strconv.Atoi(e.Name()); n != can && n > 0 {
						tid = n
						return true
					}
				}
				return false
			})
			f.hold(strconv.Itoa(tid) + "\n")
			o := f.opts()
			if fallback {
				o = control.WithoutPidfd(o)
			}
			res, err := control.Stop(ctxFor(t, long), o)
			want(t, "Stop", res, err, control.StatusFailed)
			res, err = control.Signal(ctxFor(t, long), o)
			want(t, "Signal", res, err, control.StatusFailed)
			if !proctest.Alive(can) {
				t.Fatal("canary was signalled")
			}
		})
	}
}
