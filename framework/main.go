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
	"github.com/daemonkit/daemonkit/internal/ctlguard"
	"github.com/daemonkit/daemonkit/internal/verbs"
	"github.com/daemonkit/daemonkit/lockfile"
	"github.com/daemonkit/daemonkit/reexec"
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
	json      bool // status --json
	lsb       bool // --lsb: LSB init-script exit statuses
	version   bool // --version
}

// Flags returns the flag set [Daemon.Main] parses, so that a service can add
// its own flags before calling [Main]. The standard flags are --pid-file,
// --log-file, --user, --group, --chdir, --umask, --ready-timeout,
// --stop-timeout, --foreground, --detach, --reaper, --version, --lsb, and for the
// control verbs --timeout, --kill-after, --signal and (status) --json.
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
	fs.BoolVar(&c.Reaper, "reaper", c.Reaper, "run: reap orphaned processes (a first process reaps and forwards signals, the service runs as its child; automatic as PID 1; Linux only)")
	fs.DurationVar(&d.fv.timeout, "timeout", 0, "start, stop, status, reload, upgrade, restart: bound the whole action, guard wait included; 0 = none (default: 60s, or more for long ready and stop timeouts)")
	fs.DurationVar(&d.fv.killAfter, "kill-after", 0, "stop: send SIGKILL if still running after this `duration`")
	fs.StringVar(&d.fv.signal, "signal", "", "stop: the signal to send (default SIGTERM)")
	fs.BoolVar(&d.fv.json, "json", false, "status: print the state as one JSON object on stdout")
	fs.BoolVar(&d.fv.version, "version", false, "print the version and exit")
	fs.BoolVar(&d.fv.lsb, "lsb", false, "exit statuses of the LSB init-script specification: status 0 running, 1 stale PID file, 3 not running, 4 unknown; other verbs 0 done (also nothing to do), 1 failed, 2 usage error, 7 not running (reload, upgrade)")
	return fs
}

