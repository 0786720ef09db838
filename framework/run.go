package framework

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/daemonkit/daemonkit/control"
	"github.com/daemonkit/daemonkit/internal/ctlsock"
	"github.com/daemonkit/daemonkit/internal/exitrec"
	"github.com/daemonkit/daemonkit/internal/panics"

	"github.com/coreos/go-systemd/v22/daemon"

	"github.com/daemonkit/daemonkit/internal/pidlock"
	"github.com/daemonkit/daemonkit/lifecycle"
	"github.com/daemonkit/daemonkit/reexec"
)

// ErrNoPIDFile: detaching needs a PID file.
var ErrNoPIDFile = errors.New("no PID file configured: give --pid-file or Config.PIDFile")

// Run runs the daemon in the stage this process is in:
//
//   - the daemon stage, if this process was started by a launcher
//     ([reexec.Marked]); Run returns when the daemon has stopped;
//   - the foreground, if [Config.Foreground] is set, or NOTIFY_SOCKET is in
//     the environment and [Config.Detach] is not set; Run returns when the
//     daemon has stopped; with [Config.Reaper], or as PID 1, this process
//     is the reaping first stage and the service runs in a second
//     (a [*ServiceExitError] carries its exit status);
//   - otherwise the launcher: Run returns nil once the daemon is ready and
//     its PID written, or the reason it did not start (errors.Is
//     [lockfile.ErrLocked] when it is already running).
//
// [Main] calls Run for the start, restart and run verbs.
func (d *Daemon) Run(ctx context.Context, body Body) error {
	d.cfg = d.cfg.withDefaults()
	switch {
	case reexec.Marked():
		return d.runDaemon(ctx, body)
	case d.foreground():
		return d.runReaped(ctx, body) // the reaper's first stage, or runForeground
	case d.cfg.Reaper:
		return errReaperDetached()
	}
	return d.launch(ctx)
}

func isStop(sig os.Signal) bool { return sig == syscall.SIGTERM || sig == syscall.SIGINT }

// errStopSignal is the cause of a cancellation by SIGTERM or SIGINT.
type errStopSignal struct{ sig os.Signal }

func (e errStopSignal) Error() string { return "stopped by " + signalName(e.sig) }

func signalName(sig os.Signal) string {
	if s, ok := sig.(syscall.Signal); ok {
		return control.SignalName(s)
	}
	return sig.String()
}

// started says what happened to signals while the start stages ran.
type started struct {
	stop   bool // a stop signal came: stop as soon as ready
	reload bool // SIGHUP came: reload once ready
}

// starting runs the start stages (PostDetach, then OnReady), bounded by the
// ready timeout, while watching for signals: a stop signal cancels the
// hooks' context; a SIGHUP is remembered and replayed once the daemon is
// ready. It returns the hooks' error.
func (d *Daemon) starting(ctx context.Context, sigs *signals) (started, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	ctx, cancelTimeout := context.WithTimeoutCause(ctx, d.cfg.ReadyTimeout,
		fmt.Errorf("not ready within the ready timeout %v (raise --ready-timeout if it needs longer)", d.cfg.ReadyTimeout))
	defer cancelTimeout()
	result := make(chan started)
	quit := make(chan struct{})
	go func() {
		var st started
		for {
			select {
			case sig := <-sigs.c:
				if isStop(sig) {
					st.stop = true
					cancel(errStopSignal{sig})
				} else {
					st.reload = true
					d.log.Info("SIGHUP while starting: reloading once ready")
				}
			case <-quit:
				result <- st
				return
			}
		}
	}()
	runner := lifecycle.Runner{Logger: d.log}
	err := runner.Run(ctx, lifecycle.PostDetach, d.hooks[lifecycle.PostDetach])
	if err == nil {
		err = runner.Run(ctx, lifecycle.Ready, d.hooks[lifecycle.Ready])
	}
	if err == nil && ctx.Err() != nil {
		// Every hook returned, but the ready timeout or a stop came first:
		// do not report READY late.
		err = fmt.Errorf("start abandoned: %w", context.Cause(ctx))
	}
	close(quit)
	return <-result, err
}

