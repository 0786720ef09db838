//go:build linux

package integration_test

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/daemonkit/daemonkit/internal/proctest"
)

// ucwStormOps is the number of operations each storm client runs; raise it
// (go test -run TestUCWInterop/storm -args -ucw.storm-ops=500) for a longer
// storm.
var ucwStormOps = flag.Int("ucw.storm-ops", 15, "operations per client in TestUCWInterop/storm")

// ucwBinsEnv carries the binaries' paths into the PID namespace, where the
// test binary runs the case itself (as PID 1 of the namespace).
const ucwBinsEnv = "DAEMONKIT_TEST_UCW_BINS"

// Exit codes of ucw-daemon-control, which daemonctl and every framework
// service share.
const (
	ucwOK         = 0
	ucwDone       = 100
	ucwNotRunning = 101
	ucwError      = 102
	ucwStale      = 103
)

// ucwBins are the programs of the interoperability matrix: daemonctl and a
// framework service (examples/hello), and the test doubles of libucw's
// controller (ucwctl, testdata/ucw/ucwctl.c) and of a daemon built on
// daemon_init/daemon_run/daemon_exit (ucwd, testdata/ucw/ucwd.c).
type ucwBins struct{ ctl, hello, ucwctl, ucwd string }

func (b ucwBins) String() string {
	return strings.Join([]string{b.ctl, b.hello, b.ucwctl, b.ucwd}, ":")
}

// ucwCase is one cell of the matrix.
type ucwCase struct {
	name string
	run  func(t *testing.T, e *ucwEnv)
	file string // the PID file's base name (default d.pid)
}

// TestUCWInterop runs daemonkit against programs that behave exactly as
// libucw 6.5's do, in both directions: ucw-daemon-control starting,
// checking, reloading and stopping a framework service, daemonctl doing
// the same to a libucw daemon, each stopping what the other started,
// stale PID files, the guard file of a PID file named ".pid", a daemon
// that creates its PID file under umask 000, and a storm of both
// controllers at once. Each case runs in its own PID namespace (controllers
// signal PIDs read from files), with the test binary as its PID 1.
func TestUCWInterop(t *testing.T) {
	cases := ucwCases()
	if v := os.Getenv(ucwBinsEnv); v != "" {
		p := strings.Split(v, ":")
		if len(p) != 4 {
			t.Fatalf("%s=%q: want four paths", ucwBinsEnv, v)
		}
		b := ucwBins{ctl: p[0], hello: p[1], ucwctl: p[2], ucwd: p[3]}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) { c.run(t, newUCWEnv(t, b, c.file)) })
		}
		return
	}
	requireUnshare(t)
	b := ucwBuild(t)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			ucwInNamespace(t, b, c.name)
		})
	}
}

func ucwCases() []ucwCase {
	return []ucwCase{
		{name: "ucwctl-drives-hello", run: ucwctlDrivesHello},
		{name: "ucwctl-starts-hello-through-wrapper", run: ucwctlStartsHelloThroughWrapper},
		{name: "daemonctl-drives-ucwd", run: daemonctlDrivesUCWD},
		{name: "mixed-ucwctl-starts-ucwd-daemonctl-stops", run: mixedUCWCtlStartsUCWD},
		{name: "mixed-daemonctl-starts-ucwd-ucwctl-stops", run: mixedDaemonctlStartsUCWD},
		{name: "mixed-daemonctl-starts-hello-ucwctl-stops", run: mixedDaemonctlStartsHello},
		{name: "mixed-ucwctl-starts-hello-daemonctl-stops", run: mixedUCWCtlStartsHello},
		{name: "stale-after-sigkill", run: staleAfterSIGKILL},
		{name: "dot-pid-guard-file", run: dotPIDGuard, file: ".pid"},
		{name: "umask-000-daemon", run: umask000Daemon},
		{name: "storm", run: ucwStorm},
	}
}

