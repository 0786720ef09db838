//go:build !linux

package procfs

// ReadStat returns [ErrUnsupported].
func ReadStat(pid int) (Stat, error) { return Stat{}, ErrUnsupported }

// ParentOf returns [ErrUnsupported].
func ParentOf(pid int) (int, error) { return 0, ErrUnsupported }

// IsDescendant returns false: it cannot tell.
func IsDescendant(pid, ancestor int) bool { return false }

// Comm returns "".
func Comm(pid int) string { return "" }

// HoldsLock returns [ErrUnsupported].
func HoldsLock(pid int, dev, ino uint64) (bool, error) { return false, ErrUnsupported }

// HolderFD returns ErrUnsupported.
func HolderFD(pid int, dev, ino uint64) (FDInfo, bool, error) { return FDInfo{}, false, ErrUnsupported }

// LockHolders returns [ErrUnsupported].
func LockHolders(dev, ino uint64) ([]Process, error) { return nil, ErrUnsupported }

// Describe returns pid with nothing else known.
func Describe(pid int) Process { return Process{PID: pid, UID: -1} }

// SameNamespace returns [ErrUnsupported].
func SameNamespace() error { return ErrUnsupported }

// LockedFile is a file whose exclusive flock a process holds.
type LockedFile struct {
	Path     string
	Dev, Ino uint64
}

// LockedFiles returns nothing.
func LockedFiles(pid int, suffix string) []LockedFile { return nil }

// CommandLine returns nothing.
func CommandLine(pid int) ([]string, string) { return nil, "" }

// Children returns an empty map.
func Children() map[int][]int { return map[int][]int{} }
