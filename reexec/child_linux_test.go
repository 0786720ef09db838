package reexec

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/daemonkit/daemonkit/internal/launch"
	"github.com/daemonkit/daemonkit/internal/proctest"
	"github.com/daemonkit/daemonkit/lockfile"
)

const childActionEnv = "REEXEC_TEST_CHILD_ACTION"

// childMain is the daemon stage of the Child tests: this test binary,
// spawned by Spawn, does what REEXEC_TEST_CHILD_ACTION says.
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

func spawnChild(t *testing.T, action string) *Child {
	t.Helper()
	pf, err := lockfile.Acquire(filepath.Join(t.TempDir(), "c.pid"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pf.Close() })
	c, err := Spawn(Spec{
		Path:    os.Args[0],
		Args:    []string{os.Args[0], "-test.run=^$"},
		Env:     append(os.Environ(), helperEnv+"=child", childActionEnv+"="+action, "GORACE=atexit_sleep_ms=0"),
		Dir:     "/",
		PIDFile: pf,
		Umask:   0o22,
	})
	if err != nil {
		t.Fatal(err)
	}
	proctest.Cleanup(t, c.PID())
	return c
}

// TestChildReadyThenAck: READY, ACK; after that the launch is settled:
// WaitReady and Ack fail at once and Abort does nothing, so a ready daemon
// is never killed by a late call.
func TestChildReadyThenAck(t *testing.T) {
	c := spawnChild(t, "ready")
	if err := c.WaitReady(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := c.Ack(); err != nil {
		t.Fatal(err)
	}
	if err := c.Ack(); err == nil {
		t.Error("second Ack succeeded")
	}
	start := time.Now()
	if err := c.WaitReady(context.Background()); err == nil || !strings.Contains(err.Error(), "after the launch") {
		t.Errorf("WaitReady after Ack: %v", err)
	}
	if time.Since(start) > time.Second {
		t.Errorf("WaitReady after Ack waited %v", time.Since(start))
	}
	c.Abort()
	<-c.exited
	if !c.state.Success() {
		t.Errorf("the acknowledged daemon ended with %v, want exit status 0 (it was killed?)", c.state)
	}
}

// TestChildFailure: the daemon's own message and exit status are reported;
// Abort afterwards (twice) signals nothing.
func TestChildFailure(t *testing.T) {
	c := spawnChild(t, "fail")
	err := c.WaitReady(context.Background())
	var f *launch.Failure
	if !errors.As(err, &f) || f.Message != "boom" || f.ProcessState.String() != "exit status 1" || f.Killed ||
		f.Err.Error() != "failed to start" || !errors.Is(err, launch.ErrReportedFailure) {
		t.Fatalf("WaitReady = %#v", err)
	}
	c.Abort()
	c.Abort()
}

// TestChildNotReadyInTime: a daemon that never reports is killed and
// reaped when the context ends.
func TestChildNotReadyInTime(t *testing.T) {
	c := spawnChild(t, "hang")
	ctx, cancel := context.WithTimeoutCause(context.Background(), 200*time.Millisecond, errors.New("no READY within 200ms"))
	defer cancel()
	err := c.WaitReady(ctx)
	var f *launch.Failure
	if !errors.As(err, &f) || !strings.Contains(f.Err.Error(), "no READY within 200ms") || f.ProcessState.String() != "signal: killed" ||
		!f.Killed || !errors.Is(err, launch.ErrNotReady) {
		t.Fatalf("WaitReady = %v", err)
	}
	if proctest.Alive(c.PID()) {
		t.Error("daemon stage still alive")
	}
}
