package framework

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/daemonkit/daemonkit/internal/ident"
	"github.com/daemonkit/daemonkit/internal/launch"
	"github.com/daemonkit/daemonkit/internal/readych"
	"github.com/daemonkit/daemonkit/internal/umask"

	"github.com/daemonkit/daemonkit/lifecycle"
	"github.com/daemonkit/daemonkit/reexec"
)

// launch is the launcher stage: lock, PreDetach, re-exec, wait for READY,
// write the PID (see internal/launch, which does the same for daemonctl
// start --background). On failure the PID file is left empty and unlocked
// and no daemon is left running.
func (d *Daemon) launch(ctx context.Context) error {
	d.log = d.newLogger("launcher")
	if d.cfg.PIDFile == "" {
		return ErrNoPIDFile
	}
	ctx, stop := interruptible(ctx)
	defer stop()
	spec, err := d.prepare()
	if spec.Output != nil {
		defer spec.Output.Close()
	}
	if err != nil {
		return err
	}
	if err := fault(faultBeforeLock); err != nil {
		return err
	}
	pf, err := launch.Lock(d.cfg.PIDFile)
	if err != nil {
		return err
	}
	defer pf.Close()
	spec.PIDFile = pf
	err = d.start(ctx, spec)
	var kept launch.Kept
	if err != nil && !errors.As(err, &kept) {
		d.sdNotify(statusLine("failed to start: " + err.Error()))
	}
	return err
}

// interruptible makes SIGINT, SIGTERM or SIGHUP to the launcher abandon the
// start. They are caught before the PID file is locked, so that none can
// kill the launcher between writing "(starting)" and clearing it.
func interruptible(ctx context.Context) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(ctx)
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	stopWatch := make(chan struct{})
	go func() {
		select {
		case sig := <-sigs:
			cancel(fmt.Errorf("launcher interrupted by %s", signalName(sig)))
		case <-stopWatch:
		}
	}()
	return ctx, func() {
		close(stopWatch)
		signal.Stop(sigs)
		cancel(nil)
	}
}

// prepare checks the configuration and opens the log file before anything
// is locked: the daemon stage's spec, less the PID file and what the ready
// channel and the PreDetach hooks add.
func (d *Daemon) prepare() (launch.Spec, error) {
	spec := launch.Spec{Path: "/proc/self/exe", Dir: d.cfg.Dir, Env: daemonEnv()}
	// The daemon runs in another directory: it must see the same files.
	if err := d.absolutePaths(); err != nil {
		return spec, err
	}
	spec.Dir, spec.Args = d.cfg.Dir, d.daemonArgs(os.Args)
	if err := launch.CheckDir("working directory (--chdir)", d.cfg.Dir); err != nil {
		return spec, err
	}
	var err error
	if spec.Umask, err = umask.Parse(d.cfg.Umask); err != nil {
		return spec, err
	}
	if spec.Identity, err = ident.Resolve(d.cfg.User, d.cfg.Group); err != nil || d.cfg.LogFile == "" {
		return spec, err
	}
	uid, gid := owner(spec.Identity.Cred)
	spec.Output, err = openLog(d.cfg.LogFile, uid, gid)
	return spec, err
}

// start runs under the locked PID file, which says "(starting)": the
// PreDetach hooks, then the daemon stage until its READY, its PID and the
// ACK.
func (d *Daemon) start(ctx context.Context, spec launch.Spec) error {
	if err := fault(faultAfterLock); err != nil {
		return launch.Clear(spec.PIDFile, err)
	}
	h := withActivation() // sockets systemd passed to the launcher go on to the daemon
	defer h.closeAll()
	d.sdNotify(statusLine("running pre-detach hooks"))
	// A failing hook is reported once, by the launcher's error.
	quiet := slog.New(dropHookFailed{d.log.Handler()})
	if err := (lifecycle.Runner{Logger: quiet}).Run(ctx, lifecycle.PreDetach, d.preDetachHooks(h)); err != nil {
		return launch.Clear(spec.PIDFile, err)
	}
	var names []string
	for _, f := range h.files {
		names = append(names, f.name)
	}
	ch, files, marker, err := readych.Open(spec.PIDFile, d.cfg.LogFile, names, false)
	if err != nil {
		return launch.Clear(spec.PIDFile, err)
	}
	defer ch.Close()
	for _, f := range h.files {
		files = append(files, f.file)
	}
	spec.Files = files
	spec.Env = launch.Environ(withoutMarker(spec.Env), spec.Identity, marker)
	_, err = launch.Run(ctx, spec, "daemon", &readiness{d: d, ch: ch, h: h})
	return err
}

// readiness is the framework's readiness strategy: the ready channel, with
// the fault-injection points and the systemd notifications of the launcher.
type readiness struct {
	d  *Daemon
	ch *readych.Channel
	h  *Handoff
}

