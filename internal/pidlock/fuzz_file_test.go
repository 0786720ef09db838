//go:build linux

package pidlock

import (
	"bytes"
	"errors"
	"github.com/daemonkit/daemonkit/lockfile"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/daemonkit/daemonkit/internal/pidfile"
)

// FuzzInspect writes arbitrary content into a real PID file and checks that
// lockfile.Inspect (unlocked, then locked by Acquire) and Acquire's lockfile.LockedError agree
// with pidfile.ParseContent and the state table of docs/protocol.md.
func FuzzInspect(f *testing.F) {
	for _, s := range []string{
		"", "\n", "(starting)\n", "(starting)", "4242\n", "4242", "0\n", "1\n", "-1\n",
		"012\n", "12\n\n", "\x00", strings.Repeat("1", 33), strings.Repeat("9", 4096),
	} {
		f.Add([]byte(s))
	}
	dir := f.TempDir()
	pidMax := pidfile.PIDMax()
	f.Fuzz(func(t *testing.T, content []byte) {
		path := filepath.Join(dir, "fuzz.pid")
		if err := os.WriteFile(path, content, 0o644); err != nil {
			t.Fatal(err)
		}
		prefix := content[:min(len(content), pidfile.MaxContent+1)]
		c, pid, perr := pidfile.ParseContent(prefix, pidMax)

		info, err := lockfile.Inspect(path)
		if err != nil {
			t.Fatalf("Inspect(%q): %v", content, err)
		}
		want := map[pidfile.Content]lockfile.State{pidfile.ContentEmpty: lockfile.NotRunning, pidfile.ContentStarting: lockfile.Stale, pidfile.ContentPID: lockfile.Stale, pidfile.ContentInvalid: lockfile.NotPIDFile}[c]
		if info.State != want || info.PID != 0 || !bytes.Equal(info.Content, prefix) {
			t.Fatalf("unlocked lockfile.Inspect(%q) = %+v; want %v", content, info, want)
		}

		var lf *File
		if c == pidfile.ContentInvalid {
			// Not a PID file: Acquire refuses it and leaves it as it was.
			if _, err := Acquire(path); !errors.Is(err, lockfile.ErrNotPIDFile) {
				t.Fatalf("Acquire(%q) = %v; want lockfile.ErrNotPIDFile", content, err)
			}
			if b, err := os.ReadFile(path); err != nil || !bytes.Equal(b, content) {
				t.Fatalf("after Acquire(%q) the file holds %q, %v", content, b, err)
			}
			raw, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer raw.Close()
			if err := unix.Flock(int(raw.Fd()), unix.LOCK_EX); err != nil {
				t.Fatal(err)
			}
		} else {
			if lf, err = Acquire(path); err != nil {
				t.Fatalf("Acquire(%q): %v", content, err)
			}
			defer lf.Close()
		}
		want = map[pidfile.Content]lockfile.State{pidfile.ContentEmpty: lockfile.Stopping, pidfile.ContentStarting: lockfile.Starting, pidfile.ContentPID: lockfile.Running, pidfile.ContentInvalid: lockfile.Invalid}[c]
		info, err = lockfile.Inspect(path)
		if err != nil || info.State != want || info.PID != pid || !bytes.Equal(info.Content, prefix) {
			t.Fatalf("locked lockfile.Inspect(%q) = %+v, %v; want %v pid %d", content, info, err, want, pid)
		}
		if (info.Reason != nil) != (perr != nil) {
			t.Fatalf("locked lockfile.Inspect(%q).Reason = %v, pidfile.ParseContent error %v", content, info.Reason, perr)
		}
		if want == lockfile.Running && (info.PID < 2 || info.PID > pidMax) {
			t.Fatalf("Inspect(%q) reports running pid %d", content, info.PID)
		}
		_, err = Acquire(path)
		var le *lockfile.LockedError
		if !errors.As(err, &le) || le.State != want || le.PID != pid || !bytes.Equal(le.Content, prefix) {
			t.Fatalf("second Acquire(%q) = %v; want lockfile.LockedError %v pid %d", content, err, want, pid)
		}
		// The message quotes at most pidfile.MaxContent+1 bytes (4 each escaped).
		if n := len(err.Error()) - len(path); n > 100+4*(pidfile.MaxContent+1) {
			t.Fatalf("LockedError message is %d bytes besides the path", n)
		}
	})
}
