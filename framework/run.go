package framework

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/coreos/go-systemd/v22/daemon"
	"github.com/daemonkit/daemonkit/lifecycle"
	"github.com/daemonkit/daemonkit/lockfile"
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
//     daemon has stopped;
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
		return d.runForeground(ctx, body)
	}
	return d.launch(ctx)
}

// stopSignals cancel the body; reloadSignals run OnReload hooks.
var (
	stopSignals   = []os.Signal{syscall.SIGTERM, syscall.SIGINT}
	reloadSignals = []os.Signal{syscall.SIGHUP}
)

func isStop(sig os.Signal) bool { return sig == syscall.SIGTERM || sig == syscall.SIGINT }

// errStopSignal is the cause of a cancellation by SIGTERM or SIGINT.
type errStopSignal struct{ sig os.Signal }

func (e errStopSignal) Error() string { return "stopped by " + signalName(e.sig) }

func signalName(sig os.Signal) string {
	if s, ok := sig.(syscall.Signal); ok {
		switch s {
		case syscall.SIGTERM:
			return "SIGTERM"
		case syscall.SIGINT:
			return "SIGINT"
		case syscall.SIGHUP:
			return "SIGHUP"
		}
	}
	return sig.String()
}

// starting runs the start stages (PostDetach, then OnReady) while watching
// for stop signals: one cancels the hooks' context. It returns the hooks'
// error, and whether a stop was requested while they ran.
func (d *Daemon) starting(ctx context.Context, sigs <-chan os.Signal) (stopRequested bool, err error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	watcherDone := make(chan bool)
	quit := make(chan struct{})
	go func() {
		stop := false
		for {
			select {
			case sig := <-sigs:
				if isStop(sig) {
					stop = true
					cancel(errStopSignal{sig})
				}
			case <-quit:
				watcherDone <- stop
				return
			}
		}
	}()
	runner := lifecycle.Runner{Logger: d.log}
	err = runner.Run(ctx, lifecycle.PostDetach, d.hooks.Hooks(lifecycle.PostDetach))
	if err == nil {
		err = runner.Run(ctx, lifecycle.Ready, d.hooks.Hooks(lifecycle.Ready))
	}
	close(quit)
	return <-watcherDone, err
}

// serve runs the body until a stop signal or its return, handles reloads,
// then runs the OnStop hooks and clears the PID file. notify reports state
// changes to a supervisor (systemd); it may be nil.
func (d *Daemon) serve(ctx context.Context, body Body, sigs <-chan os.Signal, stopNow bool, pf *lockfile.File, notify func(string)) error {
	if notify == nil {
		notify = func(string) {}
	}
	bodyCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wd *watchdog
	if supervised() {
		wd = d.startWatchdog(notify)
		defer wd.stop()
	}
	bodyDone := make(chan error, 1)
	go func() {
		defer func() {
			if v := recover(); v != nil {
				pe := &lifecycle.PanicError{Value: v}
				d.log.Error("body panicked", "panic", fmt.Sprint(v))
				bodyDone <- pe
			}
		}()
		bodyDone <- body(bodyCtx)
	}()
	d.log.Info("running")
	var bodyErr error
	var stopDeadline <-chan struct{}
	var stopCtx context.Context = context.Background()
	stopCancel := context.CancelFunc(func() {})
	defer func() { stopCancel() }()
	startStop := func(cause error) {
		if stopDeadline != nil {
			return
		}
		wd.setStopping()
		notify("STOPPING=1\n" + statusLine("stopping: "+cause.Error()))
		d.log.Info("stopping", "cause", cause.Error())
		cancel(cause)
		stopCtx, stopCancel = context.WithTimeout(context.Background(), d.cfg.StopTimeout)
		stopDeadline = stopCtx.Done()
	}
	if stopNow {
		startStop(errors.New("stop requested while starting"))
	}
	ctxDone := ctx.Done()
loop:
	for {
		select {
		case bodyErr = <-bodyDone:
			break loop
		case sig := <-sigs:
			if isStop(sig) {
				startStop(errStopSignal{sig})
				continue
			}
			if stopDeadline == nil {
				d.reload(bodyCtx, notify)
			}
		case <-ctxDone:
			ctxDone = nil
			startStop(context.Cause(ctx))
		case <-stopDeadline:
			bodyErr = fmt.Errorf("body did not return within the stop timeout %v", d.cfg.StopTimeout)
			break loop
		}
	}
	if stopDeadline == nil { // the body returned on its own
		startStop(errors.New("body returned"))
	}
	if bodyErr != nil {
		d.log.Error("body failed", "err", bodyErr)
	}
	stopErr := lifecycle.Runner{Logger: d.log}.RunReverse(stopCtx, lifecycle.Stop, d.hooks.Hooks(lifecycle.Stop))
	if stopErr != nil {
		d.log.Error("stop hooks failed", "err", stopErr)
	}
	if err := fault(faultBeforeClear); err != nil {
		stopErr = errors.Join(stopErr, err)
	}
	if pf != nil {
		if err := pf.Clear(); err != nil {
			d.log.Error("clearing the pid file", "err", err)
			stopErr = errors.Join(stopErr, err)
		}
	}
	err := errors.Join(bodyErr, stopErr)
	if err == nil {
		d.log.Info("stopped")
	}
	return err
}

// reload reopens the log file and runs the OnReload hooks, between
// RELOADING=1 (with MONOTONIC_USEC, as systemd's Type=notify-reload wants)
// and READY=1. A failed reload is logged and shown in STATUS=; the daemon
// keeps running.
func (d *Daemon) reload(ctx context.Context, notify func(string)) {
	notify("RELOADING=1\nSTATUS=reloading\n" + daemon.SdNotifyMonotonicUsec())
	if err := d.reopenLog(); err != nil {
		d.log.Error("reopening the log file", "path", d.cfg.LogFile, "err", err)
	}
	d.log.Info("reloading")
	status := "running"
	if err := (lifecycle.Runner{Logger: d.log}).Run(ctx, lifecycle.Reload, d.hooks.Hooks(lifecycle.Reload)); err != nil {
		d.log.Error("reload failed", "err", err)
		status = "running; the last reload failed: " + err.Error()
	}
	notify("READY=1\n" + statusLine(status))
}

// notifySignals registers for the stop and reload signals before any hook
// runs, so that none is lost or kills the process by default.
func notifySignals() (chan os.Signal, func()) {
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, append(stopSignals, reloadSignals...)...)
	return sigs, func() { signal.Stop(sigs) }
}
