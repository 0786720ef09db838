//go:build linux

package background

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLaunchBadDir: a working directory that does not exist, or is not a
// directory, is named in the error, instead of the command being blamed
// ("fork/exec ...: no such file or directory"), and nothing is started.
func TestLaunchBadDir(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{filepath.Join(dir, "missing"), file} {
		pidFile := filepath.Join(t.TempDir(), "d.pid")
		_, err := launchT(t, Options{PIDFile: pidFile, Command: "sleep", Args: []string{"1000"}, Dir: d})
		if err == nil || !strings.Contains(err.Error(), "working directory "+d) || strings.Contains(err.Error(), "fork/exec") {
			t.Errorf("Dir %s: error %v; want one naming the working directory", d, err)
		}
		if d == filepath.Join(dir, "missing") && !errors.Is(err, os.ErrNotExist) {
			t.Errorf("Dir %s: error %v does not wrap ErrNotExist", d, err)
		}
		if info := inspect(t, pidFile); info.State.Alive() {
			t.Errorf("Dir %s: PID file %v after the refusal", d, info.State)
		}
	}
}
