//go:build unix && !linux

package control

import "github.com/daemonkit/daemonkit/internal/procfs"

// openProcess returns a kill(2) handle: pidfds exist only on Linux. The
// caller re-checks the PID file right before signalling and waits for the
// PID file lock instead of the process.
func openProcess(pid int) (process, error) {
	return newKillProcess(pid)
}

// holdsLock cannot tell which process holds a lock outside Linux (there is
// no /proc): it returns an error wrapping procfs.ErrUnsupported, and the
// caller relies on the re-check of the PID file's lock and content.
func holdsLock(pid int, dev, ino uint64) (bool, error) {
	return false, procfs.ErrUnsupported
}

// lockHolders cannot list lock holders outside Linux.
func lockHolders(dev, ino uint64) ([]procfs.Process, error) {
	return nil, procfs.ErrUnsupported
}
