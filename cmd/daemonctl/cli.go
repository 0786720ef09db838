package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/daemonkit/daemonkit/background"
	"github.com/daemonkit/daemonkit/control"
	"github.com/daemonkit/daemonkit/internal/launch"
	"github.com/daemonkit/daemonkit/internal/umask"
	"github.com/daemonkit/daemonkit/internal/verbs"
	"github.com/daemonkit/daemonkit/lockfile"
)

// noLimit stands for "no time limit" where a duration is needed.
const noLimit = 100 * 365 * 24 * time.Hour

// cli holds one invocation's flags and streams.
type cli struct {
	stdout, stderr io.Writer

	pidFile, guardFile string
	timeout            time.Duration
	timeoutSet         bool // --timeout was given (0 then means no limit)
	quiet, verbose     bool
	lsb                bool // exit statuses of the LSB init-script specification

	// start and restart
	bg         bool
	notify     bool
	readyFD    int
	user       string
	group      string
	chdir      string
	umask      string
	output     string
	env        []string
	rlimits    []string // NAME=SOFT[:HARD]
	nice       int
	noNewPrivs bool
	caps       []string // --ambient-caps
	respawn    bool
	respDelay  time.Duration
	respMax    time.Duration
	respLimit  string // N/PERIOD
	respStop   time.Duration
	signal     string // stop, restart
	killAfter  time.Duration
	jsonOutput bool // status
	wait       bool // reload: wait for a framework daemon's verdict

	rep verbs.Reporter // prints the outcome and keeps the exit status
}

// run parses args (without the program name), runs the action and returns
// the exit status: control's status codes, or 1 for a usage error.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 1 && args[0] == "--version" {
		// Without building the commands, nor cobra's version template.
		fmt.Fprintf(stdout, "daemonctl %s\n", verbs.Version())
		return int(control.StatusOK)
	}
	c := &cli{stdout: stdout, stderr: stderr}
	c.rep = verbs.Reporter{Prog: "daemonctl", W: stderr}
	root := c.commands()
	args, err := rewriteUCW(spellingOf(root), args)
	if err != nil {
		return verbs.Usage(stderr, "daemonctl", err)
	}
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	var code int
	if err := root.ExecuteContext(ctx); err != nil {
		code = verbs.Usage(stderr, "daemonctl", err)
	} else {
		code = c.rep.Code
	}
	if c.lsb || verbs.LSBRequested(args) {
		return verbs.LSBCode(verbOf(root, args), code)
	}
	return code
}

// verbOf returns the name of the subcommand args run, or "" for none.
func verbOf(root *cobra.Command, args []string) string {
	cmd, _, err := root.Find(args)
	if err != nil || cmd == root {
		return ""
	}
	return cmd.Name()
}

const rootLong = `daemonctl starts, stops, checks and signals daemons through their PID files,
with libucw's race-free control protocol: every action holds a guard file lock
(X.pid -> X.lock), the daemon holds a lock on its PID file for its whole life,
and signals go through a pidfd after the PID file was checked again.

With start --background it daemonizes a program that stays in the foreground:
new session, user, group, directory, umask, output file, the locked PID file
as inherited fd 3, and a readiness check (exec, sd_notify or a ready fd).

Messages, reports and errors alike, go to stderr as "daemonctl: PIDFILE:
message"; stdout carries only what is asked for as data (status --json,
--help, --version).

Exit status (libucw's):
  0    done; for status: running, starting or stopping
  1    usage error
  100  nothing to do: already running (start), not running (stop)
  101  not running (status, signal, reload)
  102  failed; the reason is on stderr
  103  stale PID file: the daemon died without cleaning up

With --lsb, the exit statuses of the LSB init-script specification instead:
  status: 0 running (or starting, stopping), 1 dead and the PID file exists
          (stale), 3 not running, 4 unknown (any failure)
  others: 0 done, also when there was nothing to do (start on a running
          daemon, stop on a stopped one, a stale PID file cleaned up),
          1 failed, 2 usage error, 7 not running (signal, reload)

The libucw spelling works too:
  daemonctl --start|--stop|--check|--reload [--signal SIG] --pid-file F
            [--guard-file G] [-- CMD ARG...]`

