package integration_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/daemonkit/daemonkit/internal/proctest"
)

// TestServiceLSB drives a framework service's own verbs with --lsb: the
// LSB init-script exit statuses for each state, and libucw's without it.
func TestServiceLSB(t *testing.T) {
	dir := t.TempDir()
	hello, err := proctest.Build(dir, "./examples/hello")
	if err != nil {
		t.Fatal(err)
	}
	pidFile := filepath.Join(dir, "hello.pid")
	pf := "--pid-file=" + pidFile
	lsb := func(code int, args ...string) {
		t.Helper()
		run(t, nil, hello, append(args, "--lsb")...).expect(t, code, "hello "+args[0]+" --lsb")
	}

	lsb(3, "status", pf)
	run(t, nil, hello, "status", pf).expect(t, 101, "hello status")
	lsb(7, "reload", pf)
	lsb(0, "stop", pf)
	lsb(2, "stop", pf, "--no-such-flag")
	lsb(4, "status", pf, "--no-such-flag")
	run(t, nil, hello, "--lsb", "frobnicate", pf).expect(t, 2, "hello --lsb frobnicate")

	lsb(0, "start", pf, "--log-file="+filepath.Join(dir, "hello.log"))
	pid := daemonPID(t, pidFile)
	lsb(0, "status", pf)
	lsb(0, "start", pf) // already running
	run(t, nil, hello, "start", pf).expect(t, 100, "hello start")
	lsb(0, "reload", pf)
	lsb(0, "stop", pf)
	proctest.WaitFor(t, time.Minute, "hello to be gone", func() bool { return !proctest.Alive(pid) })
	// hello empties its PID file when it stops: not running.
	lsb(3, "status", pf)

	// A PID file left by a daemon that died: 1; not a PID file: 4.
	stale := filepath.Join(dir, "stale.pid")
	if err := os.WriteFile(stale, []byte("12345\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	lsb(1, "status", "--pid-file="+stale)
	lsb(7, "reload", "--pid-file="+stale)
	lsb(0, "stop", "--pid-file="+stale)
	notPID := filepath.Join(dir, "dir.pid")
	if err := os.Mkdir(notPID, 0o755); err != nil {
		t.Fatal(err)
	}
	lsb(4, "status", "--pid-file="+notPID)
}
