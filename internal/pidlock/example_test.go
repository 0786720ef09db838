//go:build unix

package pidlock_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/daemonkit/daemonkit/internal/pidlock"
	"github.com/daemonkit/daemonkit/lockfile"
)

// A daemon's life as its PID file shows it: locked and starting, running,
// stopping, and not running once the lock is gone.
func ExampleAcquire() {
	dir, err := os.MkdirTemp("", "lockfile-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "demo.pid")

	f, err := pidlock.Acquire(path)
	if err != nil {
		panic(err)
	}
	f.WriteStarting()
	state := func() {
		info, _ := lockfile.Inspect(path)
		fmt.Println(info.State, info.PID)
	}
	state()

	// A second launcher finds it locked and says by whom.
	if _, err := pidlock.Acquire(path); errors.Is(err, lockfile.ErrLocked) {
		fmt.Println(err)
	}

	f.WritePID(4242) // the daemon's PID once it is ready
	state()
	if _, err := pidlock.Acquire(path); err != nil {
		fmt.Println(err)
	}

	f.Clear() // clean stop: empty, still locked
	state()
	f.Close() // lock released
	state()
	// Output:
	// starting 0
	// already running (starting)
	// running 4242
	// already running (pid 4242)
	// stopping 0
	// not-running 0
}