// ucwBuild builds daemonctl, hello and the two C test doubles. gcc is
// required on CI (.ci/run installs it); elsewhere its absence skips.
func ucwBuild(t *testing.T) ucwBins {
	t.Helper()
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("gcc is needed to build the libucw test doubles: %v", err)
		}
		t.Skipf("skipped: gcc is needed to build the libucw test doubles: %v", err)
	}
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	b := ucwBins{ctl: binary(t, "./cmd/daemonctl"), hello: binary(t, "./examples/hello")}
	for name, dst := range map[string]*string{"ucwctl": &b.ucwctl, "ucwd": &b.ucwd} {
		src := filepath.Join(proctest.ModuleRoot(), "integration_test", "testdata", "ucw", name+".c")
		*dst = filepath.Join(dir, name)
		if out, err := exec.Command(gcc, "-std=gnu11", "-Wall", "-Werror", "-O2", "-o", *dst, src).CombinedOutput(); err != nil {
			t.Fatalf("gcc %s: %v\n%s", src, err, out)
		}
	}
	return b
}

// ucwInNamespace runs case name of TestUCWInterop in this test binary as
// PID 1 of a fresh PID namespace; --kill-child ends everything in it when
// the run ends, whatever happened.
func ucwInNamespace(t *testing.T, b ucwBins, name string) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "unshare", "--pid", "--fork", "--kill-child", "--mount-proc", exe,
		"-test.run=^TestUCWInterop$/^"+regexp.QuoteMeta(name)+"$", "-test.v", "-test.count=1",
		"-test.timeout=150s", "-ucw.storm-ops="+strconv.Itoa(*ucwStormOps))
	cmd.Env = append(os.Environ(), ucwBinsEnv+"="+b.String())
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = 5 * time.Second
	err = cmd.Run()
	if err != nil || !strings.Contains(out.String(), "--- PASS: TestUCWInterop/"+name+" ") {
		t.Fatalf("in a PID namespace: %v (context: %v)\n%s", err, ctx.Err(), out.String())
	}
	for _, line := range strings.Split(out.String(), "\n") {
		if strings.Contains(line, "ucw_test.go:") {
			t.Log(strings.TrimSpace(line)) // what the case logged
		}
	}
}

// ucwEnv is one case's fixture inside the namespace.
type ucwEnv struct {
	t                     *testing.T
	b                     ucwBins
	dir, pid, guard       string
	log, rec              string // hello's log file, ucwd's record file
	startWait, quickWait  time.Duration
	mu                    sync.Mutex
	seen                  map[int]bool // daemons seen, for reaping and cleanup
	outSeq                int
	stormHello, stormUCWD []string
}

func newUCWEnv(t *testing.T, b ucwBins, file string) *ucwEnv {
	if file == "" {
		file = "d.pid"
	}
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	pid := filepath.Join(dir, file)
	e := &ucwEnv{
		t: t, b: b, dir: dir, pid: pid,
		guard:     strings.TrimSuffix(pid, ".pid") + ".lock", // libucw's rule
		log:       filepath.Join(dir, "hello.log"),
		rec:       filepath.Join(dir, "ucwd.rec"),
		startWait: 20 * time.Second, // a start takes well under a second
		quickWait: 10 * time.Second, // check, reload, a stop of a daemon that exits at once
		seen:      map[int]bool{},
	}
	t.Cleanup(func() {
		e.mu.Lock()
		defer e.mu.Unlock()
		for pid := range e.seen {
			proctest.Kill(pid)
		}
	})
	return e
}

// ucwOut is what a finished (or hung) command left.
type ucwOut struct {
	code int // -1: killed at its deadline
	out  string
	argv []string
}

func (r ucwOut) String() string {
	return fmt.Sprintf("%s: exit %d\n%s", strings.Join(r.argv, " "), r.code, r.out)
}

// ucwProc is a command started in the background.
type ucwProc struct {
	cmd  *exec.Cmd
	outF string
	done chan error
	argv []string
}

