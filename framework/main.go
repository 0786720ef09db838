package framework

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"syscall"
	"time"

	"github.com/daemonkit/daemonkit/control"
	"github.com/daemonkit/daemonkit/lockfile"
	"github.com/daemonkit/daemonkit/reexec"
)

// Exit codes of [Main], as in SPEC section 5 (libucw's), plus 1 for a
// launcher whose daemon failed to start (SPEC section 2).
const (
	ExitOK          = 0
	ExitFailed      = 1 // start failed, or usage error
	ExitAlreadyDone = 100
	ExitNotRunning  = 101
	ExitError       = 102
	ExitStale       = 103
)

// Main runs the service's command line and exits: see [Daemon.Main].
func Main(d *Daemon, body Body) {
	os.Exit(d.Main(context.Background(), os.Args[1:], os.Stdout, os.Stderr, body))
}

// flagValues are the standard flags; they start as the Config's values.
type flagValues struct {
	timeout   time.Duration
	killAfter time.Duration
	signal    string
}

// Flags returns the flag set [Daemon.Main] parses, so that a service can add
// its own flags before calling [Main]. The standard flags are --pid-file,
// --log-file, --user, --group, --chdir, --umask, --ready-timeout,
// --stop-timeout, --foreground, --detach, and for the control verbs --timeout,
// --kill-after and --signal.
func (d *Daemon) Flags() *flag.FlagSet { return d.flags }

func (d *Daemon) newFlagSet() *flag.FlagSet {
	fs := flag.NewFlagSet(d.cfg.Name, flag.ContinueOnError)
	c := &d.cfg
	fs.StringVar(&c.PIDFile, "pid-file", c.PIDFile, "PID file `path` (locked while the daemon runs)")
	fs.StringVar(&c.LogFile, "log-file", c.LogFile, "append the daemon's stdout and stderr to `path` (default /dev/null)")
	fs.StringVar(&c.User, "user", c.User, "run the daemon as `user` (name or number; needs root)")
	fs.StringVar(&c.Group, "group", c.Group, "run the daemon with primary `group` (name or number; needs root)")
	fs.StringVar(&c.Dir, "chdir", c.Dir, "daemon's working `directory` (default /)")
	fs.StringVar(&c.Umask, "umask", c.Umask, "daemon's umask in `octal` (default 022)")
	fs.DurationVar(&c.ReadyTimeout, "ready-timeout", c.ReadyTimeout, "how long start waits for READY (default 60s)")
	fs.DurationVar(&c.StopTimeout, "stop-timeout", c.StopTimeout, "how long the daemon may take to stop (default 30s)")
	fs.BoolVar(&c.Foreground, "foreground", c.Foreground, "start: do not detach (same as the run verb)")
	fs.BoolVar(&c.Detach, "detach", c.Detach, "start: detach even under systemd (NOTIFY_SOCKET set); the launcher sends MAINPID= and READY=1")
	fs.DurationVar(&d.fv.timeout, "timeout", 0, "start, stop, status, reload, restart: bound the whole action, guard wait included (default: enough for the ready and stop timeouts)")
	fs.DurationVar(&d.fv.killAfter, "kill-after", 0, "stop: send SIGKILL if still running after this `duration`")
	fs.StringVar(&d.fv.signal, "signal", "", "stop: the signal to send (default SIGTERM)")
	return fs
}

func (d *Daemon) usage(w io.Writer) {
	fmt.Fprintf(w, `usage: %[1]s VERB [flags]

verbs:
  start    start the daemon; returns once it is ready (exit 0), or 100 if
           it is already running, 1 if it failed to start
  stop     stop it (SIGTERM) and wait until it is gone (0; 100 if not running)
  status   print its state (0 running, 101 not running, 103 stale PID file);
           alias check
  reload   send SIGHUP (0; 101 if not running)
  restart  stop, then start, under one lock
  run      run in the foreground, without detaching

examples:
  %[1]s start --pid-file /run/%[1]s.pid --log-file /var/log/%[1]s.log
  %[1]s status --pid-file /run/%[1]s.pid
  %[1]s stop --pid-file /run/%[1]s.pid --kill-after 10s

flags:
`, d.cfg.Name)
	d.flags.SetOutput(w)
	d.flags.PrintDefaults()
}

