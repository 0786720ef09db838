package framework

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"github.com/daemonkit/daemonkit/lockfile"

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
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFREG {
		f.Close()
		return nil, fmt.Errorf("log file %s: not a regular file", path)
	}
	if st.Nlink > 1 {
		// A hard link to someone else's file: appending to it (as root)
		// would write where the path's owner never meant us to.
		f.Close()
		return nil, fmt.Errorf("log file %s: it has %d links: %w; use a file of its own", path, st.Nlink, lockfile.ErrHardLink)
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
	return d.logOnto(nil)
}

// logOnto opens the log file (created for cred's user, if given) and
// makes it stdout and stderr.
func (d *Daemon) logOnto(cred *syscall.Credential) error {
	uid, gid := owner(cred)
	f, err := openLog(d.cfg.LogFile, uid, gid)
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

// owner gives the uid and gid a new log file is handed to: cred's, or -1
// (keep ours) without one.
func owner(cred *syscall.Credential) (uid, gid int) {
	if cred == nil {
		return -1, -1
	}
	return int(cred.Uid), int(cred.Gid)
}

// absolutePaths makes the PID and log file paths absolute: the daemon runs
// in another working directory (/ by default) and reopens its log file by
// path on SIGHUP.
func (d *Daemon) absolutePaths() error {
	for _, p := range []*string{&d.cfg.PIDFile, &d.cfg.LogFile} {
		if *p == "" || filepath.IsAbs(*p) {
			continue
		}
		abs, err := filepath.Abs(*p)
		if err != nil {
			return fmt.Errorf("making %s absolute: %w", *p, err)
		}
		*p = abs
	}
	return nil
}

// checkDir reports a working directory that does not exist or is not a
// directory before the daemon is started, rather than as an exec failure.
func checkDir(dir string) error {
	st, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("working directory (--chdir): %w", err)
	}
	if !st.IsDir() {
		return fmt.Errorf("working directory (--chdir) %s: not a directory", dir)
	}
	return nil
}

// redirectToLog points stdout and stderr at the log file in the foreground,
// if one is configured (created for the configured user, as the launcher
// does), so that --log-file means the same in both modes.
func (d *Daemon) redirectToLog() error {
	if d.cfg.LogFile == "" {
		return nil
	}
	cred, err := credential(d.cfg.User, d.cfg.Group)
	if err != nil {
		return err
	}
	if err := d.logOnto(cred); err != nil {
		return err
	}
	d.logToFile = true
	return nil
}
