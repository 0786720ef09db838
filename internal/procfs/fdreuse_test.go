//go:build linux

package procfs

import (
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestHoldsLockFDReused: descriptor N of a process is, over and over,
// replaced (dup2) by a descriptor of an unlocked file A, then of another
// file B that the process holds the exclusive flock of. HoldsLock(A) must
// never say held: the fdinfo "lock:" line read for N may be B's, read
// after N was stat'ed as A; it is A's only if it names A's inode.
func TestHoldsLockFDReused(t *testing.T) {
	dir := t.TempDir()
	a, err := os.Create(filepath.Join(dir, "a.pid"))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := os.Create(filepath.Join(dir, "b.pid"))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := unix.Flock(int(b.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		t.Fatal(err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(a.Fd()), &st); err != nil {
		t.Fatal(err)
	}
	n, err := unix.Dup(int(a.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(n)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			unix.Dup3(int(a.Fd()), n, unix.O_CLOEXEC)
			unix.Dup3(int(b.Fd()), n, unix.O_CLOEXEC)
		}
	}()
	wrong, calls := 0, 0
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); calls++ {
		held, err := HoldsLock(os.Getpid(), uint64(st.Dev), uint64(st.Ino))
		if err != nil {
			t.Errorf("HoldsLock: %v", err)
			break
		}
		if held {
			wrong++
		}
	}
	close(stop)
	wg.Wait()
	if wrong > 0 {
		t.Errorf("HoldsLock said %d times in %d that this process holds the lock of %s, which nobody locked (the lock line was the other file's)", wrong, calls, a.Name())
	}
	t.Logf("%d calls", calls)
}
