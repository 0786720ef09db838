//go:build linux

package proctest

import (
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// OpenedBy returns the PIDs of the processes that have the file dev/ino
// open (any descriptor), as far as this process may look: for tests that
// clean up or check every process that kept a file, locked or not. Having
// a file open says nothing about holding its lock: never signal on it
// outside tests.
func OpenedBy(dev, ino uint64) []int {
	ents, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if OpenFD(pid, dev, ino) != "" {
			out = append(out, pid)
		}
	}
	return out
}

// OpenFD returns a descriptor (/proc/PID/fd/N) through which pid has the
// file dev/ino open, or "".
func OpenFD(pid int, dev, ino uint64) string {
	dir := "/proc/" + strconv.Itoa(pid) + "/fd/"
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		var st unix.Stat_t
		if unix.Stat(dir+e.Name(), &st) == nil && uint64(st.Dev) == dev && uint64(st.Ino) == ino {
			return dir + e.Name()
		}
	}
	return ""
}
