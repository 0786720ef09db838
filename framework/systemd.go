package framework

import (
	"context"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-systemd/v22/activation"
	"github.com/coreos/go-systemd/v22/daemon"

	"github.com/daemonkit/daemonkit/lifecycle"
)

// supervised reports whether a service manager listens for sd_notify
// messages (systemd Type=notify, or daemonctl --notify).
func supervised() bool { return os.Getenv("NOTIFY_SOCKET") != "" }

// foreground reports whether Run runs every stage in this process: asked
// for, or NOTIFY_SOCKET is set and detaching was not forced.
func (d *Daemon) foreground() bool {
	return d.cfg.Foreground || (supervised() && !d.cfg.Detach)
}

// sdNotify sends state to the service manager, if there is one
// (NOTIFY_SOCKET); a failure is logged, not fatal: as a warning the first
// time, then at debug level (a manager that went away, such as daemonctl
// --notify once the service is ready, makes every later message fail).
func (d *Daemon) sdNotify(state string) {
	_, err := daemon.SdNotify(false, state)
	if err == nil {
		return
	}
	socket := os.Getenv("NOTIFY_SOCKET")
	if d.notifyFailed.CompareAndSwap(false, true) {
		d.log.Warn("sd_notify failed; further failures are logged at debug level", "state", state, "socket", socket, "err", err)
		return
	}
	d.log.Debug("sd_notify failed", "state", state, "socket", socket, "err", err)
}

// statusLine is an sd_notify STATUS= assignment for text, on one line.
func statusLine(text string) string {
	return "STATUS=" + strings.ReplaceAll(text, "\n", " ")
}

// HealthCheck registers a check that runs before each systemd watchdog
// ping (WatchdogSec=, [Config] needs nothing). If a check fails, panics or
// does not return within half the watchdog interval, the ping is skipped
// and the failure logged, so that systemd restarts a service that is alive
// but no longer healthy. Checks run in registration order while the body
// runs; they are not run once the daemon is stopping. Register checks
// before [Daemon.Run].
func (d *Daemon) HealthCheck(name string, fn HookFunc) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.checks = append(d.checks, lifecycle.Hook{Name: name, Fn: fn})
}

func (d *Daemon) healthChecks() []lifecycle.Hook {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]lifecycle.Hook(nil), d.checks...)
}

// healthStage names health checks in errors and logs.
const healthStage lifecycle.Stage = "health-check"

// watchdog pings systemd's watchdog while the daemon serves.
type watchdog struct {
	quit     chan struct{}
	done     chan struct{}
	mu       sync.Mutex
	stopping bool
}

// startWatchdog starts pinging the watchdog at half of WATCHDOG_USEC if it
// is set for this process (WATCHDOG_PID unset or ours). It returns nil when
// there is no watchdog.
func (d *Daemon) startWatchdog(notify func(string)) *watchdog {
	interval, err := daemon.SdWatchdogEnabled(false)
	if err != nil {
		d.log.Warn("ignoring the watchdog settings", "err", err)
		return nil
	}
	if interval <= 0 {
		return nil
	}
	w := &watchdog{quit: make(chan struct{}), done: make(chan struct{})}
	period := interval / 2
	d.log.Debug("watchdog enabled", "interval", interval, "ping_every", period)
	go func() {
		defer close(w.done)
		tick := time.NewTicker(period)
		defer tick.Stop()
		for {
			if w.healthy(d, period) {
				notify(daemon.SdNotifyWatchdog)
			}
			select {
			case <-tick.C:
			case <-w.quit:
				return
			}
		}
	}()
	return w
}

// healthy runs the health checks, unless the daemon is stopping, bounded by
// limit. A failure is logged.
func (w *watchdog) healthy(d *Daemon, limit time.Duration) bool {
	w.mu.Lock()
	stopping := w.stopping
	w.mu.Unlock()
	checks := d.healthChecks()
	if stopping || len(checks) == 0 {
		return true
	}
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	go func() {
		select {
		case <-w.quit:
			cancel()
		case <-ctx.Done():
		}
	}()
	if err := (lifecycle.Runner{}).Run(ctx, healthStage, checks); err != nil {
		d.log.Warn("health check failed: skipping the watchdog ping", "err", err)
		return false
	}
	return true
}

// stopping makes the watchdog ping without running health checks: the
// service is shutting down, and its checks would fail for that reason.
func (w *watchdog) setStopping() {
	if w == nil {
		return
	}
	w.mu.Lock()
	w.stopping = true
	w.mu.Unlock()
}

// stop ends the pings and waits for the goroutine.
func (w *watchdog) stop() {
	if w == nil {
		return
	}
	close(w.quit)
	<-w.done
}

// activationFiles takes the sockets systemd passed to this process
// (LISTEN_PID, LISTEN_FDS, LISTEN_FDNAMES) and unsets those variables, so
// that nothing started later sees them. Each file is named by its
// LISTEN_FDNAMES entry (LISTEN_FD_<n> without one); when several share a
// name, the second is NAME#2, the third NAME#3, and so on. The files are
// close-on-exec.
func activationFiles() []namedFile { return uniqueNames(activation.Files(true)) }

// uniqueNames names files by their names, NAME#2, NAME#3… for repeats.
func uniqueNames(files []*os.File) []namedFile {
	seen := make(map[string]int, len(files))
	out := make([]namedFile, 0, len(files))
	for _, f := range files {
		name := f.Name()
		seen[name]++
		if n := seen[name]; n > 1 {
			name += "#" + strconv.Itoa(n)
		}
		out = append(out, namedFile{name, f})
	}
	return out
}

// withActivation returns a Handoff holding the sockets systemd passed, so
// that PreDetach hooks see them ([Handoff.Has]) and the daemon gets them by
// name like any other handed-over file.
func withActivation() *Handoff {
	h := &Handoff{}
	for _, f := range activationFiles() {
		if err := h.PassFile(f.name, f.file); err != nil {
			f.file.Close() // cannot happen: names are made unique above
		}
	}
	return h
}
