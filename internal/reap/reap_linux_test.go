package reap

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/daemonkit/daemonkit/internal/proctest"
)

// run runs sh -c script under Run, as a subreaper, in dir ($D), bounded
// by a minute.
func run(t *testing.T, ctx context.Context, dir, script string) Status {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	st, err := Run(ctx, Spec{Path: "/bin/sh", Args: []string{"sh", "-c", script},
		Env: append(os.Environ(), "D="+dir), Subreaper: true})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// TestRunReapsOrphansAndKeepsStatus: an orphan of the service comes to the
// subreaper and is reaped while the service still runs (the service waits
// until its orphan's PID is gone: a zombie would still answer kill -0);
// the service's exit status is its own.
func TestRunReapsOrphansAndKeepsStatus(t *testing.T) {
	st := run(t, t.Context(), t.TempDir(), `sh -c 'sleep 0.1 & echo $! > "$D/orphan"'
o=$(cat "$D/orphan")
while kill -0 "$o" 2>/dev/null; do sleep 0.01; done
exit 7`)
	if st.Code != 7 || st.Signal != 0 || st.Reaped < 1 || st.String() != "exit status 7" {
		t.Errorf("status %+v (%s), want exit status 7 with the orphan reaped", st, st)
	}
}

// TestRunKilledBySignal: a service killed by SIGKILL is 137.
func TestRunKilledBySignal(t *testing.T) {
	st := run(t, t.Context(), t.TempDir(), `kill -KILL $$`)
	if st.Code != 137 || st.Signal != syscall.SIGKILL || st.String() != "signal: killed" {
		t.Errorf("status %+v (%s), want 137 by SIGKILL", st, st)
	}
}

// TestRunForwardsSignals: a SIGHUP to the first stage reaches the service,
// and so does a SIGTERM when the context ends.
func TestRunForwardsSignals(t *testing.T) {
	dir := t.TempDir()
	go func() {
		if proctest.Eventually(30*time.Second, func() bool { _, err := os.Stat(filepath.Join(dir, "ready")); return err == nil }) {
			syscall.Kill(os.Getpid(), syscall.SIGHUP)
		}
	}()
	st := run(t, t.Context(), dir, `trap 'exit 6' HUP; : > "$D/ready"; while :; do sleep 0.01; done`)
	if st.Code != 6 {
		t.Errorf("after SIGHUP: status %+v, want 6 (the service's HUP trap)", st)
	}
	ctx, cancel := context.WithCancel(t.Context())
	go func() {
		if proctest.Eventually(30*time.Second, func() bool { _, err := os.Stat(filepath.Join(dir, "ready2")); return err == nil }) {
			cancel()
		}
	}()
	st = run(t, ctx, dir, `trap 'exit 5' TERM; : > "$D/ready2"; while :; do sleep 0.01; done`)
	cancel()
	if st.Code != 5 {
		t.Errorf("after the context ended: status %+v, want 5 (the service's TERM trap)", st)
	}
}
