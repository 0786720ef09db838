//go:build unix

package pidlock

import (
	"fmt"
	"io"
	"os"
	"testing"

	"go.uber.org/goleak"
	"golang.org/x/sys/unix"
)

// holderEnv, when set in the environment of the test binary, turns it into a
// lock holder instead of running tests: it opens the named file, locks it
// exclusively (holderModeEnv "sh": shared), prints "locked" and keeps the
// lock until its standard input reaches EOF. Tests start it with
// startHolder to have a lock held by another process.
const (
	holderEnv     = "LOCKFILE_TEST_HOLD"
	holderModeEnv = "LOCKFILE_TEST_HOLD_MODE"
)

func TestMain(m *testing.M) {
	if path := os.Getenv(holderEnv); path != "" {
		os.Exit(holdLock(path, os.Getenv(holderModeEnv)))
	}
	goleak.VerifyTestMain(m)
}

// holdLock is the body of the lock-holder helper process.
func holdLock(path, mode string) int {
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_CREAT|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0o644)
	if err != nil {
		fmt.Fprintf(os.Stderr, "holder: open %s: %v\n", path, err)
		return 2
	}
	how := unix.LOCK_EX
	if mode == "sh" {
		how = unix.LOCK_SH
	}
	if err := unix.Flock(fd, how|unix.LOCK_NB); err != nil {
		fmt.Fprintf(os.Stderr, "holder: flock %s: %v\n", path, err)
		return 3
	}
	fmt.Println("locked")
	io.Copy(io.Discard, os.Stdin)
	unix.Close(fd)
	return 0
}