// start starts argv with stdout and stderr to a file (a daemon that keeps
// its controller's stderr must not hold a pipe of ours open), stdin from
// /dev/null, in our process group and session, as a shell would.
func (e *ucwEnv) start(argv ...string) *ucwProc {
	e.mu.Lock()
	e.outSeq++
	outF := filepath.Join(e.dir, "out."+strconv.Itoa(e.outSeq))
	e.mu.Unlock()
	f, err := os.Create(outF)
	if err != nil {
		e.t.Fatal(err)
	}
	defer f.Close()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		e.t.Fatalf("%v: %v", argv, err)
	}
	p := &ucwProc{cmd: cmd, outF: outF, done: make(chan error, 1), argv: argv}
	go func() { p.done <- cmd.Wait() }()
	e.t.Cleanup(func() { p.wait(0) })
	return p
}

// wait waits at most d for p; past that it kills p (by its PID) and
// reports code -1.
func (p *ucwProc) wait(d time.Duration) ucwOut {
	timer := time.NewTimer(d)
	defer timer.Stop()
	var err error
	hung := false
	select {
	case err = <-p.done:
	default:
		select {
		case err = <-p.done:
		case <-timer.C:
			hung = true
			p.cmd.Process.Kill()
			err = <-p.done
		}
	}
	p.done <- err // wait may be called again (cleanup)
	b, _ := os.ReadFile(p.outF)
	r := ucwOut{out: string(b), argv: p.argv}
	var ee *exec.ExitError
	switch {
	case hung:
		r.code = -1
		r.out = fmt.Sprintf("HUNG: still running after %v, killed\n%s", d, r.out)
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		r.code, r.out = -1, err.Error()
	}
	return r
}

// run runs argv to its end, at most d.
func (e *ucwEnv) run(d time.Duration, argv ...string) ucwOut { return e.start(argv...).wait(d) }

// want fails the test unless r exited with code.
func (e *ucwEnv) want(r ucwOut, code int) {
	e.t.Helper()
	if r.code != code {
		e.t.Fatalf("want exit %d: %s", code, r)
	}
}

func (e *ucwEnv) ucwctl(action string, cmd ...string) []string {
	argv := []string{e.b.ucwctl, "--" + action, "--pid-file", e.pid}
	if len(cmd) > 0 {
		argv = append(append(argv, "--"), cmd...)
	}
	return argv
}

func (e *ucwEnv) ctl(verb string, args ...string) []string {
	return append([]string{e.b.ctl, verb, "--pid-file", e.pid, "--timeout", "25s"}, args...)
}

func (e *ucwEnv) helloCmd(verb string) []string {
	return []string{e.b.hello, verb, "--pid-file", e.pid, "--log-file", e.log}
}

func (e *ucwEnv) ucwdCmd(extra ...string) []string {
	return append([]string{e.b.ucwd, "-p", e.pid, "-r", e.rec}, extra...)
}

// daemon requires the PID file to be locked and to name a live process
// that has it open, and returns that PID (registered for cleanup).
func (e *ucwEnv) daemon() int {
	e.t.Helper()
	b, err := os.ReadFile(e.pid)
	if err != nil {
		e.t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSuffix(string(b), "\n"))
	if err != nil || pid <= 1 {
		e.t.Fatalf("pid file %s holds %q, want a PID", e.pid, b)
	}
	e.mu.Lock()
	e.seen[pid] = true
	e.mu.Unlock()
	if !ucwLocked(e.pid) {
		e.t.Fatalf("pid file %s names %d but is not locked", e.pid, pid)
	}
	if h := holding([]int{pid}, e.pid); len(h) != 1 {
		e.t.Fatalf("pid file %s names %d, which does not have it open (alive: %v)", e.pid, pid, proctest.Alive(pid))
	}
	return pid
}

// gone requires pid to have exited (it is reaped: we are PID 1) and the
// PID file to be unlocked and empty.
func (e *ucwEnv) gone(pid int) {
	e.t.Helper()
	proctest.WaitFor(e.t, 10*time.Second, "pid "+strconv.Itoa(pid)+" to exit", func() bool { return !proctest.Alive(pid) })
	proctest.Reap(pid)
	if ucwLocked(e.pid) {
		e.t.Fatalf("pid file %s still locked after the daemon exited", e.pid)
	}
	if b, _ := os.ReadFile(e.pid); len(b) != 0 {
		e.t.Fatalf("pid file %s holds %q after a clean stop, want empty", e.pid, b)
	}
}

