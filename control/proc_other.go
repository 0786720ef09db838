//go:build unix && !linux

package control

// openProcess returns a kill(2) handle: pidfds exist only on Linux. The
// caller re-checks the PID file right before signalling and waits for the
// PID file lock instead of the process.
func openProcess(pid int) (process, error) {
	return newKillProcess(pid)
}