func (r *readiness) Wait(ctx context.Context, p *launch.Proc) (int, error) {
	r.h.closeAll() // the daemon has them now
	r.d.sdNotify(statusLine("starting: waiting for the daemon (pid " + strconv.Itoa(p.PID()) + ") to be ready"))
	if err := fault(faultAfterSpawn); err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeoutCause(ctx, r.d.cfg.ReadyTimeout,
		fmt.Errorf("no READY within the ready timeout %v (raise --ready-timeout if it needs longer)", r.d.cfg.ReadyTimeout))
	defer cancel()
	pid, err := r.ch.Wait(ctx, p)
	if err != nil {
		return 0, err
	}
	return pid, fault(faultAfterReady)
}

func (r *readiness) Written(p *launch.Proc, pid int) error {
	if err := fault(faultAfterPID); err != nil {
		return launch.Kept{Err: err} // the daemon writes its own PID: it got no ACK
	}
	if supervised() {
		// Detaching under systemd (--detach): the daemon becomes the
		// main process before the service is ready, and before the ACK
		// lets the daemon send anything itself.
		r.d.sdNotify("MAINPID=" + strconv.Itoa(pid))
		r.d.sdNotify("READY=1\n" + statusLine("running (pid "+strconv.Itoa(pid)+")"))
	}
	return r.ch.Written(p, pid)
}

func (r *readiness) Failed(f *launch.Failure) { r.ch.Failed(f) }

// withoutMarker returns env without a daemon-stage marker the launcher may
// have inherited.
func withoutMarker(env []string) []string {
	out := make([]string, 0, len(env)+1)
	for _, kv := range env {
		if !strings.HasPrefix(kv, reexec.EnvVar+"=") {
			out = append(out, kv)
		}
	}
	return out
}

// daemonEnv is the daemon stage's environment: the launcher's, except that
// a watchdog meant for the launcher (WATCHDOG_PID is the launcher's PID)
// becomes the daemon's, which systemd watches once it is the main process.
// LISTEN_* were already unset when the launcher took the sockets.
func daemonEnv() []string {
	env := os.Environ()
	if os.Getenv("WATCHDOG_PID") != strconv.Itoa(os.Getpid()) {
		return env
	}
	out := env[:0:0]
	for _, kv := range env {
		if !strings.HasPrefix(kv, "WATCHDOG_PID=") {
			out = append(out, kv)
		}
	}
	return out
}

// ackTimeout bounds the daemon's wait for the launcher's acknowledgement.
const ackTimeout = 10 * time.Second

// runDaemon is the daemon stage.
func (d *Daemon) runDaemon(ctx context.Context, body Body) error {
	sigs, stopSignals := notifySignals()
	defer stopSignals()
	st, err := reexec.Adopt()
	if err != nil {
		return err
	}
	if err := fault(faultAdopted); err != nil {
		st.ClearUnlessUpgrade()
		st.Fail(err.Error())
		return err
	}
	d.log = d.newLogger("daemon")
	d.logToFile = true
	// The command line may have named them relative to the launcher's
	// directory; the launcher resolved them.
	d.cfg.PIDFile, d.cfg.LogFile = st.PIDFile.Path(), st.LogFile
	d.setFiles(st.Files)
	pf := st.PIDFile
	defer pf.Close()

	early, err := d.starting(ctx, sigs)
	if err != nil {
		st.ClearUnlessUpgrade()
		st.Fail(err.Error())
		st.Close()
		return err
	}
	ch := d.openChannel(pf) // before READY: a controller that sees the PID can reach it
	defer ch.close(errExiting)
	if err := fault(faultBeforeReady); err != nil {
		st.ClearUnlessUpgrade()
		st.Fail(err.Error())
		return err
	}
	if !st.Ready(ackTimeout) {
		d.log.Warn("launcher did not acknowledge READY; writing our own pid")
		if err := pf.WritePID(os.Getpid()); err != nil {
			d.log.Error("writing our pid", "err", err)
		}
	}
	if err := fault(faultAfterAck); err != nil {
		pf.Clear() // it names this daemon now
		return err
	}
	// Under systemd (--detach), the launcher sent READY=1 for us; reloads,
	// stop and watchdog pings are ours to report.
	return d.serve(ctx, body, sigs, early, pf, ch, d.sdNotify)
}

// dropHookFailed drops the runner's "hook failed" records: the launcher
// reports the failure itself, once.
type dropHookFailed struct{ slog.Handler }

func (h dropHookFailed) Handle(ctx context.Context, r slog.Record) error {
	if r.Level == slog.LevelError && r.Message == "hook failed" {
		return nil
	}
	return h.Handler.Handle(ctx, r)
}

func (h dropHookFailed) WithAttrs(as []slog.Attr) slog.Handler {
	return dropHookFailed{h.Handler.WithAttrs(as)}
}

func (h dropHookFailed) WithGroup(name string) slog.Handler {
	return dropHookFailed{h.Handler.WithGroup(name)}
}
