package integration_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/daemonkit/daemonkit/internal/proctest"
)

// requireSays fails t unless r's stderr holds each of wants.
func requireSays(t *testing.T, r result, what string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(r.stderr, w) {
			t.Errorf("%s: stderr does not say %q:\n%s", what, w, r.stderr)
		}
	}
}

// TestVerdicts: after READY the operator still hears how things went.
// svc reload and daemonctl reload --wait give the OnReload hooks' verdict,
// svc stop the OnStop hooks', and status says why a daemon whose body
// failed ended; a healthy daemon gets 0 from each.
func TestVerdicts(t *testing.T) {
	failing := binary(t, "./examples/failing")
	ctl := binary(t, "./cmd/daemonctl")
	start := func(t *testing.T, mode string) (pidFile string) {
		dir := t.TempDir()
		pidFile = filepath.Join(dir, "f.pid")
		args := []string{"start", "--pid-file", pidFile, "--log-file", filepath.Join(dir, "f.log")}
		if mode != "" {
			args = append(args, "--fail-in", mode)
		}
		run(t, nil, failing, args...).expect(t, 0, "start --fail-in "+mode)
		return pidFile
	}

	t.Run("healthy", func(t *testing.T) {
		t.Parallel()
		pidFile := start(t, "")
		pid := daemonPID(t, pidFile)
		r := run(t, nil, failing, "reload", "--pid-file", pidFile)
		r.expect(t, 0, "reload")
		requireSays(t, r, "reload", "reloaded (pid "+strconv.Itoa(pid)+")")
		run(t, nil, ctl, "reload", "--wait", "--pid-file", pidFile).expect(t, 0, "daemonctl reload --wait")
		run(t, nil, failing, "stop", "--pid-file", pidFile).expect(t, 0, "stop")
		requireReleased(t, pidFile)
	})

	t.Run("reload", func(t *testing.T) {
		t.Parallel()
		pidFile := start(t, "reload")
		pid := daemonPID(t, pidFile)
		hook := `reload hook "reread-config": config line 3: unknown key "colour"`
		r := run(t, nil, failing, "reload", "--pid-file", pidFile)
		r.expect(t, 102, "failing reload")
		requireSays(t, r, "failing reload", hook, "keeps running")
		r = run(t, nil, ctl, "reload", "--wait", "--pid-file", pidFile)
		r.expect(t, 102, "daemonctl reload --wait")
		requireSays(t, r, "daemonctl reload --wait", hook)
		run(t, nil, ctl, "reload", "--pid-file", pidFile).expect(t, 0, "daemonctl reload (a plain SIGHUP)")
		run(t, nil, failing, "status", "--pid-file", pidFile).expect(t, 0, "status after failed reloads")
		if daemonPID(t, pidFile) != pid {
			t.Fatal("the daemon changed")
		}
		run(t, nil, failing, "stop", "--pid-file", pidFile).expect(t, 0, "stop")
	})

	t.Run("stop", func(t *testing.T) {
		t.Parallel()
		pidFile := start(t, "stop")
		pid := daemonPID(t, pidFile)
		r := run(t, nil, failing, "stop", "--pid-file", pidFile)
		r.expect(t, 102, "stop with a failing OnStop hook")
		requireSays(t, r, "stop", "stopped (pid "+strconv.Itoa(pid)+"), but not cleanly", `stop hook "flush": flush: disk full`)
		if proctest.Alive(pid) {
			t.Fatal("daemon alive after stop")
		}
		requireReleased(t, pidFile)
		run(t, nil, failing, "status", "--pid-file", pidFile).expect(t, 101, "status after the stop")
	})

	t.Run("body", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		pidFile := filepath.Join(dir, "f.pid")
		// The body fails right after READY: start may see it already dead.
		r := run(t, nil, failing, "start", "--pid-file", pidFile, "--log-file", filepath.Join(dir, "f.log"), "--fail-in", "body")
		if r.code != 0 && (r.code != 102 || !strings.Contains(r.stderr, "stale afterwards")) {
			t.Fatalf("start --fail-in body: exit %d: %s", r.code, r.stderr)
		}
		info := waitStale(t, pidFile)
		r = run(t, nil, failing, "status", "--pid-file", pidFile)
		r.expect(t, 103, "status of a daemon whose body failed")
		requireSays(t, r, "status", "pid "+info+" exited with status 1", "upstream connection lost")
		r = run(t, nil, ctl, "status", "--json", "--pid-file", pidFile)
		r.expect(t, 103, "daemonctl status --json")
		if !strings.Contains(r.stdout, "upstream connection lost") {
			t.Errorf("status --json: %s", r.stdout)
		}
		run(t, nil, failing, "start", "--pid-file", pidFile).expect(t, 103, "start over the stale file")
		daemonPID(t, pidFile)
		run(t, nil, failing, "stop", "--pid-file", pidFile).expect(t, 0, "stop")
	})
}

