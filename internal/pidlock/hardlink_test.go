//go:build unix

package pidlock_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/daemonkit/daemonkit/internal/pidlock"
	"github.com/daemonkit/daemonkit/lockfile"
)

// TestHardLinkRefused: a PID or guard file with a second hard link (which
// could be someone else's file, linked where root will truncate it) is
// refused by Acquire, AcquireWait and Inspect, and left unchanged; a file
// Acquire creates has one link and is accepted.
func TestHardLinkRefused(t *testing.T) {
	dir := t.TempDir()
	precious := filepath.Join(dir, "precious")
	if err := os.WriteFile(precious, []byte("keep me\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "d.pid")
	if err := os.Link(precious, link); err != nil {
		t.Fatal(err)
	}
	check := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, lockfile.ErrHardLink) || !strings.Contains(err.Error(), link) {
			t.Errorf("%s: error %v; want ErrHardLink naming %s", what, err, link)
		}
	}
	f, err := pidlock.Acquire(link)
	if f != nil {
		f.Close()
	}
	check("Acquire", err)
	f, err = pidlock.AcquireWait(t.Context(), link)
	if f != nil {
		f.Close()
	}
	check("AcquireWait", err)
	_, err = lockfile.Inspect(link)
	check("Inspect", err)
	if b, _ := os.ReadFile(precious); string(b) != "keep me\n" {
		t.Errorf("linked file changed: %q", b)
	}

	fresh := filepath.Join(dir, "fresh.pid")
	f, err = pidlock.Acquire(fresh)
	if err != nil {
		t.Fatalf("Acquire of a new file: %v", err)
	}
	f.Close()
}