// Main parses args (without the program name), runs the verb they name, and
// returns the exit status. Messages go to stderr, status lines to stdout.
func (d *Daemon) Main(ctx context.Context, args []string, stdout, stderr io.Writer, body Body) int {
	d.flags.SetOutput(io.Discard)
	d.flags.Usage = func() {}
	verb, err := d.parse(args)
	if errors.Is(err, flag.ErrHelp) {
		d.usage(stdout)
		return ExitOK
	}
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", d.cfg.Name, err)
		d.usage(stderr)
		return ExitFailed
	}
	say := func(format string, a ...any) {
		fmt.Fprintf(stderr, "%s: %s\n", d.cfg.Name, fmt.Sprintf(format, a...))
	}
	if !isVerb(verb) {
		say("unknown verb %q", verb)
		d.usage(stderr)
		return ExitFailed
	}
	if reexec.Marked() {
		if verb != "start" && verb != "restart" {
			say("%s is set but the verb is %q; it is internal to daemonkit: unset it", reexec.EnvVar, verb)
			return ExitFailed
		}
		if err := d.Run(ctx, body); err != nil {
			say("%v", err)
			return ExitFailed
		}
		return ExitOK
	}
	if d.fv.signal != "" {
		if _, err := control.ParseSignal(d.fv.signal); err != nil {
			say("%v", err)
			return ExitFailed
		}
	}
	if verb == "run" || ((verb == "start" || verb == "restart") && d.foreground()) {
		if verb == "restart" && d.cfg.PIDFile != "" {
			// Stop under the guard, then run outside it: a foreground
			// daemon must not hold the guard for its whole life.
			if code := d.stop(ctx, stderr); code != ExitOK && code != ExitAlreadyDone {
				return code
			}
		}
		d.cfg.Foreground = true
		if err := d.Run(ctx, body); err != nil {
			say("%v", err)
			if errors.Is(err, lockfile.ErrLocked) {
				return ExitAlreadyDone
			}
			return ExitFailed
		}
		return ExitOK
	}
	if d.cfg.PIDFile == "" {
		say("%v", ErrNoPIDFile)
		return ExitFailed
	}
	d.cfg = d.cfg.withDefaults()
	opts := d.controlOptions()
	ctx, cancel := context.WithTimeout(ctx, d.actionTimeout(verb))
	defer cancel()
	switch verb {
	case "start", "restart":
		// Run as the start command of a controller of our PID file
		// (`daemonctl start -- myservice start`, `ucw-daemon-control
		// --start -- myservice start`, through wrapper scripts), which
		// holds the guard file and sets nothing: act under its lock and
		// leave the verdict to it. Run by a controller of another PID
		// file: refuse before starting anything.
		held, err := control.StartedByController(d.cfg.PIDFile, "")
		if err != nil {
			say("%v", err)
			return ExitError
		}
		opts.GuardHeld = held
		var launchErr error
		starter := control.StarterFunc(func(ctx context.Context) error {
			launchErr = d.Run(ctx, body)
			return launchErr
		})
		var res control.Result
		if verb == "start" {
			res, err = control.Start(ctx, opts, starter)
		} else {
			res, err = control.Restart(ctx, opts, starter)
		}
		switch res.Status {
		case control.StatusOK, control.StatusStale:
			if opts.GuardHeld {
				return ExitOK // our controller reports what it found itself
			}
			if res.Status == control.StatusStale {
				say("started (pid %d); the PID file %s was stale", res.After.PID, d.cfg.PIDFile)
				return ExitStale
			}
			say("started (pid %d)", res.After.PID)
			return ExitOK
		case control.StatusAlreadyDone:
			say("%s", describeRunning(res.Before, err))
			return ExitAlreadyDone
		}
		say("%v", err)
		if launchErr != nil && !errors.Is(launchErr, lockfile.ErrLocked) {
			return ExitFailed // the daemon failed to start (SPEC section 2)
		}
		return ExitError // the control action failed (SPEC section 5)
	case "stop":
		return d.stop(ctx, stderr)
	case "reload":
		opts.Signal = syscall.SIGHUP
		res, err := control.Signal(ctx, opts)
		return d.report(stderr, res, err, "reloading")
	case "status", "check":
		res, err := control.Check(ctx, opts)
		info := res.After
		switch {
		case err != nil: // also a stale file naming a live process (103)
			say("%v", err)
		case info.State == lockfile.Running:
			fmt.Fprintf(stdout, "%s: running (pid %d) since %s\n", d.cfg.Name, info.PID, info.Since.Format(time.RFC3339))
		case info.State == lockfile.Stale:
			fmt.Fprintf(stdout, "%s: not running, stale PID file %s (content %q)\n", d.cfg.Name, d.cfg.PIDFile, info.Content)
		case info.State == lockfile.NotRunning:
			fmt.Fprintf(stdout, "%s: not running\n", d.cfg.Name)
		case res.Note != "":
			fmt.Fprintf(stdout, "%s: %s (%s)\n", d.cfg.Name, info.State, res.Note)
		default:
			fmt.Fprintf(stdout, "%s: %s\n", d.cfg.Name, info.State)
		}
		return int(res.Status)
	}
	panic("unreachable: verb " + verb)
}

