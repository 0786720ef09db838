//go:build linux

package control_test

import (
	"context"
	"testing"

	"github.com/daemonkit/daemonkit/control"
)

// BenchmarkCheckRunning measures one check of a running daemon: guard
// lock, inspect, and the check that the named process holds the lock.
func BenchmarkCheckRunning(b *testing.B) {
	pidFile := b.TempDir() + "/bench.pid"
	o := control.Options{PIDFile: pidFile}
	c := control.Command(daemonBin(b), "-pidfile", pidFile)
	c.Stdin, c.Stdout, c.Stderr = nil, nil, nil
	ctx := context.Background()
	if res, err := control.Start(ctx, o, c); err != nil || res.Status != control.StatusOK {
		b.Fatal(res.Status, err)
	}
	defer control.Stop(ctx, o)
	for b.Loop() {
		if res, err := control.Check(ctx, o); err != nil || res.Status != control.StatusOK {
			b.Fatal(res.Status, err)
		}
	}
}
