package launch

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// startError explains a failed fork/exec. The child reports a failed chdir
// and a failed exec with the same errno, so when the daemon runs as another
// user, permissions decide which one to name; the binary is named by its
// real path (not /proc/self/exe), and the fix is said.
func startError(s Spec, err error) error {
	cred := s.Identity.Cred
	path := s.Path
	if path == "/proc/self/exe" {
		if exe, e := os.Executable(); e == nil {
			path = exe
		}
	}
	if real, e := filepath.EvalSymlinks(path); e == nil {
		path = real
	}
	if cred == nil || !(errors.Is(err, unix.EACCES) || errors.Is(err, unix.ENOENT)) {
		return fmt.Errorf("starting %s: %w", path, err)
	}
	who := s.Identity.Name
	if who == "" {
		who = "uid " + strconv.Itoa(int(cred.Uid))
	} else {
		who = "user " + who
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		err = errno // "fork/exec /proc/self/exe" would name no file the user knows
	}
	switch {
	case !mayAccess(path, cred, 0o1, s.Path != "/proc/self/exe"):
		return fmt.Errorf("%s cannot execute %s: put it where that user can read and execute it, e.g. /usr/local/bin (%w)", who, path, err)
	case !mayAccess(s.Dir, cred, 0o1, true):
		return fmt.Errorf("%s cannot enter the working directory %s: choose one that user may enter (--chdir) (%w)", who, s.Dir, err)
	}
	return fmt.Errorf("starting %s as %s: %w (check that the user may enter working directory %s and run %s)", path, who, err, s.Dir, path)
}

// mayAccess reports whether cred may do what bits (octal 1 execute or
// search, 4 read) to path by its permission bits, and with ancestors, search
// every directory on the way. Root may do anything but execute a file
// without any execute bit.
func mayAccess(path string, cred *syscall.Credential, bits uint32, ancestors bool) bool {
	if dir := filepath.Dir(path); ancestors && dir != path && !mayAccess(dir, cred, 0o1, true) {
		return false
	}
	var st unix.Stat_t
	if unix.Stat(path, &st) != nil {
		return false
	}
	mode := uint32(st.Mode) & 0o777
	if cred.Uid == 0 {
		return bits&0o1 == 0 || mode&0o111 != 0 || uint32(st.Mode)&unix.S_IFMT == unix.S_IFDIR
	}
	switch {
	case st.Uid == cred.Uid:
		return (mode>>6)&bits == bits
	case st.Gid == cred.Gid || slices.Contains(cred.Groups, st.Gid):
		return (mode>>3)&bits == bits
	}
	return mode&bits == bits
}