// guardFree requires that nobody holds the guard file once an action has
// ended, and that the daemon neither has it open nor was told about it.
func (e *ucwEnv) guardFree(daemon int) {
	e.t.Helper()
	if ucwLocked(e.guard) {
		e.t.Fatalf("guard file %s is still locked after the action ended", e.guard)
	}
	if h := holding([]int{daemon}, e.guard); len(h) != 0 {
		e.t.Fatalf("daemon %d has the guard file %s open: %v", daemon, e.guard, openFDs(e.t, daemon))
	}
	env, _ := os.ReadFile("/proc/" + strconv.Itoa(daemon) + "/environ")
	if bytes.Contains(env, []byte("DAEMONKIT_GUARD")) {
		e.t.Fatalf("daemon %d was given the guard in its environment: %q", daemon, env)
	}
}

// ucwLocked reports whether someone holds an exclusive flock on path, by
// trying a shared one without waiting (and dropping it at once). It is
// only called where no action can be taking a lock at the same moment:
// between the steps of a case, or while the guard is held.
func ucwLocked(path string) bool {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
	if err != nil {
		return false
	}
	defer unix.Close(fd)
	return unix.Flock(fd, unix.LOCK_SH|unix.LOCK_NB) == unix.EWOULDBLOCK
}

// ucwStat returns the fields of /proc/PID/stat after the command name.
func ucwStat(t *testing.T, pid int) (pgrp, session, ttyNr int) {
	f := procStat(t, pid)
	pgrp, _ = strconv.Atoi(f[2])
	session, _ = strconv.Atoi(f[3])
	ttyNr, _ = strconv.Atoi(f[4])
	return
}

// (a) libucw's controller starts, checks, reloads and stops a framework
// service through the service's own start verb: the service must see that
// its controller holds the guard and start at once.
func ucwctlDrivesHello(t *testing.T, e *ucwEnv) {
	e.want(e.run(e.startWait, e.ucwctl("start", e.helloCmd("start")...)...), ucwOK)
	pid := e.daemon()
	e.guardFree(pid)
	e.want(e.run(e.quickWait, e.ucwctl("check")...), ucwOK)
	e.want(e.run(e.quickWait, e.ucwctl("start", e.helloCmd("start")...)...), ucwDone)
	e.want(e.run(e.quickWait, e.helloCmd("status")...), ucwOK)
	e.want(e.run(e.quickWait, e.ucwctl("reload")...), ucwOK)
	waitFileContains(t, e.log, "reloading")
	e.want(e.run(e.startWait, e.ucwctl("stop")...), ucwOK)
	e.gone(pid)
	e.want(e.run(e.quickWait, e.ucwctl("check")...), ucwNotRunning)
}

// (a) through a wrapper script that forks (does not exec) the start verb.
func ucwctlStartsHelloThroughWrapper(t *testing.T, e *ucwEnv) {
	wrapper := []string{"sh", "-c", `"$0" start --pid-file "$1" --log-file "$2"; exit $?`, e.b.hello, e.pid, e.log}
	e.want(e.run(e.startWait, e.ucwctl("start", wrapper...)...), ucwOK)
	pid := e.daemon()
	e.guardFree(pid)
	e.want(e.run(e.startWait, e.ucwctl("stop")...), ucwOK)
	e.gone(pid)
}

