//go:build linux

package integration_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/daemonkit/daemonkit/internal/proctest"
	"github.com/daemonkit/daemonkit/lockfile"
)

// faultyBinary builds ./integration_test/testdata/faulty with the
// framework's fault points compiled in (-tags daemonkit_faults), once.
func faultyBinary(t testing.TB) string {
	t.Helper()
	const pkg, key = "./integration_test/testdata/faulty", "faulty+daemonkit_faults"
	bins.Lock()
	defer bins.Unlock()
	if bins.built == nil {
		bins.built, bins.err = map[string]string{}, map[string]error{}
	}
	if p, ok := bins.built[key]; ok {
		return p
	}
	if err, ok := bins.err[key]; ok {
		t.Fatal(err)
	}
	p, err := proctest.BuildTags(bins.dir, pkg, "daemonkit_faults")
	if err != nil {
		bins.err[key] = err
		t.Fatal(err)
	}
	bins.built[key] = p
	return p
}

// Who the test kills with SIGKILL at a pause point.
const (
	killNone       = ""
	killDaemon     = "daemon"
	killLauncher   = "launcher"
	killController = "controller"
)

// Phases of a fault cell: the fault strikes during start, while running
// (after SIGUSR1), or during stop.
const (
	phaseStart   = "start"
	phaseRunning = "running"
	phaseStop    = "stop"
)

// faultCell is one cell of the fault matrix: a stage and a fault.
type faultCell struct {
	stage, fault string
	phase        string   // phaseStart, phaseRunning or phaseStop
	env          []string // FAULTY=… (faulty's hooks) or DAEMONKIT_FAULT=… (framework points)
	pause        string   // the FAULTY stage that pauses, for kills from outside
	kill         string   // whom the test SIGKILLs at the pause (or, for running, at once)
	code         int      // daemonctl's exit status for the phase (ignored if the controller is killed)
	says         []string // daemonctl's stderr contains these
	logs         []string // the daemon's log file contains these
	after        lockfile.State
}

func (c faultCell) name() string { return c.stage + "/" + c.fault }