func (d *Daemon) usage(w io.Writer) {
	fmt.Fprintf(w, `usage: %[1]s VERB [flags]

verbs:
  start    start the daemon; returns once it is ready (exit 0), or 100 if
           it is already running, 1 if it failed to start
  stop     stop it (SIGTERM) and wait until it is gone (0; 100 if not running;
           102 if its OnStop hooks failed: it is stopped all the same)
  status   print its state (0 running, 101 not running, 103 stale PID file);
           alias check
  reload   reload and wait for the OnReload hooks (0; 101 if not running; 102 with the failing hook)
  upgrade  replace the running daemon with the binary now installed, without
           dropping its listeners or its PID file lock (0 once the new one is
           ready; 101 if not running; 102 with its error, the old one still
           serving)
  restart  stop, then start, under one lock
  run      run in the foreground, without detaching
  help     print this help

Messages go to stderr; stdout carries only status --json, help and
--version. Exit status: 0 done, 1 usage error or the daemon failed to
start, 100 nothing to do, 101 not running, 102 failed, 103 stale PID file.

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
// returns the exit status: a [control.Status] value, or 1 for a usage error
// or a daemon that failed to start; with --lsb, the LSB init-script exit
// status instead (status 0 running, 1 stale PID
// file, 3 not running, 4 unknown; the other verbs 0 done or nothing to do,
// 1 failed, 2 usage error, 7 not running). Messages go to stderr; stdout
// carries only what was asked for as data (status --json, help, --version).
func (d *Daemon) Main(ctx context.Context, args []string, stdout, stderr io.Writer, body Body) int {
	code, verb := d.main(ctx, args, stdout, stderr, body)
	lsb := (d.fv.lsb || verbs.LSBRequested(args)) && !reexec.Marked() && !d.reaping
	switch {
	case code == exitStartFailed && lsb && verb != "run":
		return verbs.LSBFailed // generic failure, not LSB's "invalid arguments"
	case code == exitStartFailed:
		return verbs.ExitUsage
	case lsb:
		return verbs.LSBCode(verb, code)
	}
	return code
}

// exitStartFailed is what the start and restart verbs return inside
// [Daemon.main] when the daemon failed to start (a hook failed, it exited,
// it was not ready in time). [Daemon.Main] turns it into 1, the status
// libucw's convention shares with a usage error, or with --lsb (start,
// restart) into the LSB's generic failure (1), which is not its usage
// error (2).
const exitStartFailed = -1

// main is [Daemon.Main] with libucw's exit statuses; it also returns the
// verb ("" if none was recognised).
func (d *Daemon) main(ctx context.Context, args []string, stdout, stderr io.Writer, body Body) (int, string) {
	d.flags.SetOutput(io.Discard)
	d.flags.Usage = func() {}
	verb, err := d.parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp) || err == nil && verb == "help":
		d.usage(stdout)
		return int(control.StatusOK), verb
	case err != nil:
		return verbs.Usage(stderr, d.cfg.Name, err), verb
	case d.fv.version:
		fmt.Fprintf(stdout, "%s %s\n", d.cfg.Name, verbs.Version())
		return int(control.StatusOK), verb
	}
	rep := &verbs.Reporter{Prog: d.cfg.Name, PIDFile: d.cfg.PIDFile, W: stderr}
	if reexec.Marked() {
		return d.daemonStage(ctx, verb, stderr, body), verb
	}
	if verb == "run" || ((verb == "start" || verb == "restart") && d.foreground()) {
		return d.runVerb(ctx, verb, rep, body), verb
	}
	if d.cfg.PIDFile == "" {
		return verbs.Usage(stderr, d.cfg.Name, ErrNoPIDFile), verb
	}
	d.cfg = d.cfg.withDefaults()
	ctx, cancel := d.withTimeout(ctx, verb)
	defer cancel()
	switch verb {
	case "start", "restart":
		return d.startVerb(ctx, verb, rep, body), verb
	case "stop":
		res, err := control.Stop(ctx, d.controlOptions())
		rep.Stopped(res, err)
	case "reload":
		d.reloadVerb(ctx, rep)
	case "upgrade":
		res, err := control.Upgrade(ctx, d.controlOptions())
		rep.Upgraded(res, err)
	case "status", "check":
		res, err := control.Check(ctx, d.controlOptions())
		rep.Status(stdout, res, err, lockfile.GuardPath(d.cfg.PIDFile), d.fv.json)
	}
	return rep.Code, verb
}

// daemonStage runs the daemon stage of a start or restart: the launcher
// re-executed the program with the stage marker set.
func (d *Daemon) daemonStage(ctx context.Context, verb string, stderr io.Writer, body Body) int {
	if verb != "start" && verb != "restart" {
		fmt.Fprintf(stderr, "%s: %s is set but the verb is %q; it is internal to daemonkit: unset it\n", d.cfg.Name, reexec.EnvVar, verb)
		return verbs.ExitUsage
	}
	if err := d.Run(ctx, body); err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", d.cfg.Name, err)
		return verbs.ExitUsage
	}
	return int(control.StatusOK)
}

// runVerb runs the daemon without detaching: the run verb, or start
// and restart with --foreground (or under systemd).
func (d *Daemon) runVerb(ctx context.Context, verb string, rep *verbs.Reporter, body Body) int {
	if verb == "restart" && d.cfg.PIDFile != "" {
		// Stop under the guard, then run outside it: a foreground
		// daemon must not hold the guard for its whole life.
		d.cfg = d.cfg.withDefaults()
		sctx, cancel := d.withTimeout(ctx, "stop")
		res, err := control.Stop(sctx, d.controlOptions())
		cancel()
		if rep.Stopped(res, err); rep.Code != int(control.StatusOK) && rep.Code != int(control.StatusAlreadyDone) {
			return rep.Code
		}
	}
	d.cfg.Foreground = true
	if err := d.Run(ctx, body); err != nil {
		var se *ServiceExitError
		if errors.As(err, &se) { // the reaper's first stage: the service spoke for itself
			if se.Signal != 0 {
				fmt.Fprintf(rep.W, "%s: %v\n", d.cfg.Name, err)
			}
			return se.Code
		}
		fmt.Fprintf(rep.W, "%s: %v\n", d.cfg.Name, err)
		if errors.Is(err, lockfile.ErrLocked) {
			return int(control.StatusAlreadyDone)
		}
		return exitStartFailed
	}
	return int(control.StatusOK)
}

// startVerb starts (or restarts) the daemon through the launcher, under
// the guard file.
func (d *Daemon) startVerb(ctx context.Context, verb string, rep *verbs.Reporter, body Body) int {
	// Run as the start command of a controller of our PID file
	// (`daemonctl start -- myservice start`, `ucw-daemon-control
	// --start -- myservice start`, through wrapper scripts), which
	// holds the guard file and sets nothing: act under its lock and
	// leave the verdict to it. Run by a controller of another PID
	// file: refuse before starting anything.
	opts := d.controlOptions()
	held, err := ctlguard.StartedByController(d.cfg.PIDFile, "")
	if err != nil {
		rep.Fail(control.StatusFailed, "%v", err)
		return rep.Code
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
	if held && err == nil && res.Status != control.StatusAlreadyDone {
		return int(control.StatusOK) // our controller reports what it found itself
	}
	rep.Started(res, err, verb == "restart")
	if err != nil && launchErr != nil && !errors.Is(launchErr, lockfile.ErrLocked) {
		return exitStartFailed // the daemon failed to start, not the control action
	}
	return rep.Code
}

// isVerb reports whether [Daemon.Main] knows verb.
func isVerb(verb string) bool {
	switch verb {
	case "start", "stop", "status", "check", "restart", "reload", "upgrade", "run", "help":
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

// withTimeout bounds a control verb: --timeout if given (0: no limit),
// else [verbs.DefaultTimeout] for the daemon's ready and stop timeouts.
func (d *Daemon) withTimeout(ctx context.Context, verb string) (context.Context, context.CancelFunc) {
	limit := verbs.DefaultTimeout(verb, d.cfg.ReadyTimeout, d.cfg.StopTimeout)
	if d.flagSet("timeout") {
		limit = d.fv.timeout
	}
	if limit == 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, limit)
}

// flagSet reports whether the flag name was given on the command line.
func (d *Daemon) flagSet(name string) bool {
	set := false
	d.flags.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// checkFlags refuses values the verbs cannot use: a time limit given as
// zero or negative, a bad signal.
func (d *Daemon) checkFlags() error {
	var errs []error
	for _, f := range []struct {
		name   string
		d      time.Duration
		zeroOK bool
	}{
		{"ready-timeout", d.cfg.ReadyTimeout, false},
		{"stop-timeout", d.cfg.StopTimeout, false},
		{"timeout", d.fv.timeout, true},
		{"kill-after", d.fv.killAfter, true},
	} {
		if d.flagSet(f.name) {
			errs = append(errs, verbs.CheckDuration(f.name, f.d, f.zeroOK))
		}
	}
	if d.fv.signal != "" {
		if _, err := control.ParseSignal(d.fv.signal); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// parse parses flags before and after the verb and returns the verb.
func (d *Daemon) parse(args []string) (string, error) {
	if err := d.flags.Parse(args); err != nil {
		return "", err
	}
	rest := d.flags.Args()
	if len(rest) == 0 && d.fv.version {
		return "", nil
	}
	if len(rest) == 0 {
		return "", errors.New("no verb given: use start, stop, status, reload, upgrade, restart, run or help")
	}
	verb := rest[0]
	if !isVerb(verb) {
		return "", fmt.Errorf("unknown verb %q", verb)
	}
	if err := d.flags.Parse(rest[1:]); err != nil {
		return verb, err
	}
	if extra := d.flags.Args(); len(extra) > 0 {
		return verb, fmt.Errorf("unexpected arguments after %s: %q", verb, extra)
	}
	return verb, d.checkFlags()
}

// reloadVerb asks the daemon to reload and reports its verdict. A daemon
// that does not answer on the control channel (one of an older version, or
// in another network namespace) is sent SIGHUP instead, and the report says
// that no verdict came.
func (d *Daemon) reloadVerb(ctx context.Context, rep *verbs.Reporter) {
	opts := d.controlOptions()
	res, err := control.Reload(ctx, opts)
	if !errors.Is(err, control.ErrNoVerdict) {
		rep.Reloaded(res, err)
		return
	}
	d.log.Warn("no verdict: sending SIGHUP", "err", err)
	opts.Signal = syscall.SIGHUP
	res, err = control.Signal(ctx, opts)
	rep.Signalled(res, err, control.SignalName(opts.Signal), "reloaded, without a verdict")
}
