//go:build unix && !linux

package control

// lockedFiles returns nothing: which files another process holds locked
// is only read from Linux's /proc.
func lockedFiles(pid int) []string { return nil }

// commandLine returns nothing: another process's command line is only
// read from Linux's /proc.
func commandLine(pid int) ([]string, string) { return nil, "" }
