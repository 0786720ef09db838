//go:build linux

package control_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/daemonkit/daemonkit/control"
	"github.com/daemonkit/daemonkit/internal/pidlock"
	"github.com/daemonkit/daemonkit/internal/proctest"
	"github.com/daemonkit/daemonkit/lockfile"
)

// binDir holds the test daemon, built once on first use.
var bin struct {
	once      sync.Once
	dir, path string
	err       error
}

func TestMain(m *testing.M) {
	if err := proctest.Subreaper(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	dir, err := os.MkdirTemp("", "control-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin.dir = filepath.Join(dir, "bin")
	os.Mkdir(bin.dir, 0o755)
	goleak.VerifyTestMain(m, goleak.Cleanup(func(code int) {
		os.RemoveAll(dir)
		os.Exit(code)
	}))
}

// daemonBin returns the path of the test daemon binary.
func daemonBin(t testing.TB) string {
	t.Helper()
	bin.once.Do(func() { bin.path, bin.err = proctest.Build(bin.dir, "./control/internal/testdaemon") })
	if bin.err != nil {
		t.Fatal(bin.err)
	}
	return bin.path
}

// fixture is one PID file in its own directory.
type fixture struct {
	t       *testing.T
	dir     string
	pidFile string
	bin     string
	hooks   *logHooks
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	dir := t.TempDir()
	return &fixture{t: t, dir: dir, pidFile: filepath.Join(dir, "test.pid"), bin: daemonBin(t), hooks: &logHooks{}}
}

func (f *fixture) opts() control.Options {
	return control.Options{PIDFile: f.pidFile, Logger: slog.New(&testHandler{t: f.t, hooks: f.hooks})}
}

// cmd returns a starter running the test daemon on the fixture's PID file.
func (f *fixture) cmd(args ...string) *control.CommandStarter {
	c := control.Command(f.bin, append([]string{"-pidfile", f.pidFile}, args...)...)
	c.Stdin, c.Stdout, c.Stderr = nil, nil, nil
	return c
}

func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}

// start starts a test daemon with args and returns its PID; it is killed
// when the test ends.
func (f *fixture) start(args ...string) int {
	f.t.Helper()
	res, err := control.Start(ctxFor(f.t, 30*time.Second), f.opts(), f.cmd(args...))
	if err != nil || res.Status != control.StatusOK {
		f.t.Fatalf("Start = %v, %v; want ok", res.Status, err)
	}
	pid := res.After.PID
	proctest.Cleanup(f.t, pid)
	if res.After.State != lockfile.Running || !proctest.Alive(pid) {
		f.t.Fatalf("after Start: state %v, pid %d alive %v", res.After.State, pid, proctest.Alive(pid))
	}
	return pid
}

// crash kills the daemon pid with SIGKILL and waits until its PID file is
// unlocked (a multi-threaded process shows as a zombie before all its
// threads have released its files).
func (f *fixture) crash(pid int) {
	f.t.Helper()
	proctest.Kill(pid)
	proctest.WaitFor(f.t, 10*time.Second, "pid file unlocked", func() bool {
		info, err := lockfile.Inspect(f.pidFile)
		return err == nil && !info.State.Alive()
	})
}

func (f *fixture) content() string {
	f.t.Helper()
	b, err := os.ReadFile(f.pidFile)
	if err != nil {
		f.t.Fatal(err)
	}
	return string(b)
}

// hold locks the PID file in the test process with content c, as a daemon
// would; the returned function releases it.
func (f *fixture) hold(c string) func() {
	f.t.Helper()
	lf, err := pidlock.Acquire(f.pidFile)
	if err != nil {
		f.t.Fatal(err)
	}
	if err := lf.Clear(); err != nil {
		f.t.Fatal(err)
	}
	if _, err := lf.File().WriteAt([]byte(c), 0); err != nil {
		f.t.Fatal(err)
	}
	var once sync.Once
	release := func() { once.Do(func() { lf.Close() }) }
	f.t.Cleanup(release)
	return release
}

// canary starts a process the test owns, to show that nothing signals it.
func canary(t *testing.T) int {
	t.Helper()
	cmd := exec.Command(daemonBin(t), "-holder")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	t.Cleanup(func() { proctest.Kill(pid) })
	return pid
}

// want checks an action's status and error.
func want(t *testing.T, what string, res control.Result, err error, st control.Status) {
	t.Helper()
	if res.Status != st {
		t.Fatalf("%s: status %v (err %v), want %v", what, res.Status, err, st)
	}
	if (err != nil) != (st == control.StatusFailed) {
		t.Fatalf("%s: status %v with err %v", what, res.Status, err)
	}
	if err != nil {
		t.Logf("%s: %v", what, err)
	}
}

// await waits until hook fires, failing t if done (the action) closes first.
func await(t *testing.T, hook, done <-chan struct{}) {
	t.Helper()
	select {
	case <-hook:
	case <-done:
		t.Fatal("action ended before logging what the test waits for")
	}
}

// logHooks lets a test wait until an action logs a message.
type logHooks struct {
	mu    sync.Mutex
	waits []hook
}

type hook struct {
	sub string
	ch  chan struct{}
}

// on returns a channel closed when a message containing sub is logged.
func (h *logHooks) on(sub string) <-chan struct{} {
	h.mu.Lock()
	defer h.mu.Unlock()
	ch := make(chan struct{})
	h.waits = append(h.waits, hook{sub, ch})
	return ch
}

func (h *logHooks) fire(msg string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	keep := h.waits[:0]
	for _, w := range h.waits {
		if strings.Contains(msg, w.sub) {
			close(w.ch)
		} else {
			keep = append(keep, w)
		}
	}
	h.waits = keep
}

// testHandler logs to t and fires hooks.
type testHandler struct {
	t     *testing.T
	hooks *logHooks
	attrs []slog.Attr
}

func (h *testHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h *testHandler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", r.Level, r.Message)
	for _, a := range h.attrs {
		fmt.Fprintf(&b, " %s", a)
	}
	r.Attrs(func(a slog.Attr) bool { fmt.Fprintf(&b, " %s", a); return true })
	h.t.Log(b.String())
	if h.hooks != nil {
		h.hooks.fire(r.Message)
	}
	return nil
}

func (h *testHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &testHandler{t: h.t, hooks: h.hooks, attrs: append(append([]slog.Attr{}, h.attrs...), as...)}
}

func (h *testHandler) WithGroup(string) slog.Handler { return h }