// (b) daemonctl starts a libucw daemon, whose setsid() in daemon_run must
// succeed (it must not be made a process-group leader), and which must not
// inherit the guard; then status, reload and stop.
func daemonctlDrivesUCWD(t *testing.T, e *ucwEnv) {
	e.want(e.run(e.startWait, e.ctl("start", append([]string{"--"}, e.ucwdCmd()...)...)...), ucwOK)
	pid := e.daemon()
	waitFileContains(t, e.rec, "running pid="+strconv.Itoa(pid))
	rec, _ := os.ReadFile(e.rec)
	m := regexp.MustCompile(`setsid ok sid=(\d+)`).FindSubmatch(rec)
	if m == nil {
		t.Fatalf("setsid() in daemon_run failed under daemonctl start (record: %q): the start command was made a process-group leader", rec)
	}
	sid, _ := strconv.Atoi(string(m[1]))
	ours, _ := unix.Getsid(0)
	pgrp, session, tty := ucwStat(t, pid)
	if session != sid || pgrp != sid || session == ours || tty != 0 {
		t.Fatalf("daemon %d: session %d, process group %d, tty %d; want the session %d that daemon_run made (ours is %d), no tty", pid, session, pgrp, tty, sid, ours)
	}
	e.guardFree(pid)
	e.want(e.run(e.quickWait, e.ctl("status")...), ucwOK)
	e.want(e.run(e.quickWait, e.ctl("reload")...), ucwOK)
	waitFileContains(t, e.rec, "hup 1")
	e.want(e.run(e.startWait, e.ctl("stop")...), ucwOK)
	waitFileContains(t, e.rec, "term")
	e.gone(pid)
	e.want(e.run(e.quickWait, e.ucwctl("check")...), ucwNotRunning)
}

// (c) started by libucw's controller, checked and stopped by daemonctl.
func mixedUCWCtlStartsUCWD(t *testing.T, e *ucwEnv) {
	e.want(e.run(e.startWait, e.ucwctl("start", e.ucwdCmd()...)...), ucwOK)
	pid := e.daemon()
	e.want(e.run(e.quickWait, e.ctl("status")...), ucwOK)
	e.want(e.run(e.quickWait, e.ctl("start", "--", e.b.ucwd, "-p", e.pid)...), ucwDone)
	e.want(e.run(e.quickWait, e.ctl("reload")...), ucwOK)
	waitFileContains(t, e.rec, "hup 1")
	e.want(e.run(e.startWait, e.ctl("stop")...), ucwOK)
	e.gone(pid)
	e.want(e.run(e.quickWait, e.ucwctl("check")...), ucwNotRunning)
}

// (c) started by daemonctl, reloaded and stopped by libucw's controller.
func mixedDaemonctlStartsUCWD(t *testing.T, e *ucwEnv) {
	e.want(e.run(e.startWait, e.ctl("start", append([]string{"--"}, e.ucwdCmd()...)...)...), ucwOK)
	pid := e.daemon()
	e.want(e.run(e.quickWait, e.ucwctl("check")...), ucwOK)
	e.want(e.run(e.quickWait, e.ucwctl("start", e.ucwdCmd()...)...), ucwDone)
	e.want(e.run(e.quickWait, e.ucwctl("reload")...), ucwOK)
	waitFileContains(t, e.rec, "hup 1")
	e.want(e.run(e.startWait, e.ucwctl("stop")...), ucwOK)
	e.gone(pid)
	e.want(e.run(e.quickWait, e.ctl("status")...), ucwNotRunning)
}

// (c) a framework service started by daemonctl through its start verb,
// stopped by libucw's controller.
func mixedDaemonctlStartsHello(t *testing.T, e *ucwEnv) {
	e.want(e.run(e.startWait, e.ctl("start", append([]string{"--"}, e.helloCmd("start")...)...)...), ucwOK)
	pid := e.daemon()
	e.guardFree(pid)
	e.want(e.run(e.quickWait, e.ucwctl("check")...), ucwOK)
	e.want(e.run(e.quickWait, e.ucwctl("reload")...), ucwOK)
	waitFileContains(t, e.log, "reloading")
	e.want(e.run(e.startWait, e.ucwctl("stop")...), ucwOK)
	e.gone(pid)
	e.want(e.run(e.quickWait, e.ctl("status")...), ucwNotRunning)
}

// (c) a framework service started by libucw's controller, stopped by
// daemonctl.
func mixedUCWCtlStartsHello(t *testing.T, e *ucwEnv) {
	e.want(e.run(e.startWait, e.ucwctl("start", e.helloCmd("start")...)...), ucwOK)
	pid := e.daemon()
	e.want(e.run(e.quickWait, e.ctl("status")...), ucwOK)
	e.want(e.run(e.startWait, e.ctl("stop")...), ucwOK)
	e.gone(pid)
	e.want(e.run(e.quickWait, e.ucwctl("check")...), ucwNotRunning)
}

