package framework

import (
	"context"
	"fmt"
	"os"
	"strconv"

	"github.com/coreos/go-systemd/v22/daemon"
	"github.com/daemonkit/daemonkit/lifecycle"
	"github.com/daemonkit/daemonkit/lockfile"
)

// runForeground runs every stage in this process: no detach, no re-exec.
// Readiness, reloads and stop are reported to systemd when NOTIFY_SOCKET is
// set.
func (d *Daemon) runForeground(ctx context.Context, body Body) error {
	d.log = d.newLogger("foreground")
	sigs, stopSignals := notifySignals()
	defer stopSignals()
	notify := func(state string) {
		if _, err := daemon.SdNotify(false, state); err != nil {
			d.log.Warn("sd_notify failed", "state", state, "err", err)
		}
	}
	var pf *lockfile.File
	if d.cfg.PIDFile != "" {
		var err error
		if pf, err = lockfile.Acquire(d.cfg.PIDFile); err != nil {
			return err
		}
		defer pf.Close()
		if err := pf.WriteStarting(); err != nil {
			return err
		}
	}
	fail := func(err error) error {
		if pf != nil {
			pf.Clear()
		}
		notify("STATUS=failed to start: " + err.Error())
		return err
	}
	umask, err := parseUmask(d.cfg.Umask)
	if err != nil {
		return fail(err)
	}
	notify("STATUS=running pre-detach hooks")
	h := &Handoff{}
	if err := (lifecycle.Runner{Logger: d.log}).Run(ctx, lifecycle.PreDetach, d.preDetachHooks(h)); err != nil {
		h.closeAll()
		return fail(err)
	}
	d.setFiles(h.byName())
	if err := d.becomeForeground(umask); err != nil {
		return fail(err)
	}
	notify("STATUS=starting")
	stopNow, err := d.starting(ctx, sigs)
	if err != nil {
		return fail(err)
	}
	if pf != nil {
		if err := pf.WritePID(os.Getpid()); err != nil {
			return fail(err)
		}
	}
	notify("READY=1\nSTATUS=running\nMAINPID=" + strconv.Itoa(os.Getpid()))
	err = d.serve(ctx, body, sigs, stopNow, pf, notify)
	if err != nil {
		notify(fmt.Sprintf("STATUS=stopped with error: %v", err))
	}
	return err
}
