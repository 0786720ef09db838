//go:build unix && !linux

package control

// lockedFile is a file whose exclusive flock a process holds.
type lockedFile struct {
	path     string
	dev, ino uint64
}

// lockedFiles returns nothing: which files another process holds locked
// is only read from Linux's /proc.
func lockedFiles(pid int) []lockedFile { return nil }

// commandLine returns nothing: another process's command line is only
// read from Linux's /proc.
func commandLine(pid int) ([]string, string) { return nil, "" }