// (d) a daemon killed with SIGKILL leaves "<pid>\n" unlocked: both
// controllers report stale (103) and keep the file, stop included, and
// either can start it again (103: it was stale).
func staleAfterSIGKILL(t *testing.T, e *ucwEnv) {
	e.want(e.run(e.startWait, e.ucwctl("start", e.ucwdCmd()...)...), ucwOK)
	pid := e.daemon()
	proctest.Kill(pid) // SIGKILL, and reaped: we are its PID 1
	content, _ := os.ReadFile(e.pid)
	if string(content) != strconv.Itoa(pid)+"\n" {
		t.Fatalf("pid file holds %q after SIGKILL, want %d", content, pid)
	}
	kept := func(what string) {
		t.Helper()
		if b, _ := os.ReadFile(e.pid); !bytes.Equal(b, content) {
			t.Fatalf("%s changed the stale pid file from %q to %q", what, content, b)
		}
	}
	e.want(e.run(e.quickWait, e.ucwctl("check")...), ucwStale)
	e.want(e.run(e.quickWait, e.ctl("status")...), ucwStale)
	e.want(e.run(e.quickWait, e.ucwctl("reload")...), ucwNotRunning)
	e.want(e.run(e.quickWait, e.ctl("reload")...), ucwNotRunning)
	kept("check and reload")
	e.want(e.run(e.quickWait, e.ucwctl("stop")...), ucwStale)
	kept("ucwctl --stop")
	r := e.run(e.quickWait, e.ctl("stop")...)
	e.want(r, ucwStale)
	if !strings.Contains(r.out, "died") {
		t.Fatalf("daemonctl stop on a stale pid file does not say that the daemon died: %s", r)
	}
	kept("daemonctl stop")
	e.want(e.run(e.quickWait, e.ucwctl("check")...), ucwStale)

	// Started again over the stale file, by each controller: 103.
	e.want(e.run(e.startWait, e.ucwctl("start", e.ucwdCmd()...)...), ucwStale)
	pid = e.daemon()
	proctest.Kill(pid)
	e.want(e.run(e.startWait, e.ctl("start", append([]string{"--"}, e.ucwdCmd()...)...)...), ucwStale)
	pid = e.daemon()
	e.want(e.run(e.startWait, e.ctl("stop")...), ucwOK)
	e.gone(pid)
}