// faultMatrix: one row per cell. Cells that cannot happen are left out:
// there is no daemon before the re-exec (a "daemon" killed there is the
// launcher); the launcher has exited once the daemon runs or stops; and no
// controller runs while the daemon runs. "after lock", "re-exec" and
// "after READY before ACK" have no pause point of their own (the framework's
// fault points can hang but not resume), so a controller killed there is
// the same case as one killed in PreDetach, PostDetach and OnReady.
func faultMatrix() []faultCell {
	fw := func(spec string) []string { return []string{"DAEMONKIT_FAULT=" + spec} }
	hook := func(spec string) []string { return []string{"FAULTY=" + spec} }
	started := []string{"started (pid"}
	killed := "was killed by SIGKILL"
	var m []faultCell
	add := func(c faultCell) { m = append(m, c) }

	// Before the lock: the launcher has not touched the PID file.
	add(faultCell{stage: "before-lock", fault: "error", env: fw("before-lock=error"), code: 102,
		says: []string{"injected fault at before-lock", "exited with status 1"}, after: lockfile.NotRunning})
	add(faultCell{stage: "before-lock", fault: "panic", env: fw("before-lock=panic"), code: 102,
		says: []string{"panic: injected panic at before-lock", "exited with status 2"}, after: lockfile.NotRunning})
	add(faultCell{stage: "before-lock", fault: "exit", env: fw("before-lock=exit:7"), code: 102,
		says: []string{"exited with status 7"}, after: lockfile.NotRunning})
	add(faultCell{stage: "before-lock", fault: "kill-launcher", env: fw("before-lock=kill"), code: 102,
		says: []string{killed}, after: lockfile.NotRunning})
	add(faultCell{stage: "before-lock", fault: "kill-controller", env: hook("before-lock=pause"), pause: "before-lock",
		kill: killController, after: lockfile.Running})

	// After the lock, "(starting)" written: a launcher that returns an
	// error empties the file; one that dies leaves "(starting)" unlocked,
	// which reads as stale.
	add(faultCell{stage: "after-lock", fault: "error", env: fw("after-lock=error"), code: 102,
		says: []string{"injected fault at after-lock"}, after: lockfile.NotRunning})
	add(faultCell{stage: "after-lock", fault: "panic", env: fw("after-lock=panic"), code: 102,
		says: []string{"panic: injected panic at after-lock", "exited with status 2"}, after: lockfile.Stale})
	add(faultCell{stage: "after-lock", fault: "exit", env: fw("after-lock=exit:7"), code: 102,
		says: []string{"exited with status 7"}, after: lockfile.Stale})
	add(faultCell{stage: "after-lock", fault: "kill-launcher", env: fw("after-lock=kill"), code: 102,
		says: []string{killed}, after: lockfile.Stale})

	// PreDetach hooks, in the launcher.
	add(faultCell{stage: "predetach", fault: "error", env: hook("predetach=error"), code: 102,
		says: []string{`pre-detach hook "faulty": injected error in predetach`}, after: lockfile.NotRunning})
	add(faultCell{stage: "predetach", fault: "panic", env: hook("predetach=panic"), code: 102,
		says: []string{`pre-detach hook "faulty": panic: injected panic in predetach`}, after: lockfile.NotRunning})
	add(faultCell{stage: "predetach", fault: "exit", env: hook("predetach=exit:7"), code: 102,
		says: []string{"exited with status 7"}, after: lockfile.Stale})
	add(faultCell{stage: "predetach", fault: "kill-launcher", env: hook("predetach=kill"), code: 102,
		says: []string{killed}, after: lockfile.Stale})
	add(faultCell{stage: "predetach", fault: "kill-controller", env: hook("predetach=pause"), pause: "predetach",
		kill: killController, after: lockfile.Running})

	// The re-exec: the daemon stage has adopted its descriptors (or the
	// launcher dies right after spawning it).
	add(faultCell{stage: "reexec", fault: "error", env: fw("adopted=error"), code: 102,
		says: []string{"failed to start: injected fault at adopted"}, after: lockfile.NotRunning})
	add(faultCell{stage: "reexec", fault: "panic", env: fw("adopted=panic"), code: 102,
		says: []string{"exited before it was ready", "panic: injected panic at adopted", "exit status 2"}, after: lockfile.NotRunning})
	add(faultCell{stage: "reexec", fault: "exit", env: fw("adopted=exit:7"), code: 102,
		says: []string{"exited before it was ready (exit status 7)"}, after: lockfile.NotRunning})
	add(faultCell{stage: "reexec", fault: "kill-daemon", env: fw("adopted=kill"), code: 102,
		says: []string{"exited before it was ready (signal: killed)"}, after: lockfile.NotRunning})
	add(faultCell{stage: "reexec", fault: "kill-launcher", env: fw("after-spawn=kill"), code: 102,
		says: []string{killed}, after: lockfile.Running})

	// PostDetach and OnReady hooks, in the daemon.
	for _, h := range []struct{ stage, name string }{{"postdetach", "post-detach"}, {"ready", "ready"}} {
		add(faultCell{stage: h.stage, fault: "error", env: hook(h.stage + "=error"), code: 102,
			says: []string{"failed to start: " + h.name + ` hook "faulty": injected error in ` + h.stage}, after: lockfile.NotRunning})
		add(faultCell{stage: h.stage, fault: "panic", env: hook(h.stage + "=panic"), code: 102,
			says: []string{h.name + ` hook "faulty": panic: injected panic in ` + h.stage}, after: lockfile.NotRunning})
		add(faultCell{stage: h.stage, fault: "exit", env: hook(h.stage + "=exit:7"), code: 102,
			says: []string{"exited before it was ready (exit status 7)", "faulty: exiting with 7 in " + h.stage}, after: lockfile.NotRunning})
		add(faultCell{stage: h.stage, fault: "kill-daemon", env: hook(h.stage + "=pause"), pause: h.stage, kill: killDaemon, code: 102,
			says: []string{"exited before it was ready (signal: killed)"}, after: lockfile.NotRunning})
		add(faultCell{stage: h.stage, fault: "kill-launcher", env: hook(h.stage + "=pause"), pause: h.stage, kill: killLauncher, code: 102,
			says: []string{killed}, after: lockfile.Running})
		add(faultCell{stage: h.stage, fault: "kill-controller", env: hook(h.stage + "=pause"), pause: h.stage, kill: killController,
			after: lockfile.Running})
	}

	// After READY, before the ACK: a launcher that fails on its own kills
	// the daemon; a launcher that dies leaves a daemon that writes its own
	// PID.
	add(faultCell{stage: "ready-ack", fault: "error", env: fw("after-ready=error"), code: 102,
		says: []string{"injected fault at after-ready"}, after: lockfile.NotRunning})
	add(faultCell{stage: "ready-ack", fault: "panic", env: fw("after-ready=panic"), code: 102,
		says: []string{"panic: injected panic at after-ready", "exited with status 2"}, after: lockfile.Running})
	add(faultCell{stage: "ready-ack", fault: "exit", env: fw("after-ready=exit:7"), code: 102,
		says: []string{"exited with status 7"}, after: lockfile.Running})
	add(faultCell{stage: "ready-ack", fault: "kill-daemon", env: fw("before-ready=kill"), code: 102,
		says: []string{"exited before it was ready (signal: killed)"}, after: lockfile.NotRunning})
	add(faultCell{stage: "ready-ack", fault: "kill-launcher", env: fw("after-ready=kill"), code: 102,
		says: []string{killed}, after: lockfile.Running})
	add(faultCell{stage: "ready-ack", fault: "kill-launcher-after-pid", env: fw("after-pid=kill"), code: 102,
		says: []string{killed}, after: lockfile.Running})

	// Running: the body fails when it gets SIGUSR1, or the daemon is
	// killed. A body error still runs OnStop, then leaves the PID file
	// stale, as a daemon that dies does, with a record of why it ended.
	add(faultCell{stage: "running", fault: "error", phase: phaseRunning, env: hook("running=error"), code: 0, says: started,
		logs: []string{"injected error in running"}, after: lockfile.Stale})
	add(faultCell{stage: "running", fault: "panic", phase: phaseRunning, env: hook("running=panic"), code: 0, says: started,
		logs: []string{"injected panic in running"}, after: lockfile.Stale})
	add(faultCell{stage: "running", fault: "exit", phase: phaseRunning, env: hook("running=exit:7"), code: 0, says: started,
		after: lockfile.Stale})
	add(faultCell{stage: "running", fault: "kill-daemon", phase: phaseRunning, kill: killDaemon, code: 0, says: started,
		after: lockfile.Stale})

	// OnStop: stop always ends with the daemon gone and the PID file
	// empty and unlocked (the controller empties what a dead daemon left),
	// but it exits 0 only if the daemon stopped cleanly: the daemon's
	// verdict, or its death before giving one, is 102.
	notClean := "but not cleanly"
	add(faultCell{stage: "stop", fault: "error", phase: phaseStop, env: hook("stop=error"), code: 102,
		says: []string{notClean, `stop hook "faulty": injected error in stop`},
		logs: []string{`stop hook \"faulty\": injected error in stop`}, after: lockfile.NotRunning})
	add(faultCell{stage: "stop", fault: "panic", phase: phaseStop, env: hook("stop=panic"), code: 102,
		says: []string{notClean, "injected panic in stop"}, logs: []string{"injected panic in stop"}, after: lockfile.NotRunning})
	add(faultCell{stage: "stop", fault: "exit", phase: phaseStop, env: hook("stop=exit:7"), code: 102,
		says: []string{notClean, "died during its stop"}, after: lockfile.NotRunning})
	add(faultCell{stage: "stop", fault: "kill-daemon", phase: phaseStop, env: hook("stop=pause"), pause: "stop", kill: killDaemon, code: 102,
		says: []string{notClean, "died during its stop"}, after: lockfile.NotRunning})
	add(faultCell{stage: "stop", fault: "kill-controller", phase: phaseStop, env: hook("stop=pause"), pause: "stop", kill: killController,
		after: lockfile.NotRunning})
	for i := range m {
		if m[i].phase == "" {
			m[i].phase = phaseStart
		}
	}
	return m
}

