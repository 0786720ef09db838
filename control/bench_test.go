//go:build linux

package control_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/daemonkit/daemonkit/control"
	"github.com/daemonkit/daemonkit/internal/proctest"
)

// BenchmarkCheck measures one check: guard lock, inspect, unlock.
func BenchmarkCheck(b *testing.B) {
	o := control.Options{PIDFile: filepath.Join(b.TempDir(), "bench.pid")}
	ctx := context.Background()
	for b.Loop() {
		if res, err := control.Check(ctx, o); err != nil || res.Status != control.StatusNotRunning {
			b.Fatal(res.Status, err)
		}
	}
}

// BenchmarkStartStop measures a start (launcher and daemon processes) and
// a stop (signal through a pidfd, wait on it, empty the PID file).
func BenchmarkStartStop(b *testing.B) {
	bin := daemonBin(b)
	pidFile := filepath.Join(b.TempDir(), "bench.pid")
	o := control.Options{PIDFile: pidFile}
	c := control.Command(bin, "-pidfile", pidFile)
	c.Stdin, c.Stdout, c.Stderr = nil, nil, nil
	ctx := context.Background()
	for b.Loop() {
		res, err := control.Start(ctx, o, c)
		if err != nil || res.Status != control.StatusOK {
			b.Fatal(res.Status, err)
		}
		pid := res.After.PID
		if res, err := control.Stop(ctx, o); err != nil || res.Status != control.StatusOK {
			proctest.Kill(pid)
			b.Fatal(res.Status, err)
		}
		proctest.Reap(pid)
	}
}