const rootExample = `  daemonctl start --pid-file /run/web.pid -- /usr/sbin/webd --config /etc/webd.conf
  daemonctl start --pid-file /run/worker.pid --background --notify \
      --user worker --output /var/log/worker.log -- /usr/bin/worker
  daemonctl status --pid-file /run/worker.pid --json
  daemonctl reload --pid-file /run/worker.pid
  daemonctl stop --pid-file /run/worker.pid --timeout 30s --kill-after 10s
  daemonctl --stop --pid-file /run/web.pid`

// commands builds daemonctl's command tree: the root with its persistent
// flags, and one subcommand per verb.
func (c *cli) commands() *cobra.Command {
	root := c.rootCommand()
	start, stop, status, sig, reload, restart := c.startCommand(), c.stopCommand(), c.statusCommand(), c.signalCommand(), c.reloadCommand(), c.restartCommand()
	upgrade := c.upgradeCommand()
	for _, cmd := range []*cobra.Command{start, restart} {
		// Everything after CMD belongs to CMD, even without "--".
		cmd.Flags().SetInterspersed(false)
	}
	root.AddCommand(start, stop, status, sig, reload, upgrade, restart)
	for _, cmd := range root.Commands() {
		cmd.DisableFlagsInUseLine = true // the Use lines name the flags
	}
	// Shell completion: PID files, signal names.
	root.MarkPersistentFlagFilename("pid-file", "pid")
	root.MarkPersistentFlagFilename("guard-file", "lock")
	sig.ValidArgs = commonSignals()
	for _, cmd := range []*cobra.Command{stop, restart} {
		cmd.RegisterFlagCompletionFunc("signal", cobra.FixedCompletions(commonSignals(), cobra.ShellCompDirectiveNoFileComp))
	}
	return root
}

// rootCommand is daemonctl itself: the flags every verb takes.
func (c *cli) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "daemonctl",
		Short:         "Start, stop, check and signal daemons through locked PID files",
		Long:          rootLong,
		Example:       rootExample,
		SilenceUsage:  true,
		SilenceErrors: true,
		Args:          cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return verbs.Usagef("no action given: use start, stop, status, signal, reload or restart")
		},
	}
	root.PersistentPreRun = func(cmd *cobra.Command, _ []string) {
		c.timeoutSet = cmd.Flags().Changed("timeout")
		c.rep.PIDFile, c.rep.Quiet = c.pidFile, c.quiet
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &verbs.UsageError{Msg: err.Error()} })
	root.Version = verbs.Version()
	root.SetVersionTemplate("daemonctl {{.Version}}\n")
	pf := root.PersistentFlags()
	pf.StringVarP(&c.pidFile, "pid-file", "p", "", "the daemon's PID file (required)")
	pf.StringVar(&c.guardFile, "guard-file", "", "the guard file locked during the action (default: X.pid -> X.lock, else PIDFILE.lock)")
	pf.DurationVar(&c.timeout, "timeout", 0, "limit for the whole action, guard wait included (default 60s, restart 120s; 0 = none)")
	pf.BoolVarP(&c.quiet, "quiet", "q", false, "print nothing but errors")
	pf.BoolVarP(&c.verbose, "verbose", "v", false, "log each step (and a daemon's STATUS= messages) on stderr")
	pf.BoolVar(&c.lsb, "lsb", false, "exit statuses of the LSB init-script specification: status 0 running, 1 stale PID file, 3 not running, 4 unknown; other verbs 0 done (also nothing to do), 1 failed, 2 usage error, 7 not running")
	root.MarkFlagsMutuallyExclusive("quiet", "verbose")
	return root
}

