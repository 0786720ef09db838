//go:build linux

package bench

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/daemonkit/daemonkit/control"
)

// TestCheckFixture checks that BenchmarkControlCheck measures a running
// daemon's check.
func TestCheckFixture(t *testing.T) {
	res, err := control.Check(context.Background(), control.Options{PIDFile: runningPIDFile(t)})
	if err != nil || res.Status != control.StatusOK {
		t.Fatalf("control.Check of a running fixture: %v, %v; want OK", res.Status, err)
	}
}

// BenchmarkControlCheck: `daemonctl status` without the process start:
// take the guard file, inspect the PID file of a running daemon, release.
func BenchmarkControlCheck(b *testing.B) {
	o := control.Options{PIDFile: runningPIDFile(b)}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if res, err := control.Check(ctx, o); err != nil || res.Status != control.StatusOK {
			b.Fatalf("control.Check: %v, %v", res.Status, err)
		}
	}
}

// BenchmarkControlCheckNotRunning: the same for a PID file that does not
// exist (the guard file does).
func BenchmarkControlCheckNotRunning(b *testing.B) {
	o := control.Options{PIDFile: filepath.Join(b.TempDir(), "missing.pid")}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if res, err := control.Check(ctx, o); err != nil || res.Status != control.StatusNotRunning {
			b.Fatalf("control.Check: %v, %v", res.Status, err)
		}
	}
}
