package framework

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// openLog opens the log file for appending, creating it with mode 0640,
// without following a symlink. If it was created and uid/gid are given (the
// daemon will run as another user), it is handed to that user through the
// descriptor, so that the daemon can reopen it on SIGHUP.
func openLog(path string, uid, gid int) (*os.File, error) {
	// Read-write, so that the launcher can show the tail of what a failed
	// daemon wrote.
	flags := unix.O_RDWR | unix.O_APPEND | unix.O_CLOEXEC | unix.O_NOFOLLOW | unix.O_NOCTTY
	fd, err := unix.Open(path, flags, 0)
	created := false
	if err == unix.ENOENT {
		fd, err = unix.Open(path, flags|unix.O_CREAT|unix.O_EXCL, 0o640)
		created = err == nil
	}
	if err != nil {
		return nil, fmt.Errorf("log file: %w", &os.PathError{Op: "open", Path: path, Err: err})
	}
	f := os.NewFile(uintptr(fd), path)
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("log file %s: not a regular file", path)
	}
	if created && uid >= 0 {
		if err := f.Chown(uid, gid); err != nil {
			f.Close()
			return nil, fmt.Errorf("log file: %w", err)
		}
	}
	return f, nil
}

// reopenLog reopens the log file onto stdout and stderr (after logrotate
// moved it away). Without a log file it does nothing.
func (d *Daemon) reopenLog() error {
	if d.cfg.LogFile == "" || !d.logToFile {
		return nil
	}
	f, err := openLog(d.cfg.LogFile, -1, -1)
	if err != nil {
		return err
	}
	defer f.Close()
	for _, fd := range []int{1, 2} {
		if err := dupOnto(int(f.Fd()), fd); err != nil {
			return fmt.Errorf("log file %s onto fd %d: %w", d.cfg.LogFile, fd, err)
		}
	}
	return nil
}