// isVerb reports whether [Daemon.Main] knows verb.
func isVerb(verb string) bool {
	switch verb {
	case "start", "stop", "status", "check", "restart", "reload", "run":
		return true
	}
	return false
}

// controlOptions are the control package's options from the flags.
func (d *Daemon) controlOptions() control.Options {
	opts := control.Options{PIDFile: d.cfg.PIDFile, Logger: d.Logger(), KillAfter: d.fv.killAfter}
	if d.fv.signal != "" {
		opts.Signal, _ = control.ParseSignal(d.fv.signal) // checked in Main
	}
	return opts
}

// actionTimeout bounds a control verb: --timeout if given, else enough for
// what the verb waits for (the guard, a stop, a start).
func (d *Daemon) actionTimeout(verb string) time.Duration {
	if d.fv.timeout > 0 {
		return d.fv.timeout
	}
	const slack = 30 * time.Second      // waiting for the guard held by another action
	stop := 2*d.cfg.StopTimeout + slack // the body's return, then the OnStop hooks
	start := d.cfg.ReadyTimeout + slack
	switch verb {
	case "stop":
		return stop
	case "start":
		return start
	case "restart":
		return stop + start
	}
	return slack
}

// stop runs the stop verb and returns its exit status.
func (d *Daemon) stop(ctx context.Context, stderr io.Writer) int {
	d.cfg = d.cfg.withDefaults()
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d.actionTimeout("stop"))
		defer cancel()
	}
	res, err := control.Stop(ctx, d.controlOptions())
	return d.report(stderr, res, err, "stopped")
}

// parse parses flags before and after the verb and returns the verb.
func (d *Daemon) parse(args []string) (string, error) {
	if err := d.flags.Parse(args); err != nil {
		return "", err
	}
	rest := d.flags.Args()
	if len(rest) == 0 {
		return "", errors.New("no verb given")
	}
	verb := rest[0]
	if err := d.flags.Parse(rest[1:]); err != nil {
		return "", err
	}
	if extra := d.flags.Args(); len(extra) > 0 {
		return "", fmt.Errorf("unexpected arguments after %s: %q", verb, extra)
	}
	return verb, nil
}

func describeRunning(info lockfile.Info, err error) string {
	var le *lockfile.LockedError
	if errors.As(err, &le) {
		return le.Error()
	}
	if info.State == lockfile.Running {
		return fmt.Sprintf("already running (pid %d)", info.PID)
	}
	if !info.State.Alive() {
		return "already running: the PID file was locked by another process just now (a start without the guard file?)"
	}
	return "already running (" + info.State.String() + ")"
}

// report prints the outcome of stop or reload and returns its exit status.
func (d *Daemon) report(stderr io.Writer, res control.Result, err error, done string) int {
	switch res.Status {
	case control.StatusOK:
		fmt.Fprintf(stderr, "%s: %s (pid %d)\n", d.cfg.Name, done, res.Before.PID)
	case control.StatusAlreadyDone, control.StatusNotRunning:
		fmt.Fprintf(stderr, "%s: not running (%s)\n", d.cfg.Name, d.cfg.PIDFile)
	default:
		fmt.Fprintf(stderr, "%s: %v\n", d.cfg.Name, err)
	}
	return int(res.Status)
}
