package framework

import (
	"log/slog"
	"time"
)

// Defaults of [Config], as its fields document them.
const (
	defaultReadyTimeout  = 60 * time.Second
	defaultStopTimeout   = 30 * time.Second
	defaultReloadTimeout = 30 * time.Second
	defaultDir           = "/"
	defaultUmask         = "022"
)

// Config describes a daemon. The zero value of every field has a documented
// default; [Main] lets the command line override most of them.
type Config struct {
	// Name names the service in messages and logs. Default: the program name.
	Name string
	// PIDFile is the path of the PID file (flag --pid-file). It is required
	// to detach; in the foreground it is optional.
	PIDFile string
	// LogFile receives the daemon's stdout and stderr, opened by the
	// launcher with O_APPEND and mode 0640 (flag --log-file). Empty means
	// /dev/null. It is reopened on SIGHUP, so logrotate can move it.
	LogFile string
	// User and Group are the user and group the daemon runs as, by name or
	// number (flags --user, --group). Empty keeps the launcher's. A user
	// brings its primary group and supplementary groups; Group overrides
	// the primary group.
	User, Group string
	// Dir is the daemon's working directory (flag --chdir). Default "/".
	Dir string
	// Umask is the daemon's umask in octal (flag --umask). Default "022".
	Umask string
	// ReadyTimeout bounds the time from re-exec to READY
	// (flag --ready-timeout). Default 60 s.
	ReadyTimeout time.Duration
	// StopTimeout bounds the body's return after a stop signal, and then,
	// separately, the OnStop hooks (flag --stop-timeout). Default 30 s.
	StopTimeout time.Duration
	// ReloadTimeout bounds the OnReload hooks of one SIGHUP. Default 30 s.
	ReloadTimeout time.Duration
	// Foreground runs everything in one process, without detaching
	// (flag --foreground, or the run verb). NOTIFY_SOCKET in the
	// environment (systemd Type=notify) implies it, unless Detach is set.
	Foreground bool
	// Detach detaches even when NOTIFY_SOCKET is set (flag --detach): the
	// launcher starts the daemon stage as usual, and once the daemon is
	// ready and its PID written, sends MAINPID=<daemon pid> and then
	// READY=1 to the service manager. The daemon stage keeps NOTIFY_SOCKET
	// for RELOADING=1, STOPPING=1 and watchdog pings. Foreground wins over
	// Detach.
	Detach bool
	// Reaper runs the foreground service under a reaping first stage
	// (flag --reaper; Linux only). The process started first becomes a
	// child subreaper (prctl PR_SET_CHILD_SUBREAPER), re-executes the
	// program as the service stage (which runs every hook and the body,
	// holds the PID file and sends sd_notify), passes SIGTERM, SIGINT,
	// SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 and SIGWINCH on to it, reaps every
	// orphan reparented to it, and exits with the service's exit status
	// (128+n if signal n killed it). The service's own children stay its
	// own: exec.Cmd.Wait still gets their exit statuses. A foreground
	// service that is PID 1 (in a container or PID namespace) does this
	// without being asked, on Linux. Reaper fails with a detaching start,
	// and, elsewhere than on Linux, with an error wrapping
	// errors.ErrUnsupported. See docs/lifecycle.md, "Reaping as PID 1".
	Reaper bool
	// Logger is the base logger; the framework adds the service name, the
	// stage and the PID. Default: text lines on stderr (which is the log
	// file in the daemon).
	Logger *slog.Logger
}

func (c Config) withDefaults() Config {
	if c.ReadyTimeout <= 0 {
		c.ReadyTimeout = defaultReadyTimeout
	}
	if c.StopTimeout <= 0 {
		c.StopTimeout = defaultStopTimeout
	}
	if c.ReloadTimeout <= 0 {
		c.ReloadTimeout = defaultReloadTimeout
	}
	if c.Dir == "" {
		c.Dir = defaultDir
	}
	if c.Umask == "" {
		c.Umask = defaultUmask
	}
	return c
}