// waitStale waits for the daemon of pidFile to die and leave the file
// stale, and returns the PID it names.
func waitStale(t *testing.T, pidFile string) string {
	t.Helper()
	var pid string
	proctest.WaitFor(t, 20*time.Second, "the pid file to go stale", func() bool {
		b, err := os.ReadFile(pidFile)
		pid = strings.TrimSpace(string(b))
		n, _ := strconv.Atoi(pid)
		return err == nil && n > 1 && !proctest.Alive(n)
	})
	return pid
}

// TestReloadWaitRefusesPlainPrograms: daemonctl reload --wait on a program
// that is not a framework daemon gets no verdict: exit 102 saying so, and
// the program, sent only SIGCHLD, keeps running.
func TestReloadWaitRefusesPlainPrograms(t *testing.T) {
	ctl := binary(t, "./cmd/daemonctl")
	pidFile := filepath.Join(t.TempDir(), "sleep.pid")
	run(t, nil, ctl, "start", "--background", "--pid-file", pidFile, "--", "sleep", "600").expect(t, 0, "start sleep")
	pid := daemonPID(t, pidFile)
	r := run(t, nil, ctl, "reload", "--wait", "--pid-file", pidFile)
	r.expect(t, 102, "reload --wait on sleep")
	requireSays(t, r, "reload --wait", "not a daemonkit framework daemon")
	if !proctest.Alive(pid) {
		t.Fatal("sleep died of the poke")
	}
	run(t, nil, ctl, "stop", "--pid-file", pidFile).expect(t, 0, "stop sleep")
}

// TestVerdictsAfterPrivilegeDrop: a daemon that runs as nobody still
// answers a root controller over the control channel: reload and stop
// verdicts, and a failing reload's.
func TestVerdictsAfterPrivilegeDrop(t *testing.T) {
	proctest.RequireRoot(t)
	failing := binary(t, "./examples/failing")
	dir := privDir(t)
	pidFile := filepath.Join(dir, "f.pid")
	run(t, nil, failing, "start", "--pid-file", pidFile, "--user", "nobody", "--fail-in", "reload").expect(t, 0, "start --user nobody")
	pid := daemonPID(t, pidFile)
	requireIdentity(t, pid, nobodyIdentity(t))
	r := run(t, nil, failing, "reload", "--pid-file", pidFile)
	r.expect(t, 102, "reload of a daemon running as nobody")
	requireSays(t, r, "reload", `reload hook "reread-config"`)
	run(t, nil, failing, "stop", "--pid-file", pidFile).expect(t, 0, "stop")
	requireReleased(t, pidFile)
}

// TestControllerKilledMidRequest: a controller killed while it waits for a
// verdict leaves the daemon serving (the reload finishes) and the guard
// free: the next action runs at once.
func TestControllerKilledMidRequest(t *testing.T) {
	svc := binary(t, "./integration_test/testdata/svc")
	dir := t.TempDir()
	pidFile, rec := filepath.Join(dir, "svc.pid"), filepath.Join(dir, "record")
	run(t, nil, svc, "start", "--pid-file", pidFile, "--record", rec, "--reload-takes", "3s").expect(t, 0, "start")
	pid := daemonPID(t, pidFile)
	ctlr := exec.Command(svc, "reload", "--pid-file", pidFile)
	if err := ctlr.Start(); err != nil {
		t.Fatal(err)
	}
	proctest.Cleanup(t, ctlr.Process.Pid)
	waitFileContains(t, rec, "reload "+strconv.Itoa(pid))
	ctlr.Process.Kill()
	ctlr.Wait()
	// The reload still runs for seconds: a guard still held would make
	// this status time out (102).
	run(t, nil, svc, "status", "--pid-file", pidFile, "--timeout", "2s").expect(t, 0, "status right after the controller was killed")
	if !proctest.Alive(pid) {
		t.Fatal("the daemon died with its controller")
	}
	run(t, nil, svc, "reload", "--pid-file", pidFile).expect(t, 0, "the next reload's verdict")
	run(t, nil, svc, "stop", "--pid-file", pidFile).expect(t, 0, "stop")
}
