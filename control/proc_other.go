//go:build unix && !linux

package control

import "errors"

// openProcess returns a kill(2) handle: pidfds exist only on Linux. The
// caller re-checks the PID file right before signalling and waits for the
// PID file lock instead of the process.
func openProcess(pid int) (process, error) {
	return newKillProcess(pid)
}

// holdsFile cannot tell which files another process has open outside
// Linux (there is no /proc/PID/fd).
func holdsFile(pid int, dev, ino uint64) (bool, error) {
	return false, errors.New("no /proc/PID/fd on this system")
}
