//go:build linux

package control

import (
	"bufio"
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

// guardDaemonkit reports whether pid has the file dev/ino open through a
// descriptor opened with O_NOFOLLOW (the flags line of
// /proc/PID/fdinfo/N), as package [lockfile] opens every file it locks;
// libucw's controller and flock(1) open the guard without it.
func guardDaemonkit(pid int, dev, ino uint64) bool {
	dir := "/proc/" + strconv.Itoa(pid)
	ents, err := os.ReadDir(dir + "/fd")
	if err != nil {
		return false
	}
	for _, e := range ents {
		var st unix.Stat_t
		if unix.Stat(dir+"/fd/"+e.Name(), &st) != nil || uint64(st.Dev) != dev || uint64(st.Ino) != ino {
			continue
		}
		b, err := os.ReadFile(dir + "/fdinfo/" + e.Name())
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			v, ok := strings.CutPrefix(sc.Text(), "flags:")
			if !ok {
				continue
			}
			if fl, err := strconv.ParseUint(strings.TrimSpace(v), 8, 64); err == nil && fl&unix.O_NOFOLLOW != 0 {
				return true
			}
		}
	}
	return false
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
