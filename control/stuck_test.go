//go:build linux

package control_test

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/daemonkit/daemonkit/control"
	"github.com/daemonkit/daemonkit/internal/proctest"
	"github.com/daemonkit/daemonkit/lockfile"
)

// TestStopNamesStuckStarter: a PID file left "(starting)" by a program
// whose starter died is not stopped by waiting; the error names the
// process that holds the lock and says how to end it.
func TestStopNamesStuckStarter(t *testing.T) {
	f := newFixture(t)
	lf, err := lockfile.Acquire(f.pidFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := lf.WriteStarting(); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(f.bin, "-holder")
	cmd.ExtraFiles = []*os.File{lf.File()}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	holder := cmd.Process.Pid
	t.Cleanup(func() { proctest.Kill(holder); cmd.Wait() })
	lf.Close() // only the holder keeps the lock

	res, err := control.Stop(ctxFor(t, 300*time.Millisecond), f.opts())
	want(t, "Stop", res, err, control.Error)
	msg := err.Error()
	if !strings.Contains(msg, "held by pid "+strconv.Itoa(holder)) || !strings.Contains(msg, "kill "+strconv.Itoa(holder)) {
		t.Errorf("error %q: want the lock holder pid %d named, and what to do", msg, holder)
	}
	if !proctest.Alive(holder) {
		t.Error("the lock holder was signalled")
	}
}
