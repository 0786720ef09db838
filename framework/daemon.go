package framework

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"

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
	hooks lifecycle.Registry
	pre   []preHook
	flags *flag.FlagSet
	log   *slog.Logger

	mu     sync.Mutex
	files  map[string]*os.File // handed over by name, until taken
	checks []lifecycle.Hook    // health checks before each watchdog ping

	logToFile bool // stdout and stderr are the log file (daemon stage)
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
	d := &Daemon{cfg: cfg, files: make(map[string]*os.File)}
	d.flags = d.newFlagSet()
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
	d.hooks.Add(lifecycle.PostDetach, name, lifecycle.Func(fn))
}

// OnReady registers a hook that runs after all PostDetach hooks, just before
// the daemon reports READY.
func (d *Daemon) OnReady(name string, fn HookFunc) {
	d.hooks.Add(lifecycle.Ready, name, lifecycle.Func(fn))
}

// OnReload registers a hook that runs on SIGHUP, after the log file has been
// reopened.
func (d *Daemon) OnReload(name string, fn HookFunc) {
	d.hooks.Add(lifecycle.Reload, name, lifecycle.Func(fn))
}

// OnStop registers a hook that runs when the daemon stops, after the body
// returned. OnStop hooks run in reverse order of registration, all of them
// even if some fail, within [Config.StopTimeout].
func (d *Daemon) OnStop(name string, fn HookFunc) {
	d.hooks.Add(lifecycle.Stop, name, lifecycle.Func(fn))
}

// Logger returns the daemon's logger: it carries the service name, the
// stage (launcher, daemon or foreground) and the PID. Unless
// [Config.Logger] is set, it writes text lines to stderr, which is the log
// file in the daemon stage; when stderr goes to systemd's journal
// (JOURNAL_STREAM, or NOTIFY_SOCKET in the foreground) each line starts
// with its sd-daemon(3) priority, as [NewJournalHandler] writes them.
func (d *Daemon) Logger() *slog.Logger {
	if d.log == nil {
		return d.newLogger("launcher")
	}
	return d.log
}

func (d *Daemon) newLogger(stage string) *slog.Logger {
	base := d.cfg.Logger
	switch {
	case base != nil:
	case stderrIsJournal(stage):
		base = slog.New(NewJournalHandler(os.Stderr, nil))
	default:
		base = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return base.With("service", d.cfg.Name, "stage", stage, "pid", os.Getpid())
}

// ErrNoSuchFile: no file or listener was handed over under that name.
var ErrNoSuchFile = errors.New("no file handed over under that name")

// File returns, once, the file handed over under name by a PreDetach hook
// ([Handoff.PassFile]) or passed by systemd socket activation under that
// name (LISTEN_FDNAMES, the FileDescriptorName= of a .socket unit). The
// caller owns it.
func (d *Daemon) File(name string) (*os.File, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	f, ok := d.files[name]
	if !ok {
		return nil, fmt.Errorf("file %q: %w", name, ErrNoSuchFile)
	}
	delete(d.files, name)
	return f, nil
}

// Listener returns, once, the listener handed over under name by a
// PreDetach hook ([Handoff.PassListener]) or passed by systemd socket
// activation under that name, so that a service's code is the same whether
// the launcher or systemd provides its sockets. The caller owns it.
func (d *Daemon) Listener(name string) (net.Listener, error) {
	f, err := d.File(name)
	if err != nil {
		return nil, fmt.Errorf("listener %q: %w", name, ErrNoSuchFile)
	}
	defer f.Close()
	ln, err := net.FileListener(f)
	if err != nil {
		return nil, fmt.Errorf("listener %q: %w", name, err)
	}
	return ln, nil
}

func (d *Daemon) setFiles(files map[string]*os.File) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for name, f := range files {
		d.files[name] = f
	}
}

// Handoff carries files and listeners from PreDetach hooks to the daemon.
type Handoff struct {
	names map[string]bool
	files []namedFile
}

type namedFile struct {
	name string
	file *os.File
}

// ErrDuplicateName: a file or listener was already handed over under that
// name.
var ErrDuplicateName = errors.New("name already used for a handed-over file")

// PassFile hands f to the daemon under name; the daemon gets it back with
// [Daemon.File]. The launcher's f is closed once the daemon has started.
func (h *Handoff) PassFile(name string, f *os.File) error {
	if name == "" {
		return errors.New("handoff: empty name")
	}
	if h.names[name] {
		return fmt.Errorf("handoff %q: %w", name, ErrDuplicateName)
	}
	if h.names == nil {
		h.names = make(map[string]bool)
	}
	h.names[name] = true
	h.files = append(h.files, namedFile{name, f})
	return nil
}

// PassListener hands ln to the daemon under name; the daemon gets it back
// with [Daemon.Listener]. ln must be a *net.TCPListener or
// *net.UnixListener (anything with a File method). ln itself is closed; the
// socket stays open in the descriptor that is handed over.
func (h *Handoff) PassListener(name string, ln net.Listener) error {
	fl, ok := ln.(interface{ File() (*os.File, error) })
	if !ok {
		return fmt.Errorf("handoff %q: listener %T has no File method", name, ln)
	}
	f, err := fl.File()
	if err != nil {
		return fmt.Errorf("handoff %q: %w", name, err)
	}
	if err := h.PassFile(name, f); err != nil {
		f.Close()
		return err
	}
	if ul, ok := ln.(*net.UnixListener); ok {
		ul.SetUnlinkOnClose(false) // the daemon keeps using the path
	}
	ln.Close()
	return nil
}

// Has reports whether a file or listener is already handed over under
// name: by an earlier hook, or by systemd socket activation
// (LISTEN_FDNAMES). A hook that binds a socket checks it first, so that the
// same service runs with or without a systemd .socket unit:
//
//	if h.Has("http") {
//		return nil // systemd listens for us
//	}
//	ln, err := net.Listen("tcp", addr)
func (h *Handoff) Has(name string) bool { return h.names[name] }

func (h *Handoff) byName() map[string]*os.File {
	m := make(map[string]*os.File, len(h.files))
	for _, f := range h.files {
		m[f.name] = f.file
	}
	return m
}

func (h *Handoff) closeAll() {
	for _, f := range h.files {
		f.file.Close()
	}
}

// preDetachHooks adapts the PreDetach hooks for the lifecycle runner.
func (d *Daemon) preDetachHooks(h *Handoff) []lifecycle.Hook {
	hooks := make([]lifecycle.Hook, len(d.pre))
	for i, p := range d.pre {
		fn := p.fn
		hooks[i] = lifecycle.Hook{Name: p.name, Fn: func(ctx context.Context) error { return fn(ctx, h) }}
	}
	return hooks
}
