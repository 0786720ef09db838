//go:build linux

package control_test

import (
	"path/filepath"
	"sync"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/daemonkit/daemonkit/lockfile"
)

// TestGuardDaemonkitCannotTell: a daemonkit-like process (this test: the
// guard opened O_NOFOLLOW, as package lockfile opens it) holds the guard
// for an action of its own and names no start command in
// DAEMONKIT_CONTROLLER, while its descriptor of the guard keeps moving
// between two numbers (dup, close), so that a look at its descriptors
// may find the lock held and then not find the descriptor. A start
// command it runs must never take the lock for its own: what cannot be
// told is not held for it (it waits), never "a foreign controller's,
// held for all descendants".
func TestGuardDaemonkitCannotTell(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "d.pid")
	g, err := unix.Open(lockfile.GuardPath(pidFile), unix.O_RDWR|unix.O_CREAT|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Flock(g, unix.LOCK_EX|unix.LOCK_NB); err != nil {
		t.Fatal(err)
	}
	// High numbers, which nothing else in this process gets (descriptors
	// are allocated lowest first), so moving them closes nobody's file.
	const fdA, fdB = 900, 901
	if err := unix.Dup3(g, fdA, unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	unix.Close(g)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer unix.Close(fdA)
		for {
			select {
			case <-stop:
				return
			default:
			}
			unix.Dup3(fdA, fdB, unix.O_CLOEXEC)
			unix.Close(fdA)
			unix.Dup3(fdB, fdA, unix.O_CLOEXEC)
			unix.Close(fdB)
		}
	}()
	defer func() { close(stop); wg.Wait() }()
	const free = "held=false err=<nil>"
	wrong := 0
	const runs = 150
	for range runs {
		if got := startedBy(t, pidFile); got != free {
			wrong++
			t.Logf("guard held by this process for itself: %s, want %s", got, free)
		}
	}
	if wrong > 0 {
		t.Errorf("%d of %d start commands took a daemonkit process's own guard lock for theirs", wrong, runs)
	}
}