// startCommand is `daemonctl start`.
func (c *cli) startCommand() *cobra.Command {
	start := &cobra.Command{
		Use:   "start --pid-file F [options] -- CMD [ARG...]",
		Short: "Start CMD unless the daemon is running",
		Long: `start runs CMD unless the daemon is already running (exit 100).

Without --background, CMD is a daemon's launcher (for example a daemonkit
service, or any program that locks and writes the PID file itself and exits
once its daemon is ready): daemonctl waits for CMD to exit and then requires
the PID file to name a running daemon.

With --background, CMD stays in the foreground and daemonctl daemonizes it:
it locks the PID file, writes "(starting)", starts CMD in a new session with
stdin from /dev/null, stdout and stderr appended to --output (a regular
file; else /dev/null), the
locked PID file as inherited fd 3 (the lock lives as long as CMD), and writes
CMD's PID once CMD is ready:
  default       the exec succeeded and CMD got past its start (all its
                threads wait for something, or it used 100 ms of CPU): one
                that exits at once is a failure with its exit status
  --notify      CMD sent READY=1 to $NOTIFY_SOCKET (sd_notify); STATUS=,
                ERRNO=, EXTEND_TIMEOUT_USEC= and MAINPID= are honoured, and only
                datagrams from CMD or its descendants count
  --ready-fd N  CMD wrote a newline to fd N (s6 style), N >= 4
If CMD exits, reports a failure or is not ready within --timeout, it is
killed, the PID file is left not running, and daemonctl exits 102 with CMD's
exit status and the last lines of --output.

With --respawn, a supervisor (daemonctl itself, in a session of its own)
holds the PID file, which names it, and starts CMD (which then does not get
the PID file) as above; daemonctl exits once the first CMD is ready, or
reports its failure as above. When CMD exits, the supervisor starts it again
after --respawn-delay (default 1s), doubling the delay after each further
exit up to --respawn-max-delay (default 1m); a CMD that ran for 10 times
max(delay, 1s) gets the first delay again. After --respawn-limit N/PERIOD
exits (default 5/1m) it gives up, logging why to --output, and leaves the PID
file stale. stop (SIGTERM or SIGINT to the supervisor) passes the signal on to
CMD's process group, sends SIGKILL after --respawn-stop-timeout (default
30s) and ends the supervisor; nothing is started again. SIGHUP, SIGUSR1,
SIGUSR2, SIGQUIT and SIGWINCH (signal, reload) are passed on to CMD. status
--json then also shows program_pid, program_state, restarts and last_exit.`,
		Example: `  daemonctl start --pid-file /run/app.pid -- /usr/bin/app-launcher
  daemonctl start -p /run/sleep.pid --background -- sleep 1000
  daemonctl start -p /run/app.pid --background --notify --user app --group app \
      --chdir /var/lib/app --umask 027 --output /var/log/app.log \
      --env GOMAXPROCS=2 -- /usr/bin/app serve
  daemonctl start -p /run/app.pid --background --respawn --respawn-limit 10/5m \
      --output /var/log/app.log -- /usr/bin/app serve`,
		Args: needCommand,
		RunE: func(cmd *cobra.Command, args []string) error { return c.start(cmd.Context(), cmd.Flags(), args, false) },
	}
	c.startFlags(start)
	return start
}

// stopCommand is `daemonctl stop`.
func (c *cli) stopCommand() *cobra.Command {
	stop := &cobra.Command{
		Use:   "stop --pid-file F [--signal SIG] [--kill-after D]",
		Short: "Stop the daemon and wait until it has exited",
		Long: `stop sends SIGTERM (or --signal) to the daemon through a pidfd, after checking
that the PID file is still locked and names it, then waits until the daemon has
exited and released its PID file, at most --timeout (default 60s). With
--kill-after D it sends SIGKILL if the daemon is still running D after the
first signal. Exit 100 if it was not running, 103 if its PID file is stale
(the daemon died; the file is kept, as libucw does).`,
		Example: `  daemonctl stop --pid-file /run/app.pid
  daemonctl stop --pid-file /run/app.pid --signal INT --timeout 30s --kill-after 10s`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return c.stop(cmd.Context()) },
	}
	c.stopFlags(stop)
	return stop
}