// serve runs the body until a stop signal or its return, handles reloads,
// then runs the OnStop hooks and clears the PID file. notify reports state
// changes to a supervisor (systemd); it may be nil.
//
// This goroutine owns the daemon's state: signals, the body's return and
// the end of a reload all come to it. A reload runs in a goroutine of its
// own, so that a stop is never held up by a slow OnReload hook; SIGHUPs
// during a reload are coalesced into one more reload after it.
func (d *Daemon) serve(ctx context.Context, body Body, sigs *signals, st started, pf *pidlock.File, ch *channel, notify func(string)) error {
	s := &serving{d: d, ch: ch, pf: pf, since: time.Now()}
	// Once a next generation took over, it is the service manager's main
	// process: this one must tell the manager nothing more (STOPPING=1
	// from it would stop the service).
	s.notify = func(m string) {
		if notify != nil && s.upgradedTo.Load() == 0 {
			notify(m)
		}
	}
	bodyCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	s.bodyCtx, s.cancel = bodyCtx, cancel
	if supervised() {
		s.wd = d.startWatchdog(s.notify)
		defer s.wd.stop()
	}
	bodyDone := d.startBody(bodyCtx, body)
	d.log.Info("running")
	if st.stop {
		s.startStop(errors.New("stop requested while starting"))
		ch.answer() // the controller that sent it may wait for the verdict
	} else if st.reload {
		s.startReload()
	}
	bodyErr := s.loop(ctx, sigs, bodyDone)
	ch.endLoop()
	if s.upgradedTo.Load() != 0 {
		pf = nil // the PID file is the next generation's now: not ours to clear
	}
	err := d.finish(bodyErr, pf)
	ch.close(err)
	return err
}

// startBody runs body in a goroutine of its own and returns the channel
// that receives its result; a panic is logged and received as a
// [*lifecycle.PanicError].
func (d *Daemon) startBody(ctx context.Context, body Body) <-chan error {
	bodyDone := make(chan error, 1)
	go func() {
		defer func() {
			if v := recover(); v != nil {
				pe := &lifecycle.PanicError{Value: v, Stack: debug.Stack()}
				panics.Log(d.log, "body panicked", v, pe.Stack)
				bodyDone <- pe
			}
		}()
		bodyDone <- body(ctx)
	}()
	return bodyDone
}

// serving is the state [Daemon.serve] owns while the body runs.
type serving struct {
	d             *Daemon
	bodyCtx       context.Context
	cancel        context.CancelCauseFunc
	wd            *watchdog // nil unless supervised
	notify        func(string)
	stopTimer     *time.Timer // set once stopping
	stopDeadline  <-chan time.Time
	reloading     chan struct{} // closed when the reload in progress ends; nil if none
	reloadErr     error         // the result of the reload in progress, once reloading is closed
	reloadPending bool
	ch            *channel      // control channel
	since         time.Time     // when the body started
	thisReload    []ctlRequest  // requests answered when the reload in progress ends
	nextReload    []ctlRequest  // requests answered when the next reload ends
	pf            *pidlock.File // nil in the foreground without a PID file
	upgrading     chan upgraded // receives the upgrade's outcome; nil if none runs
	upgradeReq    ctlRequest    // the request of the upgrade in progress
	upgradedTo    atomic.Int64  // the next generation's PID, once it took over (read by notify)
}

// startStop begins stopping (once): the body's context is cancelled with
// cause, and the stop timeout starts.
func (s *serving) startStop(cause error) {
	if s.stopTimer != nil {
		return
	}
	s.wd.setStopping()
	s.notify("STOPPING=1\n" + statusLine("stopping: "+cause.Error()))
	s.d.log.Info("stopping", "cause", cause.Error())
	s.cancel(cause) // also cancels a reload in progress
	if s.upgrading == nil {
		// No upgrade from here on: a listener the service closes must
		// refuse connections (with an upgrade running, its copies are
		// dropped once it ended, at the end of the loop).
		s.d.dropKept()
	}
	s.stopTimer = time.NewTimer(s.d.cfg.StopTimeout)
	s.stopDeadline = s.stopTimer.C
}

// startReload starts a reload, or marks one pending if one is running.
func (s *serving) startReload() {
	if s.reloading != nil {
		s.reloadPending = true
		return
	}
	s.reloadPending = false
	s.thisReload, s.nextReload = s.nextReload, nil
	done := make(chan struct{})
	s.reloading = done
	go func() {
		defer close(done)
		s.reloadErr = s.d.reload(s.bodyCtx, s.notify)
	}()
}

// loop handles signals, reloads and ctx until the body returns or
// overruns the stop timeout, and returns the body's error. When it
// returns, stopping has begun and no reload runs.
func (s *serving) loop(ctx context.Context, sigs *signals, bodyDone <-chan error) error {
	var bodyErr error
	ctxDone := ctx.Done()
loop:
	for {
		select {
		case bodyErr = <-bodyDone:
			break loop
		case sig := <-sigs.c:
			if isStop(sig) {
				s.startStop(errStopSignal{sig})
				s.ch.answer() // a controller may wait for the verdict
			} else if s.stopTimer == nil {
				s.startReload()
			}
		case <-sigs.poke:
			s.ch.answer()
		case r := <-s.ch.reqs:
			s.request(r)
		case u := <-s.upgrading:
			s.upgradeDone(u)
		case <-s.reloading:
			s.reloading = nil
			s.reloaded()
			if s.reloadPending && s.stopTimer == nil {
				s.startReload()
			}
		case <-ctxDone:
			ctxDone = nil
			s.startStop(context.Cause(ctx))
		case <-s.stopDeadline:
			bodyErr = fmt.Errorf("body did not return within the stop timeout %v", s.d.cfg.StopTimeout)
			break loop
		}
	}
	if s.stopTimer == nil { // the body returned on its own
		s.startStop(errors.New("body returned"))
	}
	s.stopTimer.Stop()
	if s.upgrading != nil {
		s.upgradeDone(<-s.upgrading) // cancelled with the body: it kills the new generation
	}
	s.d.dropKept() // no upgrade from here on
	if s.reloading != nil {
		<-s.reloading // cancelled with the body; the hook runner bounds it
		s.reloaded()
	}
	s.abandonReloads()
	return bodyErr
}

