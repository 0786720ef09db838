//go:build linux

package bench

import (
	"os"
	"path/filepath"
	"testing"

	"go.uber.org/goleak"

	"github.com/daemonkit/daemonkit/internal/pidfile"
	"github.com/daemonkit/daemonkit/internal/pidlock"
	"github.com/daemonkit/daemonkit/lockfile"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// runningPIDFile returns a PID file that is locked (by this process, through
// its own open file description, which a fresh open cannot share) and names
// our PID: what a controller sees for a running daemon.
func runningPIDFile(tb testing.TB) string {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "d.pid")
	f, err := pidlock.Acquire(path)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { f.Close() })
	if err := f.WritePID(os.Getpid()); err != nil {
		tb.Fatal(err)
	}
	return path
}

// TestFixtures checks that the benchmarks measure the states they claim to.
func TestFixtures(t *testing.T) {
	info, err := lockfile.Inspect(runningPIDFile(t))
	if err != nil {
		t.Fatal(err)
	}
	if info.State != lockfile.Running || info.PID != os.Getpid() {
		t.Errorf("running fixture: state %v pid %d, want running pid %d", info.State, info.PID, os.Getpid())
	}
	info, err = lockfile.Inspect(filepath.Join(t.TempDir(), "missing.pid"))
	if err != nil || info.State != lockfile.NotRunning {
		t.Errorf("missing fixture: state %v, err %v; want not-running", info.State, err)
	}
	path := filepath.Join(t.TempDir(), "free.pid")
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	benchAcquireStarting(t, path, 3)
	info, err = lockfile.Inspect(path)
	if err != nil || info.State != lockfile.Stale {
		t.Errorf("after acquire/starting/close: state %v, err %v; want stale (\"(starting)\" unlocked)", info.State, err)
	}
}

// BenchmarkInspectRunning: a controller reads the state of a running daemon
// (open, shared-lock try, read, parse, fstat).
func BenchmarkInspectRunning(b *testing.B) {
	path := runningPIDFile(b)
	b.ReportAllocs()
	for b.Loop() {
		info, err := lockfile.Inspect(path)
		if err != nil || info.State != lockfile.Running {
			b.Fatalf("Inspect: %v, %v", info.State, err)
		}
	}
}

// BenchmarkInspectNotRunning: the PID file does not exist.
func BenchmarkInspectNotRunning(b *testing.B) {
	path := filepath.Join(b.TempDir(), "missing.pid")
	b.ReportAllocs()
	for b.Loop() {
		if info, err := lockfile.Inspect(path); err != nil || info.State != lockfile.NotRunning {
			b.Fatalf("Inspect: %v, %v", info.State, err)
		}
	}
}

// benchAcquireStarting does what a launcher does to its PID file n times:
// open, lock, check the inode, write "(starting)", close.
func benchAcquireStarting(tb testing.TB, path string, n int) {
	for range n {
		f, err := pidlock.Acquire(path)
		if err != nil {
			tb.Fatal(err)
		}
		if err := f.WriteStarting(); err != nil {
			tb.Fatal(err)
		}
		if err := f.Close(); err != nil {
			tb.Fatal(err)
		}
	}
}

// BenchmarkAcquireWriteClose: a launcher locks its PID file, writes
// "(starting)" and (here) releases it.
func BenchmarkAcquireWriteClose(b *testing.B) {
	path := filepath.Join(b.TempDir(), "d.pid")
	b.ReportAllocs()
	for b.Loop() {
		benchAcquireStarting(b, path, 1)
	}
}

// BenchmarkAcquireLocked: a second launcher finds the PID file locked and
// reads who holds it.
func BenchmarkAcquireLocked(b *testing.B) {
	path := runningPIDFile(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := pidlock.Acquire(path); err == nil {
			b.Fatal("Acquire of a locked PID file succeeded")
		}
	}
}

// BenchmarkParseContent: strict parsing of "<pid>\n".
func BenchmarkParseContent(b *testing.B) {
	content := []byte("4194303\n")
	b.ReportAllocs()
	for b.Loop() {
		if c, _, err := pidfile.ParseContent(content, pidfile.DefaultPIDMax); c != pidfile.ContentPID {
			b.Fatal(err)
		}
	}
}
