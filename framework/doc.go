// Package framework is what a service imports to run as a daemon.
//
// A service builds a [Daemon] with [New], registers hooks for the stages it
// cares about, and hands its body to [Main] (which adds the verbs start,
// stop, status, restart, reload and run, and standard flags) or calls
// [Daemon.Run] itself:
//
//	d := framework.New(framework.Config{Name: "hello", PIDFile: "/run/hello.pid"})
//	d.PreDetach("listen", func(ctx context.Context, h *framework.Handoff) error {
//		_, err := h.Listen("http", "tcp", ":80") // still root, still on the terminal
//		return err
//	})
//	d.PostDetach("open-db", openDB)           // in the daemon
//	d.OnReady("announce", announce)           // just before READY
//	d.OnStop("close-db", closeDB)             // reverse order, bounded by StopTimeout
//	framework.Main(d, func(ctx context.Context) error {
//		ln, err := d.Listener("http")
//		...
//		<-ctx.Done() // SIGTERM or SIGINT
//		return nil
//	})
//
// # Stages
//
// Started detached (the default), the program runs twice. The launcher (the
// process the user started) locks the PID file, writes "(starting)", runs
// PreDetach hooks, and re-executes its own binary as the daemon stage
// ([github.com/daemonkit/daemonkit/reexec]) in a new session, with the
// configured user, group, directory and umask. The daemon runs PostDetach
// and OnReady hooks, then reports READY; the launcher writes the daemon's
// PID into the PID file, acknowledges and exits 0. Any failure of the daemon
// before READY is printed by the launcher, which exits 1 and leaves the PID
// file unlocked and empty.
//
// In the foreground (the run verb, [Config.Foreground], or NOTIFY_SOCKET set
// by systemd) nothing detaches: all hooks run in one process. Under systemd
// it reports READY=1, RELOADING=1 and STOPPING=1 with sd_notify, pings the
// watchdog (vetoed by a failing [Daemon.HealthCheck]), and offers the
// sockets of a .socket unit by name, as [Daemon.Listener] offers those a
// PreDetach hook handed over ([Handoff.Has] tells a hook that systemd
// already passed one). [Config.Detach] detaches under systemd anyway: the
// launcher then sends MAINPID= and READY=1. See docs/systemd.md.
//
// A foreground service that is PID 1 (in a container), or that sets
// [Config.Reaper] (--reaper), runs under a reaping first stage on Linux:
// the process started first re-executes the program as the service,
// forwards signals to it, reaps the orphans that come to it, and exits
// with the service's status; the service's own children stay its own, so
// exec.Cmd.Wait gets their statuses. See docs/lifecycle.md, "Reaping as
// PID 1".
//
// The running daemon's body gets a context that SIGTERM and SIGINT cancel;
// SIGHUP runs OnReload hooks. When the body returns, OnStop hooks run in
// reverse order of registration within [Config.StopTimeout], the PID file is
// truncated to empty while still locked, and the process exits. A daemon
// that ends with an error (its body's, a stop hook's) leaves the PID file
// naming it, stale once it is gone, and records why next to it, for
// status. Controllers reach a running daemon over a control channel it
// keeps no descriptor for: `reload`, `stop` and `upgrade` get the verdict
// of the hooks they ran, and `upgrade` replaces the daemon by the binary
// now installed, handing over its listeners (those taken with
// [Daemon.Listener] and [Daemon.File]) and its locked PID file.
//
// # Logging and errors
//
// [Daemon.Logger] may be taken at any time, even before [Main]: each line
// says the stage it was logged from. Under systemd, when stderr is the
// journal, lines carry sd-daemon(3) priorities instead of times. A hook
// that fails stops the start (or is reported, for OnReload and OnStop) as
// a [github.com/daemonkit/daemonkit/lifecycle.HookError] naming the stage
// and the hook; a panic in a hook or the body becomes a
// [github.com/daemonkit/daemonkit/lifecycle.PanicError], and its stack is
// logged one frame a line. [github.com/daemonkit/daemonkit/lifecycle.HookErrors]
// lists every hook failure in an error that [Daemon.Run] returns in the
// process the hooks ran in (the launcher reports the daemon's as text).
//
// See the package example for a whole service, and docs/lifecycle.md for
// which hook runs in which process, as which user, and what happens on
// each failure.
package framework
