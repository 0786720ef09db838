//go:build unix

package lockfile_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/daemonkit/daemonkit/lockfile"
)

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
