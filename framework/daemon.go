package framework

import (
	"context"
	"flag"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

	"github.com/daemonkit/daemonkit/lifecycle"
)

// Body is the service itself. It runs once the daemon is ready and should
// return soon after ctx is done (SIGTERM or SIGINT).
type Body func(ctx context.Context) error

// PreDetachFunc is a hook that runs in the launcher, before the daemon
// stage exists. It can hand files and listeners to the daemon through h.
type PreDetachFunc func(ctx context.Context, h *Handoff) error

// HookFunc is a hook that runs in the daemon.
type HookFunc func(ctx context.Context) error

// Daemon is a service run by the framework. Register hooks before calling
// [Daemon.Run] or [Main]; a Daemon runs once.
type Daemon struct {
	cfg   Config
	hooks map[lifecycle.Stage][]lifecycle.Hook
	pre   []preHook
	flags *flag.FlagSet
	log   *slog.Logger // resolves the stage as each record is logged
	stage atomic.Pointer[stageLog]

	notifyFailed atomic.Bool // an sd_notify failure was already warned about

	mu     sync.Mutex
	files  map[string]*os.File // handed over by name, until taken
	taken  map[string]bool     // names already given out by File or Listener
	given  map[string]*os.File // copies of those given out, for an upgrade
	checks []lifecycle.Hook    // health checks before each watchdog ping

	logToFile bool // stdout and stderr are the log file (daemon stage)
	reaping   bool // this is a reaping first stage: Main passes on the service's status
	reaper    int  // the reaping first stage's PID, in the service stage under one
	fv        flagValues
}

type preHook struct {
	name string
	fn   PreDetachFunc
}

// New returns a Daemon configured by cfg. Zero fields take the defaults
// documented on [Config].
func New(cfg Config) *Daemon {
	if cfg.Name == "" {
		cfg.Name = filepath.Base(os.Args[0])
	}
	d := &Daemon{cfg: cfg, files: make(map[string]*os.File), taken: make(map[string]bool),
		hooks: make(map[lifecycle.Stage][]lifecycle.Hook)}
	d.flags = d.newFlagSet()
	d.log = slog.New(&stageHandler{d: d})
	d.setStage(initialStage())
	return d
}

// Config returns the configuration in effect: the one given to [New], with
// command-line overrides once [Main] has parsed them.
func (d *Daemon) Config() Config { return d.cfg }

// PreDetach registers a hook that runs in the launcher, as the invoking user
// and still attached to the terminal, after the PID file is locked and
// before the daemon stage is started. In the foreground it runs first.
func (d *Daemon) PreDetach(name string, fn PreDetachFunc) {
	d.pre = append(d.pre, preHook{name, fn})
}

// PostDetach registers a hook that runs in the daemon before it is ready.
func (d *Daemon) PostDetach(name string, fn HookFunc) {
	d.addHook(lifecycle.PostDetach, name, fn)
}

// OnReady registers a hook that runs after all PostDetach hooks, just before
// the daemon reports READY.
func (d *Daemon) OnReady(name string, fn HookFunc) {
	d.addHook(lifecycle.Ready, name, fn)
}

// OnReload registers a hook that runs on SIGHUP, after the log file has been
// reopened.
func (d *Daemon) OnReload(name string, fn HookFunc) {
	d.addHook(lifecycle.Reload, name, fn)
}

// OnStop registers a hook that runs when the daemon stops, after the body
// returned. OnStop hooks run in reverse order of registration, all of them
// even if some fail, within [Config.StopTimeout].
func (d *Daemon) OnStop(name string, fn HookFunc) {
	d.addHook(lifecycle.Stop, name, fn)
}

func (d *Daemon) addHook(stage lifecycle.Stage, name string, fn HookFunc) {
	d.hooks[stage] = append(d.hooks[stage], lifecycle.Hook{Name: name, Fn: fn})
}

// Logger returns the daemon's logger: it carries the service name, the
// stage and the PID. The stage is the one each record is logged from
// (launcher, daemon or foreground), whenever the logger was taken: a
// logger taken at the top of main labels lines from PreDetach hooks
// "launcher" and those from the daemon's hooks and body "daemon". Unless
// [Config.Logger] is set, it writes text lines to stderr, which is the log
// file in the daemon stage; when stderr is systemd's journal
// (JOURNAL_STREAM names stderr's device and inode) each line starts with
// its sd-daemon(3) priority and carries no time, as [NewJournalHandler]
// writes them.
func (d *Daemon) Logger() *slog.Logger { return d.log }
