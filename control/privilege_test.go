//go:build linux

package control_test

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/daemonkit/daemonkit/internal/proctest"
)

// TestUnprivileged: a user who may not write the guard file (nobody, for a
// daemon run by root) can still check the daemon's state, and gets a clear
// error, without any signal being sent, for stop and signal.
func TestUnprivileged(t *testing.T) {
	proctest.RequireRoot(t)
	f := newFixture(t)
	if err := os.Chmod(f.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(f.dir+"/..", 0o755); err != nil {
		t.Fatal(err)
	}
	asNobody := func(action string) (int, string, string) {
		cmd := exec.Command(f.bin, "-ctl", action, "-pidfile", f.pidFile)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		var xe *exec.ExitError
		if err != nil && !errors.As(err, &xe) {
			t.Fatalf("run as nobody: %v", err)
		}
		t.Logf("nobody %s: %s %s", action, strings.TrimSpace(out.String()), strings.TrimSpace(errb.String()))
		return cmd.ProcessState.ExitCode(), out.String(), errb.String()
	}
	if code, out, _ := asNobody("check"); code != 101 || !strings.HasPrefix(out, "not-running") {
		t.Errorf("check of a stopped daemon as nobody: exit %d, %q", code, out)
	}
	pid := f.start()
	if code, out, _ := asNobody("check"); code != 0 || out != "ok pid="+strconv.Itoa(pid)+"\n" {
		t.Errorf("check as nobody: exit %d, %q", code, out)
	}
	for _, action := range []string{"stop", "signal"} {
		if code, _, msg := asNobody(action); code != 102 || !strings.Contains(msg, "guard file") {
			t.Errorf("%s as nobody: exit %d, %q: want 102 about the guard file", action, code, msg)
		}
	}
	if !proctest.Alive(pid) {
		t.Error("daemon was signalled by nobody's actions")
	}
}
