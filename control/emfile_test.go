//go:build linux

package control_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/daemonkit/daemonkit/internal/proctest"
)

// ctlLimited runs the test daemon's -ctl action on pidFile with the
// descriptor limit n, and returns its exit status and standard error.
func ctlLimited(t *testing.T, n int, action, pidFile string) (int, string) {
	t.Helper()
	cmd := exec.Command("sh", "-c", `ulimit -n "$1" && exec "$2" -ctl "$3" -pidfile "$4"`, "sh", strconv.Itoa(n), daemonBin(t), action, pidFile)
	var errb bytes.Buffer
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	err := proctest.Wait(t, cmd, long)
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatalf("run %s with ulimit -n %d: %v", action, n, err)
	}
	return cmd.ProcessState.ExitCode(), errb.String()
}

// TestOutOfDescriptors: a controller that runs out of file descriptors
// (ulimit -n) never takes that for "not running" or "gone": check, signal
// and stop either work or fail (102) saying that descriptors ran out and
// what to do, never with a wrong hint; a signal reported sent was
// received, and a stop that failed left the daemon running. (Below 7
// descriptors the Go runtime itself cannot start: exit 2.)
func TestOutOfDescriptors(t *testing.T) {
	f := newFixture(t)
	hups := filepath.Join(f.dir, "hups")
	pid := f.start("-hup-file", hups)
	sent := 0
	for n := 7; n <= 16; n++ {
		for _, action := range []string{"check", "signal", "stop"} {
			code, msg := ctlLimited(t, n, action, f.pidFile)
			t.Logf("ulimit -n %d, %s: exit %d %s", n, action, code, strings.TrimSpace(msg))
			switch {
			case code == 102:
				if !strings.Contains(msg, "too many open files") || !strings.Contains(msg, "ulimit -n") ||
					strings.Contains(msg, "regular file") || strings.Contains(msg, "gone") {
					t.Errorf("ulimit -n %d, %s: message %q; want what ran out and what to do", n, action, msg)
				}
				if !proctest.Alive(pid) {
					t.Fatalf("ulimit -n %d, %s failed but the daemon is gone", n, action)
				}
			case code != 0:
				t.Errorf("ulimit -n %d, %s: exit %d (%s); want 0 or 102", n, action, code, msg)
			case action == "signal":
				sent++
				proctest.WaitFor(t, 10*time.Second, "the SIGHUP to be recorded", func() bool {
					b, _ := os.ReadFile(hups)
					return strings.Count(string(b), "hup ") == sent
				})
			case action == "stop":
				proctest.WaitFor(t, 10*time.Second, "the daemon to exit", func() bool { return !proctest.Alive(pid) })
				pid = f.start("-hup-file", hups)
			}
		}
	}
}
