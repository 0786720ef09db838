//go:build linux

package control

import (
	"bytes"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/daemonkit/daemonkit/internal/procfs"
)

// lockedFile is a file whose exclusive flock a process holds.
type lockedFile struct {
	path     string
	dev, ino uint64
}

// lockedFiles returns the files named "*.lock" whose exclusive flock pid
// holds, as far as its descriptors can be read.
func lockedFiles(pid int) []lockedFile {
	dir := "/proc/" + strconv.Itoa(pid) + "/fd/"
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var out []lockedFile
	for _, e := range ents {
		path, err := os.Readlink(dir + e.Name())
		if err != nil || !strings.HasPrefix(path, "/") || !strings.HasSuffix(path, ".lock") {
			continue
		}
		var st unix.Stat_t
		if unix.Stat(dir+e.Name(), &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFREG {
			continue
		}
		f := lockedFile{path: path, dev: uint64(st.Dev), ino: uint64(st.Ino)}
		if held, err := procfs.HoldsLock(pid, f.dev, f.ino); err == nil && held {
			out = append(out, f)
		}
	}
	return out
}

// commandLine returns the arguments and working directory of pid ("" if
// unreadable).
func commandLine(pid int) ([]string, string) {
	p := "/proc/" + strconv.Itoa(pid)
	b, err := os.ReadFile(p + "/cmdline")
	if err != nil {
		return nil, ""
	}
	var args []string
	for a := range bytes.SplitSeq(bytes.TrimSuffix(b, []byte{0}), []byte{0}) {
		args = append(args, string(a))
	}
	cwd, _ := os.Readlink(p + "/cwd")
	return args, cwd
}
