package framework

import (
	"context"
	"os"
	"strconv"

	"github.com/daemonkit/daemonkit/internal/umask"

	"github.com/daemonkit/daemonkit/internal/pidlock"
	"github.com/daemonkit/daemonkit/lifecycle"
)

// runForeground runs every stage in this process: no detach, no re-exec.
// Sockets passed by systemd are handed to the hooks by name; readiness,
// reloads, stop and the watchdog are reported to systemd when NOTIFY_SOCKET
// is set.
func (d *Daemon) runForeground(ctx context.Context, body Body) error {
	d.log = d.newLogger("foreground")
	h := withActivation() // before anything else, so no child inherits them
	sigs, stopSignals := notifySignals()
	defer stopSignals()
	notify := d.sdNotify
	if err := d.absolutePaths(); err != nil {
		h.closeAll()
		return err
	}
	var pf *pidlock.File
	if d.cfg.PIDFile != "" {
		var err error
		if pf, err = pidlock.Acquire(d.cfg.PIDFile); err != nil {
			h.closeAll()
			notify(statusLine("failed to start: " + err.Error()))
			return err
		}
		defer pf.Close()
		if err := pf.WriteStarting(); err != nil {
			h.closeAll()
			return err
		}
	}
	fail := func(err error) error {
		if pf != nil {
			pf.Clear()
		}
		notify(statusLine("failed to start: " + err.Error()))
		return err
	}
	umask, err := umask.Parse(d.cfg.Umask)
	if err != nil {
		h.closeAll()
		return fail(err)
	}
	if names := h.byName(); len(names) > 0 {
		d.log.Debug("sockets passed by systemd", "names", len(names))
	}
	notify(statusLine("running pre-detach hooks"))
	if err := (lifecycle.Runner{Logger: d.log}).Run(ctx, lifecycle.PreDetach, d.preDetachHooks(h)); err != nil {
		h.closeAll()
		return fail(err)
	}
	d.setFiles(h.byName())
	// Like the launcher, the foreground reports its own failures until
	// here on the terminal; from here on, as a daemon, to the log file.
	if err := d.redirectToLog(); err != nil {
		return fail(err)
	}
	d.setStage("foreground") // stderr may be the log file now, not the journal
	if err := d.becomeForeground(umask); err != nil {
		return fail(err)
	}
	notify(statusLine("starting: running post-detach and ready hooks"))
	early, err := d.starting(ctx, sigs)
	if err != nil {
		return fail(err)
	}
	ch := d.openChannel(pf) // before the PID is written: a controller that sees it can reach it
	defer ch.close(errExiting)
	if pf != nil {
		if err := pf.WritePID(os.Getpid()); err != nil {
			return fail(err)
		}
	}
	notify("READY=1\n" + statusLine("running") + "\nMAINPID=" + strconv.Itoa(d.mainPID()))
	err = d.serve(ctx, body, sigs, early, pf, ch, notify)
	if err != nil {
		notify(statusLine("stopped with error: " + err.Error()))
	}
	return err
}
