//go:build unix && !linux && !darwin && !dragonfly && !freebsd && !netbsd && !openbsd

package control

// isTerminal reports false: this system's terminal ioctl is not known, so
// a start command is always put in its own process group.
func isTerminal(fd uintptr) bool { return false }
