//go:build linux

package pidlock_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/daemonkit/daemonkit/internal/pidlock"
	"github.com/daemonkit/daemonkit/internal/proctest"
)

// TestAcquireWaitSharedHonoursContext: a guard file held only shared (a
// reader, `flock -s`) is retried for a while before the wait for an
// exclusive holder; a context that ends meanwhile ends the wait at once,
// not after the retries.
func TestAcquireWaitSharedHonoursContext(t *testing.T) {
	path := filepath.Join(t.TempDir(), "d.lock")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	// One process holds the shared lock: the shell takes it on its own
	// descriptor and becomes sleep, so the PID cleaned up is the holder.
	reader := exec.Command("sh", "-c", `exec 9<"$0" && flock -s 9 && exec sleep 1000`, path)
	if err := reader.Start(); err != nil {
		t.Fatal(err)
	}
	proctest.Cleanup(t, reader.Process.Pid)
	proctest.WaitFor(t, 30*time.Second, "the reader's shared lock", func() bool {
		f, err := pidlock.Acquire(path)
		if err == nil {
			f.Close()
			return false
		}
		return errors.Is(err, pidlock.ErrBusy)
	})
	for _, acquire := range []func(context.Context, string) (*pidlock.File, error){pidlock.AcquireGuard, pidlock.AcquireWait} {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		start := time.Now()
		f, err := acquire(ctx, path)
		took := time.Since(start)
		cancel()
		if err == nil {
			f.Close()
			t.Fatal("locked a file a reader holds shared")
		}
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("error %v, want one wrapping context.DeadlineExceeded", err)
		}
		if took > 400*time.Millisecond {
			t.Errorf("took %v after a context of 20ms: the shared-lock retries ignored it", took)
		}
	}
}