// finish runs the OnStop hooks after the body and clears the PID file
// (pf may be nil). It returns the body's error joined with theirs.
func (d *Daemon) finish(bodyErr error, pf *pidlock.File) error {
	if bodyErr != nil {
		d.log.Error("body failed", "err", bodyErr)
	}
	// The OnStop hooks get a StopTimeout of their own, so that a body that
	// overran its time does not leave them none.
	stopCtx, stopCancel := context.WithTimeout(context.Background(), d.cfg.StopTimeout)
	defer stopCancel()
	stopErr := lifecycle.Runner{Logger: d.log}.RunReverse(stopCtx, lifecycle.Stop, d.hooks[lifecycle.Stop])
	if stopErr != nil {
		d.log.Error("stop hooks failed", "err", stopErr)
	}
	if err := fault(faultBeforeClear); err != nil {
		stopErr = errors.Join(stopErr, err)
	}
	err := errors.Join(bodyErr, stopErr)
	if err != nil {
		d.keepRecord(pf, err)
		return err
	}
	if pf != nil {
		if err := pf.Clear(); err != nil {
			d.log.Error("clearing the pid file", "err", err)
			return err
		}
	}
	d.log.Info("stopped")
	return nil
}

// keepRecord leaves the PID file of a daemon that ends with err as libucw
// leaves a crashed daemon's (naming it: stale once the lock is released),
// and records why it ended next to it, for status.
func (d *Daemon) keepRecord(pf *pidlock.File, err error) {
	if pf == nil {
		return
	}
	rec := exitrec.Record{PID: os.Getpid(), Time: time.Now(), Status: 1, Error: err.Error()}
	if werr := exitrec.Write(pf.Path(), rec); werr != nil {
		d.log.Warn("cannot record why the daemon ended", "err", werr)
	}
	d.log.Error("exiting with an error; the pid file is left naming this process, so that it shows stale", "pid_file", pf.Path(), "err", err)
}

// reload reopens the log file and runs the OnReload hooks, between
// RELOADING=1 (with MONOTONIC_USEC, as systemd's Type=notify-reload wants)
// and READY=1. A failed reload is logged and shown in STATUS=; the daemon
// keeps running. It returns the hooks' error, for the requester's verdict.
func (d *Daemon) reload(parent context.Context, notify func(string)) error {
	ctx, cancel := context.WithTimeoutCause(parent, d.cfg.ReloadTimeout,
		fmt.Errorf("reload not done within the reload timeout %v", d.cfg.ReloadTimeout))
	defer cancel()
	notify("RELOADING=1\nSTATUS=reloading\n" + daemon.SdNotifyMonotonicUsec())
	if err := d.reopenLog(); err != nil {
		d.log.Error("reopening the log file", "path", d.cfg.LogFile, "err", err)
	}
	d.log.Info("reloading")
	status := "running"
	err := (lifecycle.Runner{Logger: d.log}).Run(ctx, lifecycle.Reload, d.hooks[lifecycle.Reload])
	if err != nil {
		d.log.Error("reload failed", "err", err)
		status = "running; the last reload failed: " + err.Error()
	}
	if parent.Err() != nil {
		return err // a stop cut the reload short: STOPPING=1 was sent, not READY
	}
	notify("READY=1\n" + statusLine(status))
	return err
}

// signals are the signals the daemon handles, registered before any hook
// runs, so that none is lost or kills the process by default.
type signals struct {
	c    chan os.Signal // SIGTERM, SIGINT (stop) and SIGHUP (reload)
	poke chan os.Signal // ctlsock.Poke: a controller waits for this daemon
}

// notifySignals registers the daemon's signals. Pokes have a channel of
// their own, of one: a program that runs many children gets a SIGCHLD for
// each, and those must never crowd out a stop signal; one poke pending
// is enough, since it is taken after the others arrived.
func notifySignals() (*signals, func()) {
	s := &signals{c: make(chan os.Signal, 8), poke: make(chan os.Signal, 1)}
	signal.Notify(s.c, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	signal.Notify(s.poke, ctlsock.Poke)
	return s, func() { signal.Stop(s.c); signal.Stop(s.poke) }
}
