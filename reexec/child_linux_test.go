package reexec

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/daemonkit/daemonkit/internal/launch"
	"github.com/daemonkit/daemonkit/internal/pidlock"
	"github.com/daemonkit/daemonkit/internal/proctest"
	"github.com/daemonkit/daemonkit/internal/readych"
)

const childActionEnv = "REEXEC_TEST_CHILD_ACTION"

// childMain is the daemon stage of the launch tests: this test binary,
// started by the launch core with a ready channel, does what
// REEXEC_TEST_CHILD_ACTION says.
func childMain() {
	st, err := Adopt()
	if err != nil {
		os.Exit(2)
	}
	switch os.Getenv(childActionEnv) {
	case "ready":
		if !st.Ready(5 * time.Second) {
			os.Exit(3) // no ACK
		}
		os.Exit(0)
	case "fail":
		st.Fail("boom")
		st.Close()
		os.Exit(1)
	case "hang":
		select {}
	}
	os.Exit(4)
}

// launchChild starts this test binary as a daemon stage the way the
// framework's launcher does, and returns what launch.Run returned.
func launchChild(t *testing.T, ctx context.Context, action string) (int, *pidlock.File, error) {
	t.Helper()
	pf, err := launch.Lock(filepath.Join(t.TempDir(), "c.pid"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pf.Close() })
	ch, files, marker, err := readych.Open(pf, "", nil, false)
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()
	spec := launch.Spec{
		Path:    os.Args[0],
		Args:    []string{os.Args[0], "-test.run=^$"},
		Env:     append(os.Environ(), helperEnv+"=child", childActionEnv+"="+action, "GORACE=atexit_sleep_ms=0", marker),
		Dir:     "/",
		PIDFile: pf,
		Umask:   0o22,
		Files:   files,
	}
	pid, err := launch.Run(ctx, spec, "daemon", ch)
	return pid, pf, err
}

// TestChildReadyThenAck: READY; the PID is written, then ACK, which the
// daemon stage receives (it exits 0 only then).
func TestChildReadyThenAck(t *testing.T) {
	pid, pf, err := launchChild(t, context.Background(), "ready")
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := pf.Read(); string(b) != itoa(pid)+"\n" {
		t.Errorf("PID file %q, want %d", b, pid)
	}
	var ws unix.WaitStatus
	proctest.WaitFor(t, 20*time.Second, "the daemon stage to exit", func() bool {
		got, err := unix.Wait4(pid, &ws, unix.WNOHANG, nil)
		return got == pid || err != nil
	})
	if !ws.Exited() || ws.ExitStatus() != 0 {
		t.Errorf("the acknowledged daemon ended with %v, want exit status 0 (no ACK: 3)", ws)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// TestChildFailure: the daemon's own message and exit status are reported,
// and the PID file is cleared.
func TestChildFailure(t *testing.T) {
	_, pf, err := launchChild(t, context.Background(), "fail")
	var f *launch.Failure
	if !errors.As(err, &f) || f.Message != "boom" || f.ProcessState.String() != "exit status 1" || f.Killed ||
		f.Err.Error() != "failed to start" || !errors.Is(err, launch.ErrReportedFailure) {
		t.Fatalf("Run = %#v", err)
	}
	if b, _ := pf.Read(); len(b) != 0 {
		t.Errorf("PID file %q after a failed start, want empty", b)
	}
}

// TestChildNotReadyInTime: a daemon that never reports is killed and
// reaped when the context ends.
func TestChildNotReadyInTime(t *testing.T) {
	ctx, cancel := context.WithTimeoutCause(context.Background(), 200*time.Millisecond, errors.New("no READY within 200ms"))
	defer cancel()
	_, _, err := launchChild(t, ctx, "hang")
	var f *launch.Failure
	if !errors.As(err, &f) || !strings.Contains(f.Err.Error(), "no READY within 200ms") || f.ProcessState.String() != "signal: killed" ||
		!f.Killed || !errors.Is(err, launch.ErrNotReady) {
		t.Fatalf("Run = %v", err)
	}
	if proctest.Alive(f.PID) {
		t.Error("daemon stage still alive")
	}
}