// statusCommand is `daemonctl status` (alias check).
func (c *cli) statusCommand() *cobra.Command {
	status := &cobra.Command{
		Use:     "status --pid-file F [--json]",
		Aliases: []string{"check"},
		Short:   "Report whether the daemon is running",
		Long: `status reports the daemon's state: running, starting or stopping (exit 0),
not running (101), stale PID file (103) or an unusable PID file (102).
With --json it prints one JSON object on stdout:
  {"state":"running","pid":1234,"pid_file":"/run/app.pid",
   "guard_file":"/run/app.lock","since":"2026-01-02T15:04:05Z","uptime_seconds":42}
state is one of not-running, stale, starting, running, stopping, invalid, or
unknown when the PID file could not be examined (then "error" says why);
pid is null when there is none; since and uptime_seconds (whole seconds since
the PID file was written) are present for a running daemon.`,
		Example: `  daemonctl status --pid-file /run/app.pid
  daemonctl check --pid-file /run/app.pid --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return c.status(cmd.Context()) },
	}
	status.Flags().BoolVar(&c.jsonOutput, "json", false, "print the state as one JSON object on stdout")
	return status
}

// signalCommand is `daemonctl signal`.
func (c *cli) signalCommand() *cobra.Command {
	sig := &cobra.Command{
		Use:   "signal --pid-file F SIG",
		Short: "Send a signal to the running daemon",
		Long: `signal sends SIG to the daemon through a pidfd, after checking that the PID
file is still locked and names it; it does not wait. Exit 101 if the daemon is
not running. SIG is a name with or without SIG, in any case, or a number:
SIGUSR1, USR1, usr1 and 10 are the same.`,
		Example: `  daemonctl signal --pid-file /run/app.pid USR1`,
		Args:    exactArgs(1, "a signal, e.g. HUP or 1"),
		RunE:    func(cmd *cobra.Command, args []string) error { return c.sendSignal(cmd.Context(), args[0], "") },
	}
	return sig
}

// reloadCommand is `daemonctl reload` (signal HUP, or with --wait a
// framework daemon's verdict).
func (c *cli) reloadCommand() *cobra.Command {
	reload := &cobra.Command{
		Use:   "reload --pid-file F [--wait]",
		Short: "Make the running daemon reload (SIGHUP)",
		Long: `reload is signal HUP: it sends SIGHUP to the daemon, exit 101 if it is not running.

With --wait, for a daemonkit framework daemon: it asks the daemon over its
control channel to reload, waits for its OnReload hooks and exits 0, or 102
with the failing hook's name and error (the daemon keeps running as before).
A program that is not a framework daemon does not answer: exit 102 after a
few seconds, and it was sent nothing but SIGCHLD, which programs ignore.`,
		Example: `  daemonctl reload --pid-file /run/app.pid
  daemonctl reload --wait --pid-file /run/mysvc.pid`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if c.wait {
				return c.reloadWait(cmd.Context())
			}
			return c.sendSignal(cmd.Context(), "HUP", "reloaded")
		},
	}
	reload.Flags().BoolVar(&c.wait, "wait", false, "framework daemons: wait for the OnReload hooks and report their verdict")
	return reload
}

// restartCommand is `daemonctl restart`: start's flags and stop's.
func (c *cli) restartCommand() *cobra.Command {
	restart := &cobra.Command{
		Use:   "restart --pid-file F [start options] -- CMD [ARG...]",
		Short: "Stop the daemon if it runs, then start CMD, under one guard lock",
		Long: `restart stops the daemon as stop does (if it is running) and starts CMD as start
does, holding the guard file throughout so no other action runs in between.
It takes start's options and stop's --signal and --kill-after. --timeout
(default 120s) bounds the whole restart.`,
		Example: `  daemonctl restart -p /run/sleep.pid --background -- sleep 1000`,
		Args:    needCommand,
		RunE:    func(cmd *cobra.Command, args []string) error { return c.start(cmd.Context(), cmd.Flags(), args, true) },
	}
	c.startFlags(restart)
	c.stopFlags(restart)
	return restart
}

// commonSignals are offered by shell completion (any signal is accepted).
func commonSignals() []string {
	return []string{"HUP", "INT", "QUIT", "TERM", "KILL", "USR1", "USR2", "WINCH", "CONT", "STOP"}
}

// needCommand requires the daemon's command line (start, restart).
func needCommand(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return verbs.Usagef("%s needs the daemon's command after --, e.g. daemonctl %s --pid-file F -- /usr/sbin/mydaemon --flag", cmd.Name(), cmd.Name())
	}
	return nil
}

// exactArgs is cobra.ExactArgs with a message that says what is expected.
func exactArgs(n int, what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return verbs.Usagef("%s takes %s, got %d arguments", cmd.Name(), what, len(args))
		}
		return nil
	}
}

func (c *cli) startFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.BoolVar(&c.bg, "background", false, "daemonize CMD, which stays in the foreground")
	f.BoolVar(&c.notify, "notify", false, "with --background: CMD is ready when it sends READY=1 to $NOTIFY_SOCKET")
	f.IntVar(&c.readyFD, "ready-fd", 0, "with --background: CMD is ready when it writes a newline to this fd (>= 4)")
	f.StringVar(&c.user, "user", "", "with --background: run CMD as this user (name or number), with its groups")
	f.StringVar(&c.group, "group", "", "with --background: run CMD with this group (default: the user's)")
	f.StringVar(&c.chdir, "chdir", "", "with --background: working directory of CMD (default /)")
	f.StringVar(&c.umask, "umask", "", "with --background: umask of CMD, octal (default 022)")
	f.StringVar(&c.output, "output", "", "with --background: append CMD's stdout and stderr to this file (default /dev/null)")
	f.StringArrayVar(&c.env, "env", nil, "with --background: set K=V in CMD's environment (repeatable)")
	f.StringArrayVar(&c.rlimits, "rlimit", nil, "with --background: resource limit NAME=SOFT[:HARD] of CMD (repeatable; nofile, nproc, core, memlock, as, stack, cpu, fsize, data, rss, locks, msgqueue, nice, rtprio, sigpending; a number or unlimited)")
	f.IntVar(&c.nice, "nice", 0, "with --background: run CMD with this nice value (-20 to 19)")
	f.BoolVar(&c.noNewPrivs, "no-new-privs", false, "with --background: set no_new_privs: CMD cannot gain privileges (setuid bits, file capabilities)")
	f.StringSliceVar(&c.caps, "ambient-caps", nil, "with --background: capabilities CMD keeps across --user and its exec, e.g. NET_BIND_SERVICE (comma-separated, repeatable)")
	f.BoolVar(&c.respawn, "respawn", false, "with --background: supervise CMD and start it again when it exits (the PID file names the supervisor)")
	f.DurationVar(&c.respDelay, "respawn-delay", background.DefaultRespawnDelay, "with --respawn: delay before the first new start; it doubles after each further exit")
	f.DurationVar(&c.respMax, "respawn-max-delay", background.DefaultRespawnMaxDelay, "with --respawn: the longest delay between an exit and the next start")
	f.StringVar(&c.respLimit, "respawn-limit", fmt.Sprintf("%d/%v", background.DefaultRespawnLimit, "1m"), "with --respawn: give up after N exits within PERIOD (N/PERIOD, e.g. 10/5m)")
	f.DurationVar(&c.respStop, "respawn-stop-timeout", background.DefaultRespawnStopTimeout, "with --respawn: on a stop, how long the supervisor waits for CMD after passing the signal on, before SIGKILL")
	cmd.MarkFlagsMutuallyExclusive("notify", "ready-fd")
	for _, name := range []string{"notify", "ready-fd", "user", "group", "chdir", "umask", "output", "env", "rlimit", "nice", "no-new-privs", "ambient-caps", "respawn", "respawn-delay", "respawn-max-delay", "respawn-limit", "respawn-stop-timeout"} {
		f.SetAnnotation(name, backgroundOnly, nil)
	}
	for _, name := range respawnFlags {
		f.SetAnnotation(name, respawnOnly, nil)
	}
}

// respawnOnly annotates the flags that only apply with --respawn.
const respawnOnly = "daemonctl_respawn_only"

// respawnFlags are the flags that only apply with --respawn.
var respawnFlags = []string{"respawn-delay", "respawn-max-delay", "respawn-limit", "respawn-stop-timeout"}

// respawnOptions checks the --respawn flags and returns the supervision
// they ask for, or nil without --respawn.
func (c *cli) respawnOptions(flags *pflag.FlagSet) (*background.Respawn, error) {
	if !c.respawn {
		var misused []string
		flags.Visit(func(f *pflag.Flag) {
			if _, ok := f.Annotations[respawnOnly]; ok {
				misused = append(misused, "--"+f.Name)
			}
		})
		switch len(misused) {
		case 0:
		case 1:
			return nil, verbs.Usagef("%s only applies with --respawn", misused[0])
		default:
			return nil, verbs.Usagef("%s only apply with --respawn", strings.Join(misused, ", "))
		}
		return nil, nil
	}
	n, period, err := background.ParseRespawnLimit(c.respLimit)
	if err != nil {
		return nil, verbs.Usagef("--respawn-limit: %v", err)
	}
	switch {
	case c.respDelay <= 0:
		return nil, verbs.Usagef("--respawn-delay %v: must be positive", c.respDelay)
	case c.respMax < c.respDelay:
		return nil, verbs.Usagef("--respawn-max-delay %v is shorter than --respawn-delay %v", c.respMax, c.respDelay)
	case c.respStop <= 0:
		return nil, verbs.Usagef("--respawn-stop-timeout %v: must be positive", c.respStop)
	}
	return &background.Respawn{Delay: c.respDelay, MaxDelay: c.respMax, Limit: n, Period: period, StopTimeout: c.respStop}, nil
}

// backgroundOnly annotates the flags that only apply with --background.
const backgroundOnly = "daemonctl_background_only"

func (c *cli) stopFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVarP(&c.signal, "signal", "s", "", "the signal that stops the daemon (default TERM)")
	f.DurationVar(&c.killAfter, "kill-after", 0, "send SIGKILL if the daemon still runs this long after the signal")
}

// prepare checks the common flags, builds control.Options (with signal
// sig, if not empty) and applies --timeout, or def, to ctx. The caller must
// call the returned cancel function.
func (c *cli) prepare(ctx context.Context, sig string, def time.Duration) (control.Options, context.Context, context.CancelFunc, error) {
	o := control.Options{PIDFile: c.pidFile, GuardFile: c.guardFile, KillAfter: c.killAfter, Logger: c.logger()}
	switch {
	case c.pidFile == "":
		return o, nil, nil, verbs.Usagef("--pid-file is required")
	case namesDir(c.pidFile):
		return o, nil, nil, verbs.Usagef("--pid-file %s names a directory: give a file path such as %s", c.pidFile, filepath.Join(c.pidFile, "NAME.pid"))
	case c.guardFile != "" && namesDir(c.guardFile):
		return o, nil, nil, verbs.Usagef("--guard-file %s names a directory: give a file path such as %s", c.guardFile, filepath.Join(c.guardFile, "NAME.lock"))
	}
	if err := errors.Join(verbs.CheckDuration("kill-after", c.killAfter, true), verbs.CheckDuration("timeout", c.timeout, true)); err != nil {
		return o, nil, nil, err
	}
	if sig != "" {
		s, err := control.ParseSignal(sig)
		if err != nil {
			return o, nil, nil, &verbs.UsageError{Msg: err.Error()}
		}
		o.Signal = s
	}
	d := def
	if c.timeoutSet {
		d = c.timeout
	}
	if c.killAfter > 0 && d > 0 && c.killAfter >= d {
		fmt.Fprintf(c.stderr, "daemonctl: warning: --kill-after %v is not shorter than the time limit %v: the action gives up before SIGKILL would be sent; give a longer --timeout or a shorter --kill-after\n", c.killAfter, d)
	}
	if d == 0 {
		ctx, cancel := context.WithCancel(ctx)
		return o, ctx, cancel, nil
	}
	ctx, cancel := context.WithTimeout(ctx, d)
	return o, ctx, cancel, nil
}

// namesDir reports whether path can only name a directory: it ends in '/'
// (or is "." or "..", or ends in "/." or "/.."). Such a PID file would
// otherwise get a guard file named "dir/.lock". (A path that names an
// existing directory without saying so is refused when it is opened, as
// any PID file that is not a regular file is.)
func namesDir(path string) bool {
	return strings.HasSuffix(path, "/") || path == "." || path == ".." ||
		strings.HasSuffix(path, "/.") || strings.HasSuffix(path, "/..")
}

// starter builds the Starter for start and restart.
func (c *cli) starter(flags *pflag.FlagSet, args []string, timeout time.Duration) (control.Starter, error) {
	if !c.bg {
		var misused []string // in the flag set's (sorted) order
		flags.Visit(func(f *pflag.Flag) {
			if _, ok := f.Annotations[backgroundOnly]; ok {
				misused = append(misused, "--"+f.Name)
			}
		})
		switch len(misused) {
		case 0:
		case 1:
			return nil, verbs.Usagef("%s only applies with --background", misused[0])
		default:
			return nil, verbs.Usagef("%s only apply with --background", strings.Join(misused, ", "))
		}
		cs := control.Command(args[0], args[1:]...)
		cs.Stdout, cs.Stderr = c.stdout, c.stderr
		if _, ok := c.stderr.(*os.File); ok {
			// The command writes to our standard error itself, as with
			// ucw-daemon-control and start-stop-daemon, so its message
			// stands just above ours. Capturing it through a pipe would
			// leave a daemon that keeps standard error open writing into a
			// pipe nobody reads once we exit (SIGPIPE), and hold up the
			// start until the pipe's wait delay.
			cs.MessageLimit = 0
		}
		return cs, nil
	}
	o := background.Options{
		PIDFile: c.pidFile, Command: args[0], Args: args[1:],
		User: c.user, Group: c.group, Dir: c.chdir, Output: c.output, Env: c.env,
		ReadyTimeout: timeout, Logger: c.logger(),
	}
	if c.umask != "" {
		m, err := umask.Parse(c.umask)
		if err != nil {
			return nil, verbs.Usagef("--umask: %v", err)
		}
		o.Umask, o.UmaskSet = os.FileMode(m), true
	}
	switch {
	case c.notify:
		o.Readiness = background.ReadyNotify
	case c.readyFD != 0:
		if c.readyFD <= launch.PIDFileFD || c.readyFD > launch.MaxReadyFD {
			return nil, verbs.Usagef("--ready-fd %d: must be between %d and %d (0-2 are stdio, 3 is the PID file)",
				c.readyFD, launch.PIDFileFD+1, launch.MaxReadyFD)
		}
		o.Readiness, o.ReadyFD = background.ReadyFD, c.readyFD
	}
	for _, kv := range c.env {
		if k, _, ok := strings.Cut(kv, "="); !ok || k == "" {
			return nil, verbs.Usagef("--env %q: want KEY=VALUE", kv)
		}
	}
	if err := c.limits(flags, &o); err != nil {
		return nil, err
	}
	r, err := c.respawnOptions(flags)
	if err != nil {
		return nil, err
	}
	o.Respawn = r
	return background.Starter{Options: o}, nil
}

// limits checks --rlimit, --nice, --no-new-privs and --ambient-caps and
// sets them in o.
func (c *cli) limits(flags *pflag.FlagSet, o *background.Options) error {
	for _, s := range c.rlimits {
		if _, err := launch.ParseRlimit(s); err != nil {
			return verbs.Usagef("--rlimit: %v", err)
		}
	}
	for _, name := range c.caps {
		if _, err := launch.ParseCap(name); err != nil {
			return verbs.Usagef("--ambient-caps: %v", err)
		}
	}
	o.Rlimits, o.NoNewPrivs, o.AmbientCaps = c.rlimits, c.noNewPrivs, c.caps
	if flags.Changed("nice") {
		if err := launch.ParseNice(c.nice); err != nil {
			return verbs.Usagef("--nice: %v", err)
		}
		o.Nice = &c.nice
	}
	return nil
}

func (c *cli) start(ctx context.Context, flags *pflag.FlagSet, args []string, restart bool) error {
	sig, verb := "", "start"
	if restart {
		sig, verb = c.signal, "restart"
	}
	o, ctx, cancel, err := c.prepare(ctx, sig, verbs.DefaultTimeout(verb, 0, 0))
	if err != nil {
		return err
	}
	defer cancel()
	timeout := noLimit // the readiness wait is bounded by the whole action
	if dl, ok := ctx.Deadline(); ok {
		timeout = time.Until(dl)
	}
	s, err := c.starter(flags, args, timeout)
	if err != nil {
		return err
	}
	var res control.Result
	if restart {
		res, err = control.Restart(ctx, o, s)
	} else {
		res, err = control.Start(ctx, o, s)
	}
	c.rep.Started(res, err, restart)
	return nil
}

func (c *cli) stop(ctx context.Context) error {
	o, ctx, cancel, err := c.prepare(ctx, c.signal, verbs.DefaultTimeout("stop", 0, 0))
	if err != nil {
		return err
	}
	defer cancel()
	res, err := control.Stop(ctx, o)
	c.rep.Stopped(res, err)
	return nil
}

func (c *cli) sendSignal(ctx context.Context, sigName, done string) error {
	o, ctx, cancel, err := c.prepare(ctx, sigName, verbs.DefaultTimeout("signal", 0, 0))
	if err != nil {
		return err
	}
	defer cancel()
	res, err := control.Signal(ctx, o)
	c.rep.Signalled(res, err, control.SignalName(o.Signal), done)
	return nil
}

// upgradeCommand is `daemonctl upgrade`: a framework daemon's
// zero-downtime replacement by the binary now installed.
func (c *cli) upgradeCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "upgrade --pid-file F",
		Short: "Replace a running framework daemon by its new binary, without downtime",
		Long: `upgrade asks a daemonkit framework daemon to start the binary now at its
executable's path as its next generation, handing it its listeners, its named
files and its PID file's locked descriptor (the lock never lapses). Once the
new generation is ready, the PID file names it (and a service manager gets
MAINPID=), the old generation stops accepting, drains and exits; upgrade
prints both PIDs and exits 0.

If the new generation fails at any stage, it is killed, the old one keeps
serving, the PID file is unchanged, and upgrade exits 102 with the new
generation's own message. 101 if the daemon is not running; 102 if it is not
a framework daemon (it was sent nothing but SIGCHLD, which programs ignore).`,
		Example: `  daemonctl upgrade --pid-file /run/mysvc.pid`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			o, ctx, cancel, err := c.prepare(cmd.Context(), "", verbs.DefaultTimeout("upgrade", 0, 0))
			if err != nil {
				return err
			}
			defer cancel()
			res, err := control.Upgrade(ctx, o)
			c.rep.Upgraded(res, err)
			return nil
		},
	}
}

func (c *cli) reloadWait(ctx context.Context) error {
	o, ctx, cancel, err := c.prepare(ctx, "", verbs.DefaultTimeout("reload", 0, 0))
	if err != nil {
		return err
	}
	defer cancel()
	res, err := control.Reload(ctx, o)
	c.rep.Reloaded(res, err)
	return nil
}

func (c *cli) status(ctx context.Context) error {
	o, ctx, cancel, err := c.prepare(ctx, "", verbs.DefaultTimeout("status", 0, 0))
	if err != nil {
		return err
	}
	defer cancel()
	res, err := control.Check(ctx, o)
	guard := o.GuardFile
	if guard == "" {
		guard = lockfile.GuardPath(o.PIDFile)
	}
	sup := c.supervision(ctx, guard, res, err)
	var obj bytes.Buffer
	c.rep.Status(&obj, res, err, guard, c.jsonOutput)
	if c.jsonOutput {
		if werr := writeSupervisedJSON(c.stdout, obj.Bytes(), sup); werr != nil {
			c.rep.Fail(control.StatusFailed, "writing status: %v", werr)
		}
	} else if sup != nil && !c.quiet {
		fmt.Fprintf(c.stderr, "daemonctl: %s: %s\n", c.pidFile, describeSupervision(sup))
	}
	return nil
}

// logger logs control's and background's records on stderr: warnings by
// default, everything with --verbose, errors only with --quiet.
func (c *cli) logger() *slog.Logger {
	level := slog.LevelWarn
	switch {
	case c.verbose:
		level = slog.LevelDebug
	case c.quiet:
		level = slog.LevelError
	}
	return slog.New(newLineHandler(c.stderr, level))
}
