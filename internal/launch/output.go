//go:build unix

package launch

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"github.com/daemonkit/daemonkit/lockfile"
)

// OpenOutput opens path for appending the daemon's stdout and stderr; label
// ("log file", "output file") starts its error messages. The one set of
// rules for every caller:
//
//   - the open never blocks: O_NONBLOCK keeps a FIFO without a reader
//     (which anyone who can create the name could plant) from holding the
//     start, and the PID file's lock, forever; it is cleared again before
//     the daemon inherits the descriptor;
//   - a symbolic link is not followed (O_NOFOLLOW);
//   - only a regular file is accepted, with no other hard link (appending
//     to someone else's file linked here would write where its owner never
//     meant us to);
//   - a missing file is created (mode 0640) through the descriptor, with
//     O_EXCL, and handed to uid and gid by fchown(2) unless they are -1, so
//     that the daemon, running as that user, can reopen it;
//   - it is opened read-write, so that [Tail] can quote it.
func OpenOutput(label, path string, uid, gid int) (*os.File, error) {
	flags := unix.O_RDWR | unix.O_APPEND | unix.O_CLOEXEC | unix.O_NOFOLLOW | unix.O_NOCTTY | unix.O_NONBLOCK
	fd, err := unix.Open(path, flags, 0)
	created := false
	if err == unix.ENOENT {
		fd, err = unix.Open(path, flags|unix.O_CREAT|unix.O_EXCL, 0o640)
		created = err == nil
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", label, &os.PathError{Op: "open", Path: path, Err: explainOpen(path, err)})
	}
	f := os.NewFile(uintptr(fd), path)
	if err := checkOutput(f, created, uid, gid); err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", label, &os.PathError{Op: "open", Path: path, Err: err})
	}
	return f, nil
}

// explainOpen says why opening an output path failed, where the errno
// alone would puzzle.
func explainOpen(path string, err error) error {
	var st unix.Stat_t
	switch {
	case errors.Is(err, unix.ELOOP):
		return fmt.Errorf("%w (symbolic links are not followed)", err)
	case unix.Lstat(path, &st) == nil && uint32(st.Mode)&unix.S_IFMT != unix.S_IFREG:
		// A FIFO or socket without a reader fails with ENXIO, a
		// directory with EISDIR: say why.
		return notRegular(uint32(st.Mode), err)
	}
	return err
}

// checkOutput checks the opened output file, hands a new one to uid/gid and
// makes the descriptor blocking again.
func checkOutput(f *os.File, created bool, uid, gid int) error {
	fd := int(f.Fd())
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return fmt.Errorf("fstat: %w", err)
	}
	if mode := uint32(st.Mode); mode&unix.S_IFMT != unix.S_IFREG {
		return notRegular(mode, nil)
	}
	if n := uint64(st.Nlink); n > 1 {
		return fmt.Errorf("%w (%d links): it may be another file linked here, which the daemon's output would be appended to; remove the other names or use a new file", lockfile.ErrHardLink, n)
	}
	if created && uid >= 0 {
		if err := unix.Fchown(fd, uid, gid); err != nil {
			return fmt.Errorf("fchown to uid %d gid %d: %w", uid, gid, err)
		}
	}
	fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
	if err == nil {
		_, err = unix.FcntlInt(uintptr(fd), unix.F_SETFL, fl&^unix.O_NONBLOCK)
	}
	if err != nil {
		return fmt.Errorf("fcntl: %w", err)
	}
	return nil
}

// notRegular says that an output path is not a regular file and what to
// use instead; cause is the open's error, if any.
func notRegular(mode uint32, cause error) error {
	var what string
	switch mode & unix.S_IFMT {
	case unix.S_IFIFO:
		what = "a FIFO"
	case unix.S_IFDIR:
		what = "a directory"
	case unix.S_IFSOCK:
		what = "a socket"
	case unix.S_IFCHR:
		what = "a character device"
	case unix.S_IFBLK:
		what = "a block device"
	default:
		what = fmt.Sprintf("of type %#o", mode&unix.S_IFMT)
	}
	err := fmt.Errorf("%w: it is %s; give a regular file (it is created if missing), or none for /dev/null; to feed a pipe or a logger, let the program write to it itself", lockfile.ErrNotRegular, what)
	if cause != nil {
		err = fmt.Errorf("%w (%w)", err, cause)
	}
	return err
}

// maxTail bounds how much of the output file [Tail] reads.
const maxTail = 64 << 10

// Tail returns the last n lines written to f after offset from (at most
// the last 64 KiB). A line cut by that bound is left out.
func Tail(f *os.File, from int64, n int) []string {
	if f == nil || n <= 0 {
		return nil
	}
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() || st.Size() <= from {
		return nil
	}
	start := max(from, st.Size()-maxTail)
	b := make([]byte, st.Size()-start)
	m, _ := f.ReadAt(b, start)
	b = b[:m]
	if start > from {
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b = b[i+1:] // partial first line
		}
	}
	var lines []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 4096), maxTail)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	return lines
}
