//go:build linux

package background

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/daemonkit/daemonkit/lockfile"
)

// TestLaunchOutputHardLinkRefused: an output file with a second hard link
// (possibly someone else's file) is refused and left unchanged, and nothing
// is started.
func TestLaunchOutputHardLinkRefused(t *testing.T) {
	dir := t.TempDir()
	precious := filepath.Join(dir, "precious")
	if err := os.WriteFile(precious, []byte("keep me\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out.log")
	if err := os.Link(precious, out); err != nil {
		t.Fatal(err)
	}
	pidFile := filepath.Join(dir, "d.pid")
	_, err := launchT(t, Options{PIDFile: pidFile, Command: "sh", Args: []string{"-c", "echo written; sleep 1000"}, Output: out})
	if !errors.Is(err, lockfile.ErrHardLink) {
		t.Fatalf("error %v, want ErrHardLink", err)
	}
	if b, _ := os.ReadFile(precious); string(b) != "keep me\n" {
		t.Errorf("linked file changed: %q", b)
	}
	if info := inspect(t, pidFile); info.State != lockfile.NotRunning {
		t.Errorf("PID file state %v, want not-running", info.State)
	}
}
