//go:build linux

package integration_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/daemonkit/daemonkit/internal/proctest"
)

// TestStatusStartingHolderUnseen: status of a starting PID file names the
// lock holder where it can be seen (root), and where it cannot (user
// nobody may not read root's /proc/PID/fd) says "starting", never
// "starting ()": daemonctl and a framework service alike.
func TestStatusStartingHolderUnseen(t *testing.T) {
	proctest.RequireRoot(t)
	nobody := nobodyIdentity(t)
	hello, daemonctl := binary(t, "./examples/hello"), binary(t, "./cmd/daemonctl")
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	pidFile := filepath.Join(dir, "d.pid")
	// One process holds the lock (the shell takes it on its own
	// descriptor and becomes sleep), so the PID cleaned up is the holder.
	holder := exec.Command("sh", "-c", `exec 9<>"$0" && flock -x 9 && printf '(starting)\n' > "$0" && exec sleep 1000`, pidFile)
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	proctest.Cleanup(t, holder.Process.Pid)
	proctest.WaitFor(t, 30*time.Second, "the pid file starting", func() bool {
		b, _ := os.ReadFile(pidFile)
		return string(b) == "(starting)\n"
	})
	for _, c := range []struct {
		name string
		args []string
	}{
		{"daemonctl", []string{daemonctl, "status", "-p", pidFile}},
		{"hello", []string{hello, "status", "--pid-file", pidFile}},
	} {
		asRoot := statusOutput(t, nil, c.args)
		if !strings.Contains(asRoot, "starting (lock held by pid ") {
			t.Errorf("%s status as root: %q; want the lock holder named", c.name, asRoot)
		}
		cred := &syscall.Credential{Uid: uint32(nobody.uid), Gid: uint32(nobody.gid)}
		asNobody := statusOutput(t, cred, c.args)
		if !strings.Contains(asNobody, "starting") || strings.Contains(asNobody, "()") {
			t.Errorf("%s status as nobody: %q; want starting without an empty note", c.name, asNobody)
		}
	}
}

// statusOutput runs args (as cred, if not nil) and returns what it printed.
func statusOutput(t *testing.T, cred *syscall.Credential, args []string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil && cmd.ProcessState == nil {
		t.Fatalf("%q: %v", args, err)
	}
	return out.String()
}