// TestFaultMatrix injects each fault at each stage of a framework daemon
// started and stopped by daemonctl, and checks what daemonctl reports, the
// PID file's state afterwards (the state table of docs/protocol.md), that no lock is held by a
// dead process, that no process is left behind, and that a later start
// succeeds.
//
// daemonctl runs `faulty start`, the service's own start verb, which runs
// the launcher under daemonctl's guard lock (the service finds that its
// ancestor daemonctl holds the guard: control.StartedByController).
func TestFaultMatrix(t *testing.T) {
	faulty := faultyBinary(t)
	ctl := binary(t, "./cmd/daemonctl")
	for _, c := range faultMatrix() {
		t.Run(c.name(), func(t *testing.T) {
			t.Parallel()
			runFaultCell(t, ctl, faulty, c)
		})
	}
}

func runFaultCell(t *testing.T, ctl, faulty string, c faultCell) {
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	pidFile, logFile := filepath.Join(dir, "faulty.pid"), filepath.Join(dir, "faulty.log")
	t.Cleanup(func() {
		for _, pid := range procsWithArg(pidFile) {
			proctest.Kill(pid)
		}
	})
	env := append([]string{"FAULTY_DIR=" + dir}, c.env...)
	startArgs := []string{"start", "--pid-file", pidFile, "--timeout", "30s", "--",
		faulty, "start", "--pid-file", pidFile, "--log-file", logFile, "--ready-timeout", "20s"}
	stopArgs := []string{"stop", "--pid-file", pidFile, "--timeout", "30s"}

	var r result
	switch c.phase {
	case phaseStart:
		r = runPaused(t, env, c, ctl, startArgs...)
	case phaseRunning:
		r = run(t, env, ctl, startArgs...)
		r.expect(t, c.code, "start")
		pid := daemonPID(t, pidFile)
		if c.kill == killDaemon {
			proctest.Kill(pid)
		} else {
			waitFileContains(t, filepath.Join(dir, "running.armed"), strconv.Itoa(pid)+"\n")
			run(t, nil, ctl, "signal", "--pid-file", pidFile, "USR1").expect(t, 0, "signal USR1")
		}
		proctest.WaitFor(t, 10*time.Second, "the daemon to exit", func() bool { return !proctest.Alive(pid) })
	case phaseStop:
		run(t, env, ctl, startArgs...).expect(t, 0, "start")
		pid := daemonPID(t, pidFile)
		r = runPaused(t, []string{"FAULTY_DIR=" + dir}, c, ctl, stopArgs...)
		proctest.WaitFor(t, 10*time.Second, "the daemon to exit", func() bool { return !proctest.Alive(pid) })
	}
	if c.kill != killController {
		if r.code != c.code {
			t.Errorf("%s: exit %d, want %d\nstderr: %s", c.phase, r.code, c.code, r.stderr)
		}
		for _, s := range c.says {
			if !strings.Contains(r.stderr, s) {
				t.Errorf("%s: stderr does not say %q:\n%s", c.phase, s, r.stderr)
			}
		}
	}
	for _, s := range c.logs {
		waitFileContains(t, logFile, s)
	}

	// The PID file settles in the state the protocol's state table says, and a
	// locked one is held by the live daemon it names.
	var info lockfile.Info
	if !proctest.Eventually(15*time.Second, func() bool {
		var err error
		info, err = lockfile.Inspect(pidFile)
		return err == nil && info.State == c.after && launcherGone(pidFile)
	}) {
		t.Fatalf("pid file %s: state %v (content %q), want %v; processes %v", pidFile, info.State, info.Content, c.after, procsWithArg(pidFile))
	}
	wantStatus := map[lockfile.State]int{lockfile.NotRunning: 101, lockfile.Stale: 103, lockfile.Running: 0}[c.after]
	run(t, nil, ctl, "status", "--pid-file", pidFile).expect(t, wantStatus, "status after the fault")
	if c.after == lockfile.Running {
		pid := daemonPID(t, pidFile)
		if left := procsWithArg(pidFile); !slices.Equal(left, []int{pid}) {
			t.Errorf("processes with the pid file: %v; want only the daemon %d", left, pid)
		}
		run(t, nil, ctl, stopArgs...).expect(t, 0, "stop the daemon that survived the fault")
		requireReleased(t, pidFile)
	} else {
		requireNoLockByDead(t, pidFile)
		requireNoProcess(t, pidFile)
	}

	// A later start (without faults, by the service's own start verb)
	// succeeds; 103 if the file was stale.
	want := 0
	if st, _ := lockfile.Inspect(pidFile); st.State == lockfile.Stale {
		want = 103
	}
	run(t, nil, faulty, "start", "--pid-file", pidFile, "--log-file", logFile+".2").expect(t, want, "start after the fault")
	daemonPID(t, pidFile)
	run(t, nil, ctl, stopArgs...).expect(t, 0, "stop after the later start")
	requireReleased(t, pidFile)
	requireNoProcess(t, pidFile)
}

