//go:build unix

package pidfile

import (
	"errors"
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// Errors of [Open]; the public lockfile package exports them under the same
// names.
var (
	// ErrNotRegular: the path names a directory, FIFO, device or socket,
	// or is a symbolic link (which is never followed).
	ErrNotRegular = errors.New("not a regular file")
	// ErrHardLink: the file has more than one name (hard link). Writing it
	// as root would change a file someone else linked there, possibly one
	// they may not write themselves, so it is refused.
	ErrHardLink = errors.New("file has more than one hard link")
)

// openFlags are used for every open: never follow a symlink, never leak.
const openFlags = unix.O_NOFOLLOW | unix.O_CLOEXEC | unix.O_NOCTTY | unix.O_NONBLOCK

// Open opens path safely. With create, a missing file is created with mode
// perm (less the umask). The O_NONBLOCK flag keeps a FIFO from blocking us;
// unless keepNonblock (a descriptor only read here, never passed on: the
// flag means nothing for a regular file), it is cleared once the file is
// known to be regular, so that a process inheriting the descriptor does not
// take it for a pollable one.
func Open(path string, flags int, create, keepNonblock bool, perm uint32) (*os.File, unix.Stat_t, error) {
	if create {
		flags |= unix.O_CREAT
	}
	fd, err := unix.Open(path, flags|openFlags, perm)
	if err != nil {
		var st unix.Stat_t
		switch {
		case errors.Is(err, unix.ELOOP) || errors.Is(err, unix.EMLINK):
			err = fmt.Errorf("%w: it is a symbolic link (%v)", ErrNotRegular, err)
		case !errors.Is(err, unix.ENOENT) && unix.Lstat(path, &st) == nil && st.Mode&unix.S_IFMT != unix.S_IFREG:
			// A directory fails with EISDIR (O_CREAT, O_RDWR), a socket
			// with ENXIO: say why the path is unusable, not just errno.
			err = fmt.Errorf("%w (mode %s): %v", ErrNotRegular, FileType(uint32(st.Mode)), err)
		}
		return nil, unix.Stat_t{}, &os.PathError{Op: "open", Path: path, Err: err}
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, st, &os.PathError{Op: "fstat", Path: path, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		unix.Close(fd)
		return nil, st, &os.PathError{Op: "open", Path: path, Err: fmt.Errorf("%w (mode %s)", ErrNotRegular, FileType(uint32(st.Mode)))}
	}
	if st.Nlink > 1 {
		unix.Close(fd)
		return nil, st, &os.PathError{Op: "open", Path: path, Err: fmt.Errorf("%w (%d links): it may be another file linked here, which writing would change; remove the other names or use a new file", ErrHardLink, st.Nlink)}
	}
	if !keepNonblock {
		if fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0); err == nil {
			unix.FcntlInt(uintptr(fd), unix.F_SETFL, fl&^unix.O_NONBLOCK)
		}
	}
	return os.NewFile(uintptr(fd), path), st, nil
}

// FileType names the file type in mode, for messages.
func FileType(mode uint32) string {
	switch mode & unix.S_IFMT {
	case unix.S_IFDIR:
		return "directory"
	case unix.S_IFIFO:
		return "fifo"
	case unix.S_IFLNK:
		return "symlink"
	case unix.S_IFSOCK:
		return "socket"
	case unix.S_IFCHR:
		return "character device"
	case unix.S_IFBLK:
		return "block device"
	}
	return "0" + strconv.FormatUint(uint64(mode&unix.S_IFMT), 8)
}

// ReadContent reads at most [MaxContent]+1 bytes from the start of f.
// One pread(2) suffices: on a regular file it returns everything there is
// up to the buffer's size.
func ReadContent(f *os.File) ([]byte, error) {
	buf := make([]byte, MaxContent+1)
	for {
		n, err := unix.Pread(int(f.Fd()), buf, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, err
		}
		return buf[:n], nil
	}
}
