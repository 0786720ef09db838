package framework

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"github.com/daemonkit/daemonkit/internal/launch"
)

// openLog opens the log file for appending under the rules every daemon's
// output file follows (see [launch.OpenOutput]): a new file is created
// through the descriptor, mode 0640, and handed to uid/gid (the daemon's
// user, if it runs as another one) so that it can reopen it on SIGHUP.
func openLog(path string, uid, gid int) (*os.File, error) {
	return launch.OpenOutput("log file", path, uid, gid)
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