// launcherGone reports whether at most the daemon is left of the start:
// no process with the PID file on its command line but one with the
// stage marker in its environment.
func launcherGone(pidFile string) bool {
	for _, pid := range procsWithArg(pidFile) {
		env, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/environ")
		if !bytes.Contains(env, []byte("DAEMONKIT_STAGE=daemon:")) {
			return false
		}
	}
	return true
}

// requireNoLockByDead fails t if the PID file is locked while it names no
// live process.
func requireNoLockByDead(t *testing.T, pidFile string) {
	t.Helper()
	info, err := lockfile.Inspect(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Alive() && (info.PID == 0 || !proctest.Alive(info.PID)) {
		t.Errorf("pid file %s is locked (%v, %q) but names no live process", pidFile, info.State, info.Content)
	}
}

// runPaused runs bin args; if c pauses, it waits for the pause, SIGKILLs
// whom c says (the paused process, its parent the launcher, or the
// controller bin itself), then releases the pause.
func runPaused(t *testing.T, env []string, c faultCell, bin string, args ...string) result {
	t.Helper()
	if c.pause == "" {
		return run(t, env, bin, args...)
	}
	dir := faultyDir(env, t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	proctest.Cleanup(t, cmd.Process.Pid)
	marker := filepath.Join(dir, c.pause+".paused")
	proctest.WaitFor(t, 20*time.Second, "the pause in "+c.pause, func() bool {
		b, _ := os.ReadFile(marker)
		return bytes.HasSuffix(b, []byte("\n"))
	})
	var pid, ppid int
	b, _ := os.ReadFile(marker)
	f := strings.Fields(string(b))
	pid, _ = strconv.Atoi(f[0])
	ppid, _ = strconv.Atoi(f[1])
	proctest.Cleanup(t, pid)
	switch c.kill {
	case killDaemon:
		proctest.Kill(pid)
	case killLauncher:
		if ppid <= 1 || ppid == os.Getpid() {
			t.Fatalf("paused daemon %d has parent %d, not a launcher", pid, ppid)
		}
		proctest.Kill(ppid)
	case killController:
		cmd.Process.Kill() // cmd.Wait reaps it
	}
	if err := os.WriteFile(filepath.Join(dir, "release"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	r := result{stdout: out.String(), stderr: errb.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() && c.kill != killController {
			t.Errorf("%s was killed by %v", bin, ws.Signal())
		}
	case err != nil:
		t.Fatal(err)
	}
	if ctx.Err() != nil {
		t.Fatalf("%s %v did not finish within a minute", bin, args)
	}
	return r
}

func faultyDir(env []string, t *testing.T) string {
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "FAULTY_DIR="); ok {
			return v
		}
	}
	return filepath.Dir(t.TempDir())
}

// TestDaemonctlStartsFrameworkDaemon: daemonctl start -- SERVICE start, the
// documented way to start a framework daemon under a controller, starts it.
func TestDaemonctlStartsFrameworkDaemon(t *testing.T) {
	t.Parallel()
	hello, ctl := binary(t, "./examples/hello"), binary(t, "./cmd/daemonctl")
	pidFile := filepath.Join(t.TempDir(), "hello.pid")
	t.Cleanup(func() {
		for _, pid := range procsWithArg(pidFile) {
			proctest.Kill(pid)
		}
	})
	run(t, nil, ctl, "start", "--pid-file", pidFile, "--timeout", "10s", "--", hello, "start", "--pid-file", pidFile).expect(t, 0, "daemonctl start -- hello start")
	daemonPID(t, pidFile)
	run(t, nil, ctl, "stop", "--pid-file", pidFile).expect(t, 0, "stop")
	requireReleased(t, pidFile)
}

// TestDaemonctlStartsFrameworkAfterStale: after a daemon died, daemonctl
// start -- SERVICE start reports 103 (started, the PID file was stale), as
// the protocol says (docs/protocol.md), not a failure.
func TestDaemonctlStartsFrameworkAfterStale(t *testing.T) {
	t.Parallel()
	hello, ctl := binary(t, "./examples/hello"), binary(t, "./cmd/daemonctl")
	pidFile := filepath.Join(t.TempDir(), "hello.pid")
	t.Cleanup(func() {
		for _, pid := range procsWithArg(pidFile) {
			proctest.Kill(pid)
		}
	})
	run(t, nil, hello, "start", "--pid-file", pidFile).expect(t, 0, "start")
	proctest.Kill(daemonPID(t, pidFile))
	run(t, nil, ctl, "status", "--pid-file", pidFile).expect(t, 103, "status of a killed daemon")
	r := run(t, nil, ctl, "start", "--pid-file", pidFile, "--timeout", "10s", "--", hello, "start", "--pid-file", pidFile)
	r.expect(t, 103, "daemonctl start -- hello start over a stale pid file")
	daemonPID(t, pidFile)
	run(t, nil, ctl, "stop", "--pid-file", pidFile).expect(t, 0, "stop")
}
