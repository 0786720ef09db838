//go:build unix

package lockfile_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

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

	f, err := lockfile.Acquire(path)
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
	if _, err := lockfile.Acquire(path); errors.Is(err, lockfile.ErrLocked) {
		fmt.Println(err)
	}

	f.WritePID(4242) // the daemon's PID once it is ready
	state()
	if _, err := lockfile.Acquire(path); err != nil {
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

// Inspect tells a dead daemon (stale PID file) from one that never ran,
// and from a file that is not a PID file at all.
func ExampleInspect() {
	dir, err := os.MkdirTemp("", "lockfile-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)

	for _, content := range []string{"", "4242\n", "-1\n"} {
		path := filepath.Join(dir, "demo.pid")
		os.WriteFile(path, []byte(content), 0o644)
		info, err := lockfile.Inspect(path)
		fmt.Printf("%q: %v %v\n", content, info.State, err)
	}
	info, err := lockfile.Inspect(filepath.Join(dir, "missing.pid"))
	fmt.Println("missing:", info.State, err)

	os.Mkdir(filepath.Join(dir, "dir.pid"), 0o755)
	_, err = lockfile.Inspect(filepath.Join(dir, "dir.pid"))
	fmt.Println("directory:", errors.Is(err, lockfile.ErrNotRegular))
	// Output:
	// "": not-running <nil>
	// "4242\n": stale <nil>
	// "-1\n": not-a-pid-file <nil>
	// missing: not-running <nil>
	// directory: true
}

func ExampleGuardPath() {
	fmt.Println(lockfile.GuardPath("/run/mydaemon.pid"))
	fmt.Println(lockfile.GuardPath("/run/mydaemon"))
	fmt.Println(lockfile.GuardPath("/run/mydaemon.pidfile"))
	// Output:
	// /run/mydaemon.lock
	// /run/mydaemon.lock
	// /run/mydaemon.pidfile.lock
}

func ExampleParsePID() {
	for _, s := range []string{"4242\n", "0\n", "1\n", "-1\n", "012\n", "4242\n\n"} {
		pid, err := lockfile.ParsePID([]byte(s), 32768)
		fmt.Println(pid, err != nil && errors.Is(err, lockfile.ErrInvalidPID))
	}
	// Output:
	// 4242 false
	// 0 true
	// 0 true
	// 0 true
	// 0 true
	// 0 true
}