// (e) a PID file named ".pid": both controllers use DIR/.lock as its
// guard, so an action of one waits for an action of the other.
func dotPIDGuard(t *testing.T, e *ucwEnv) {
	if e.guard != filepath.Join(e.dir, ".lock") {
		t.Fatalf("guard %s, want DIR/.lock", e.guard)
	}
	// A start command that blocks until released: the controller running
	// it holds the guard meanwhile.
	blocker := func(n string) ([]string, func()) {
		started, release := filepath.Join(e.dir, "started."+n), filepath.Join(e.dir, "release."+n)
		argv := []string{"sh", "-c", `: > "$1"; i=0; while [ ! -e "$2" ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done`, "sh", started, release}
		return argv, func() {
			t.Helper()
			proctest.WaitFor(t, e.startWait, "the start command to run", func() bool { _, err := os.Stat(started); return err == nil })
		}
	}
	released := func(n string) {
		if err := os.WriteFile(filepath.Join(e.dir, "release."+n), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	// libucw's controller holds DIR/.lock: daemonctl waits for it.
	argv, running := blocker("1")
	ucw := e.start(e.ucwctl("start", argv...)...)
	running()
	if !ucwLocked(e.guard) {
		t.Fatalf("ucwctl does not hold %s during its action", e.guard)
	}
	r := e.run(e.quickWait, e.b.ctl, "status", "--pid-file", e.pid, "--timeout", "1s")
	if r.code != ucwError {
		t.Errorf("daemonctl status did not wait for the guard %s that ucwctl holds: %s", e.guard, r)
	}
	released("1")
	e.want(ucw.wait(e.startWait), ucwOK)

	// daemonctl holds DIR/.lock: libucw's controller waits for it.
	argv, running = blocker("2")
	ctl := e.start(e.ctl("start", append([]string{"--"}, argv...)...)...)
	running()
	if !ucwLocked(e.guard) {
		t.Errorf("daemonctl does not hold %s during its action (libucw's guard for %s)", e.guard, e.pid)
	}
	check := e.start(e.ucwctl("check")...)
	if proctest.Eventually(time.Second, func() bool { return len(check.done) > 0 }) {
		t.Errorf("ucwctl --check answered while daemonctl start held the guard: %s", check.wait(0))
	}
	released("2")
	ctl.wait(e.startWait) // its command started no daemon: not a success, not this case's point
	e.want(check.wait(e.quickWait), ucwNotRunning)
}

// (g) under umask 000 a libucw daemon creates a world-writable PID file
// (0666 & ~umask): daemonctl start must not report a running daemon as a
// failed start, and must say what is unsafe.
func umask000Daemon(t *testing.T, e *ucwEnv) {
	r := e.run(e.startWait, e.ctl("start", append([]string{"--"}, e.ucwdCmd("-m", "000")...)...)...)
	if st, err := os.Stat(e.pid); err != nil || st.Mode().Perm() != 0o666 {
		t.Fatalf("the libucw daemon did not create a 0666 pid file under umask 000: %v %v", st, err)
	}
	pid := e.daemon()
	if r.code != ucwOK || strings.Contains(r.out, "failed") || !strings.Contains(r.out, "world-writable") {
		t.Errorf("daemonctl start of a daemon that runs (pid %d) with a world-writable pid file: want exit 0 and a warning that says world-writable, not a failure: %s", pid, r)
	}
	e.want(e.run(e.startWait, e.ucwctl("stop")...), ucwOK)
	e.gone(pid)
}

// ucwStormOp is one kind of storm operation and the exit codes it may end
// with (never 102 and never a hang: nothing fails in this storm).
type ucwStormOp struct {
	argv func(e *ucwEnv) []string
	ok   []int
}

func ucwStormKinds() []ucwStormOp {
	starts, stops, checks, reloads := []int{ucwOK, ucwDone}, []int{ucwOK, ucwDone}, []int{ucwOK, ucwNotRunning}, []int{ucwOK, ucwNotRunning}
	dash := func(s []string) []string { return append([]string{"--"}, s...) }
	return []ucwStormOp{
		{func(e *ucwEnv) []string { return e.ucwctl("start", e.b.ucwd, "-p", e.pid) }, starts},
		{func(e *ucwEnv) []string { return e.ucwctl("start", e.helloCmd("start")...) }, starts},
		{func(e *ucwEnv) []string { return e.ctl("start", dash([]string{e.b.ucwd, "-p", e.pid})...) }, starts},
		{func(e *ucwEnv) []string { return e.ctl("start", dash(e.helloCmd("start"))...) }, starts},
		{func(e *ucwEnv) []string { return e.helloCmd("start") }, starts},
		{func(e *ucwEnv) []string { return e.ucwctl("stop") }, stops},
		{func(e *ucwEnv) []string { return e.ctl("stop") }, stops},
		{func(e *ucwEnv) []string { return e.helloCmd("stop") }, stops},
		{func(e *ucwEnv) []string { return e.ucwctl("check") }, checks},
		{func(e *ucwEnv) []string { return e.ctl("status") }, checks},
		{func(e *ucwEnv) []string { return e.helloCmd("status") }, checks},
		{func(e *ucwEnv) []string { return e.ucwctl("reload") }, reloads},
		{func(e *ucwEnv) []string { return e.ctl("reload") }, reloads},
	}
}

// (f) a storm: clients run both controllers' and the service's own verbs
// on one PID file at once; after every operation, holding the guard (so
// between actions), the invariants are checked: at most one live daemon,
// none that the PID file does not name, a locked PID file names a live
// daemon, an unlocked one is empty; no command hangs.
func ucwStorm(t *testing.T, e *ucwEnv) {
	const clients = 4
	ops := ucwStormKinds()
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		tally = map[string]int{}
	)
	for c := range clients {
		wg.Go(func() {
			for i := range *ucwStormOps {
				op := ops[rand.N(len(ops))]
				r := e.run(45*time.Second, op.argv(e)...)
				mu.Lock()
				tally[fmt.Sprintf("%s %s: %d", filepath.Base(r.argv[0]), r.argv[1], r.code)]++
				mu.Unlock()
				if !containsInt(op.ok, r.code) {
					t.Errorf("client %d op %d: want exit %v: %s", c, i, op.ok, r)
					return
				}
				if err := e.checkUnderGuard(); err != nil {
					t.Errorf("client %d op %d (%s): %v", c, i, strings.Join(r.argv, " "), err)
					return
				}
			}
		})
	}
	wg.Wait()
	e.mu.Lock()
	t.Logf("%d daemons seen; operations and exit codes: %v", len(e.seen), tally)
	e.mu.Unlock()
	if t.Failed() {
		return
	}
	r := e.run(e.startWait, e.ctl("stop")...)
	if r.code != ucwOK && r.code != ucwDone {
		t.Fatalf("final stop: %s", r)
	}
	if err := e.checkUnderGuard(); err != nil {
		t.Fatal(err)
	}
}

func containsInt(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// checkUnderGuard holds the guard with flock(1) (a sibling of every
// controller, never their ancestor) and checks the PID file against the
// processes that have it open.
func (e *ucwEnv) checkUnderGuard() error {
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	defer r.Close()
	cmd := exec.Command("flock", "-x", e.guard, "sh", "-c", "echo locked; read x")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		w.Close()
		return err
	}
	cmd.Stdout = w
	err = cmd.Start()
	w.Close()
	if err != nil {
		return err
	}
	defer func() { stdin.Close(); cmd.Wait() }()
	r.SetReadDeadline(time.Now().Add(45 * time.Second))
	buf := make([]byte, 7)
	if n, err := r.Read(buf); err != nil || string(buf[:n]) != "locked\n" {
		cmd.Process.Kill()
		return fmt.Errorf("could not take the guard %s within 45 s (a hung controller?): %q %v", e.guard, buf, err)
	}
	return e.checkInvariants()
}

// checkInvariants checks, between actions, that at most one process has
// the PID file open, that a locked file names exactly that live process,
// and that an unlocked one is empty.
func (e *ucwEnv) checkInvariants() error {
	var holders []int
	ents, _ := os.ReadDir("/proc")
	for _, d := range ents {
		if pid, err := strconv.Atoi(d.Name()); err == nil && pid != os.Getpid() {
			holders = append(holders, pid)
		}
	}
	holders = holding(holders, e.pid)
	content, _ := os.ReadFile(e.pid)
	locked := ucwLocked(e.pid)
	e.mu.Lock()
	for _, pid := range holders {
		e.seen[pid] = true
	}
	for pid := range e.seen {
		if !proctest.Alive(pid) {
			proctest.Reap(pid)
		}
	}
	e.mu.Unlock()
	named, perr := strconv.Atoi(strings.TrimSuffix(string(content), "\n"))
	switch {
	case len(holders) > 1:
		return fmt.Errorf("two live daemons have the pid file open: %v (it holds %q)", holders, content)
	case locked && (perr != nil || !proctest.Alive(named)):
		return fmt.Errorf("the locked pid file holds %q, not a live daemon's PID (holders %v)", content, holders)
	case locked && (len(holders) != 1 || holders[0] != named):
		return fmt.Errorf("the pid file names %d but the processes that have it open are %v", named, holders)
	case !locked && len(holders) != 0:
		return fmt.Errorf("processes %v have the pid file open but it is not locked (it holds %q)", holders, content)
	case !locked && len(content) != 0:
		return fmt.Errorf("between actions the unlocked pid file holds %q; nothing dies in this storm", content)
	}
	return nil
}
