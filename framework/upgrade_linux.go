package framework

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/daemonkit/daemonkit/internal/launch"
	"github.com/daemonkit/daemonkit/internal/pidlock"
	"github.com/daemonkit/daemonkit/internal/readych"
	"github.com/daemonkit/daemonkit/internal/umask"
)

// nextGeneration starts the binary now at this daemon's executable path as
// its next generation, with the launch core ([launch.Run]) a launcher
// uses: detached, in a session of its own, with this daemon's user,
// directory, umask and stderr (the log file, or a service manager's
// journal), the same open PID file description (its lock
// never lapses), the files and listeners this daemon was handed (by name,
// for [Daemon.File] and [Daemon.Listener]), and a ready channel. It waits
// for the new generation's READY within the ready timeout, writes its PID
// into the PID file and, under a service manager, sends MAINPID= then
// READY=1. On failure the new generation is killed with its process group,
// the PID file is left naming this daemon, and the error is the new
// generation's own report.
func (d *Daemon) nextGeneration(ctx context.Context, pf *pidlock.File) (int, error) {
	exe, err := executable()
	if err != nil {
		return 0, err
	}
	mask, err := umask.Parse(d.cfg.Umask)
	if err != nil {
		return 0, err
	}
	files := d.handedOn()
	names := slices.Sorted(func(yield func(string) bool) {
		for n := range files {
			if !yield(n) {
				return
			}
		}
	})
	ch, chFiles, marker, err := readych.Open(pf, d.cfg.LogFile, names, true)
	if err != nil {
		return 0, err
	}
	defer ch.Close()
	// The daemon's own command line as a start's (a foreground daemon's
	// says run), in the environment it got, less what marked its stage.
	spec := launch.Spec{Path: exe, Args: d.daemonArgs(os.Args), Dir: d.cfg.Dir, Umask: mask, PIDFile: pf, Upgrade: true,
		Env: launch.MergeEnv(withoutMarker(daemonEnv()), marker), Output: os.Stderr}
	spec.Files = chFiles
	for _, n := range names {
		spec.Files = append(spec.Files, files[n])
	}
	d.log.Info("upgrading: starting the next generation", "binary", exe)
	pid, err := launch.Run(ctx, spec, "next generation", &readiness{d: d, ch: ch, h: &Handoff{}})
	if err == nil {
		err = exitedAlready(pid)
	}
	if err != nil {
		d.takeBack(pf)
	}
	return pid, err
}

// exitedAlready reports a next generation that exited right after its
// READY (it is this process's child, not yet reaped): the upgrade failed.
func exitedAlready(pid int) error {
	var ws unix.WaitStatus
	if wpid, err := unix.Wait4(pid, &ws, unix.WNOHANG, nil); err != nil || wpid != pid {
		return nil
	}
	how := fmt.Sprintf("exit status %d", ws.ExitStatus())
	if ws.Signaled() {
		how = "signal: " + ws.Signal().String()
	}
	return fmt.Errorf("next generation (pid %d) exited right after it was ready (%s); look at its log", pid, how)
}

// takeBack makes the PID file name this daemon again after a failed
// upgrade, in case it was written with the next generation's PID before
// the failure.
func (d *Daemon) takeBack(pf *pidlock.File) {
	if b, err := pf.Read(); err == nil && string(b) == strconv.Itoa(os.Getpid())+"\n" {
		return
	}
	if err := pf.WritePID(os.Getpid()); err != nil {
		d.log.Error("cannot write this daemon's pid back into its pid file after the failed upgrade", "err", err)
	}
}

// executable is the path this daemon's binary was run from: an upgrade
// runs what is there now, typically a new version installed over it.
func executable() (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("upgrade: cannot tell this daemon's executable: %w", err)
	}
	return strings.TrimSuffix(exe, " (deleted)"), nil
}
