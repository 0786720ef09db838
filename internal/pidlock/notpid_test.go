//go:build linux

package pidlock

import (
	"bytes"
	"context"
	"errors"
	"github.com/daemonkit/daemonkit/lockfile"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// notPIDFiles are files a PID file path may name by mistake: a copy of
// /etc/passwd and 1 KiB of text.
func notPIDFiles(t *testing.T) map[string][]byte {
	t.Helper()
	passwd, err := os.ReadFile("/etc/passwd")
	if err != nil || len(passwd) == 0 {
		t.Fatalf("read /etc/passwd: %v", err)
	}
	return map[string][]byte{
		"passwd": passwd,
		"1KiB":   bytes.Repeat([]byte("0123456789abcdef\n"), 61)[:1024],
		"digits": []byte("12 34\n"),
	}
}

// unchanged checks that path still holds want with modification time
// mtime.
func unchanged(t *testing.T, path string, want []byte, mtime time.Time) {
	t.Helper()
	got, err := os.ReadFile(path)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("%s changed: %.40q, %v", path, got, err)
	}
	if st, err := os.Stat(path); err != nil || !st.ModTime().Equal(mtime) {
		t.Fatalf("%s touched: mtime %v, was %v (%v)", path, st.ModTime(), mtime, err)
	}
}

// TestNotAPIDFile: a file that does not hold PID file content is never
// locked for writing, truncated or written: Acquire and AcquireWait refuse
// it with a NotPIDFileError that quotes it, lockfile.Inspect calls it not a PID file,
// and it is left byte-identical with the same mtime.
func TestNotAPIDFile(t *testing.T) {
	for name, content := range notPIDFiles(t) {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "x")
			writeFile(t, path, string(content))
			old := time.Now().Add(-time.Hour).Truncate(time.Second)
			if err := os.Chtimes(path, old, old); err != nil {
				t.Fatal(err)
			}
			_, err := Acquire(path)
			var ne *NotPIDFileError
			if !errors.Is(err, lockfile.ErrNotPIDFile) || !errors.As(err, &ne) || ne.Path != path ||
				!strings.Contains(err.Error(), "is not a PID file (it holds ") || !strings.Contains(err.Error(), "refusing to touch it") {
				t.Fatalf("Acquire = %v; want a NotPIDFileError naming %s", err, path)
			}
			if _, err := AcquireWait(context.Background(), path); !errors.Is(err, lockfile.ErrNotPIDFile) {
				t.Fatalf("AcquireWait = %v; want lockfile.ErrNotPIDFile", err)
			}
			if st := lockState(t, path, nil); st != "free" {
				t.Fatalf("a refused Acquire left the lock %s", st)
			}
			info, err := lockfile.Inspect(path)
			if err != nil || info.State != lockfile.NotPIDFile || info.State.Alive() || !errors.Is(info.Reason, lockfile.ErrInvalidPID) {
				t.Fatalf("Inspect = %+v, %v; want not-a-pid-file", info, err)
			}
			unchanged(t, path, content, old)
		})
	}
}

// TestWriteRefusesNotAPIDFile: a PID file whose content was replaced by
// something else while we hold its lock (by a program that ignores the
// lock) is not written or truncated by WriteStarting, WritePID or Clear.
func TestWriteRefusesNotAPIDFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "d.pid")
	f := mustAcquire(t, path)
	content := notPIDFiles(t)["passwd"]
	writeFile(t, path, string(content))
	old := time.Now().Add(-time.Hour).Truncate(time.Second)
	if err := os.Chtimes(path, old, old); err != nil {
		t.Fatal(err)
	}
	for name, write := range map[string]func() error{
		"WriteStarting": f.WriteStarting,
		"WritePID":      func() error { return f.WritePID(4242) },
		"Clear":         f.Clear,
	} {
		if err := write(); !errors.Is(err, lockfile.ErrNotPIDFile) {
			t.Errorf("%s = %v; want lockfile.ErrNotPIDFile", name, err)
		}
	}
	unchanged(t, path, content, old)
}

// TestGuardFile: AcquireGuard creates a missing guard file with mode 0600
// (no one but its owner may lock it), leaves an existing one's mode and
// content alone, takes any content, and never writes it.
func TestGuardFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "d.lock")
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	g, err := AcquireGuard(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("new guard file mode %v (%v), want 0600", st.Mode().Perm(), err)
	}
	for name, write := range map[string]func() error{
		"WriteStarting": g.WriteStarting,
		"WritePID":      func() error { return g.WritePID(4242) },
		"Clear":         g.Clear,
	} {
		if err := write(); !errors.Is(err, ErrGuardWrite) {
			t.Errorf("%s on a guard file = %v; want ErrGuardWrite", name, err)
		}
	}
	g.Close()

	// Whatever a guard file holds (it is not ours to judge), it is locked
	// and left as it was, mode included.
	other := filepath.Join(dir, "other.lock")
	content := notPIDFiles(t)["1KiB"]
	if err := os.WriteFile(other, content, 0o644); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-time.Hour).Truncate(time.Second)
	os.Chtimes(other, old, old)
	g, err = AcquireGuard(ctx, other)
	if err != nil {
		t.Fatalf("AcquireGuard of a guard holding text: %v", err)
	}
	g.Close()
	unchanged(t, other, content, old)
	if st, _ := os.Stat(other); st.Mode().Perm() != 0o644 {
		t.Errorf("existing guard file mode changed to %v", st.Mode().Perm())
	}
}

// TestWaitUnlocked: WaitUnlocked returns once the exclusive holder is
// gone, at once for a missing or unlocked file, and with ctx's error if
// the holder stays. It opens the file read-only and never creates it (a
// stop through a read-only mount is tested in the control package).
func TestWaitUnlocked(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "d.pid")
	if err := WaitUnlocked(context.Background(), path); err != nil {
		t.Fatalf("WaitUnlocked(missing) = %v", err)
	}
	writeFile(t, path, "4242\n")
	h := startHolder(t, path, "ex")
	os.Chmod(path, 0o444)
	os.Chmod(dir, 0o555)
	t.Cleanup(func() { os.Chmod(dir, 0o755) })

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	err := WaitUnlocked(ctx, path)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitUnlocked while held = %v; want DeadlineExceeded", err)
	}
	done := make(chan error, 1)
	go func() { done <- WaitUnlocked(context.Background(), path) }()
	select {
	case err := <-done:
		t.Fatalf("WaitUnlocked returned while the lock is held: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	h.release()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("WaitUnlocked after release = %v", err)
		}
	case <-time.After(testTimeout):
		t.Fatal("WaitUnlocked did not return after the lock was released")
	}
	if got := readFile(t, path); got != "4242\n" {
		t.Fatalf("WaitUnlocked changed the file: %q", got)
	}
}
