//go:build linux

package integration_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/daemonkit/daemonkit/internal/proctest"
)

// The init scripts shipped for examples/httpd, driven as an init system
// would: the SysV script directly, the OpenRC runscript through the real
// openrc-run. Each runs inside a private PID and mount namespace (the
// tests kill a daemon by the PID its file names, and OpenRC keeps its
// state under /run/openrc, here a private tmpfs); the test checks the
// effects from outside: HTTP on a loopback port, the daemon's log, the
// PID file.

// initFixture is examples/httpd built into a test directory, with the
// files an init script points it at.
type initFixture struct {
	dir     string // t.TempDir(), made world-searchable
	httpd   string // the binary
	conf    string // its config file, readable by nobody
	pidFile string
	logFile string
	addr    string // a free loopback host:port for --listen
}

func newInitFixture(t *testing.T) *initFixture {
	t.Helper()
	proctest.RequireRoot(t)
	requireTools(t, "unshare", "mount", "sh")
	dir := t.TempDir()
	// Build makes dir and its parent world-searchable: the daemon runs
	// as nobody and reads its config from dir.
	httpd, err := proctest.Build(dir, "./examples/httpd")
	if err != nil {
		t.Fatal(err)
	}
	f := &initFixture{
		dir:     dir,
		httpd:   httpd,
		conf:    filepath.Join(dir, "httpd.conf"),
		pidFile: filepath.Join(dir, "httpd.pid"),
		logFile: filepath.Join(dir, "httpd.log"),
		addr:    freeLoopback(t),
	}
	f.setGreeting(t, "first")
	return f
}

// setGreeting writes the config file.
func (f *initFixture) setGreeting(t *testing.T, g string) {
	t.Helper()
	if err := os.WriteFile(f.conf, []byte("greeting = "+g+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

// requireAnswers fails t unless GET / answers greeting.
func (f *initFixture) requireAnswers(t *testing.T, greeting string) {
	t.Helper()
	if code, body := httpGet(t, f.addr, "/"); code != 200 || body != greeting+"\n" {
		t.Fatalf("GET http://%s/: %d %q, want 200 %q", f.addr, code, body, greeting+"\n")
	}
}

// requireRefused fails t unless nothing listens on the address any more.
func (f *initFixture) requireRefused(t *testing.T) {
	t.Helper()
	c, err := net.DialTimeout("tcp", f.addr, 10*time.Second)
	if err == nil {
		c.Close()
		t.Fatalf("%s still accepts connections after stop", f.addr)
	}
	if !errors.Is(err, unix.ECONNREFUSED) {
		t.Fatalf("dial %s after stop: %v, want connection refused", f.addr, err)
	}
}

// pid returns what the PID file holds: a PID in the namespace's
// numbering, only compared, never signalled from here.
func (f *initFixture) pid(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(f.pidFile)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// waitReloads waits until the daemon's log shows n reloads, the last
// one with config generation n+1.
func (f *initFixture) waitReloads(t *testing.T, n int) {
	t.Helper()
	var log string
	ok := proctest.Eventually(time.Minute, func() bool {
		b, _ := os.ReadFile(f.logFile)
		log = string(b)
		return strings.Count(log, `msg="config reloaded"`) == n &&
			strings.Contains(log, fmt.Sprintf("generation=%d\n", n+1))
	})
	if !ok {
		t.Fatalf("log %s does not show reload %d (generation=%d) within a minute:\n%s", f.logFile, n, n+1, log)
	}
}

// waitDead waits until nobody holds the PID file's lock: the killed
// daemon is gone.
func (f *initFixture) waitDead(t *testing.T) {
	t.Helper()
	proctest.WaitFor(t, time.Minute, "the killed daemon to release "+f.pidFile, func() bool {
		fd, err := unix.Open(f.pidFile, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			t.Fatalf("open %s: %v", f.pidFile, err)
		}
		defer unix.Close(fd)
		return unix.Flock(fd, unix.LOCK_SH|unix.LOCK_NB) == nil
	})
}

// TestSysVInitScript runs examples/httpd/init/httpd.sysv, its variables
// pointed at the test's files (DAEMON, PIDFILE, LOGFILE, DEFAULTS) and
// the defaults file setting LISTEN and CONFIG, through every action and
// state, with the LSB exit statuses: status 3 before the first start and
// after a stop, 0 while running, 1 once the daemon was killed; start,
// stop and restart 0, also when there is nothing to do; reload 0, with
// the reload in the log, 7 on a dead daemon; 1 for a start that fails;
// 2 for a bad action; 5 and 4 when the binary is missing.
func TestSysVInitScript(t *testing.T) {
	f := newInitFixture(t)
	defaults := filepath.Join(f.dir, "defaults")
	if err := os.WriteFile(defaults, fmt.Appendf(nil, "LISTEN=%s\nCONFIG=%s\n", f.addr, f.conf), 0o644); err != nil {
		t.Fatal(err)
	}
	script := installScript(t, "examples/httpd/init/httpd.sysv", filepath.Join(f.dir, "init.d", "httpd-example"), map[string]string{
		"DAEMON": f.httpd, "PIDFILE": f.pidFile, "LOGFILE": f.logFile, "DEFAULTS": defaults,
	})
	missing := installScript(t, "examples/httpd/init/httpd.sysv", filepath.Join(f.dir, "init.d", "httpd-missing"), map[string]string{
		"DAEMON": filepath.Join(f.dir, "no-such-binary"), "PIDFILE": f.pidFile, "DEFAULTS": defaults,
	})
	sh := startNSShell(t, []string{"S=" + script, "F=" + f.pidFile}, "")

	sh.expect(3, `"$S" status`)
	sh.expect(7, `"$S" reload`)
	sh.expect(0, `"$S" stop`)

	sh.expect(0, `"$S" start`)
	f.requireAnswers(t, "first")
	sh.expect(0, `test "$(stat -c %U "/proc/$(cat "$F")")" = nobody`)
	first := f.pid(t)
	if out := sh.expect(0, `"$S" start`); !strings.Contains(out, "already running (pid "+first+")") {
		t.Errorf("second start: %q, want it to say already running (pid %s)", out, first)
	}
	sh.expect(0, `"$S" status`)

	f.setGreeting(t, "second")
	sh.expect(0, `"$S" reload`)
	f.waitReloads(t, 1)
	f.requireAnswers(t, "second")
	sh.expect(0, `"$S" force-reload`)
	f.waitReloads(t, 2)

	sh.expect(0, `"$S" restart`)
	f.requireAnswers(t, "second")
	if p := f.pid(t); p == first {
		t.Errorf("restart left pid %s in place", p)
	}
	sh.expect(0, `"$S" try-restart`)
	f.requireAnswers(t, "second")

	sh.expect(0, `"$S" stop`)
	f.requireRefused(t)
	if p := f.pid(t); p != "" {
		t.Errorf("PID file holds %q after stop, want it empty", p)
	}
	sh.expect(3, `"$S" status`)
	sh.expect(0, `"$S" stop`)
	sh.expect(0, `"$S" try-restart`) // not running: stays so
	sh.expect(3, `"$S" status`)
	sh.expect(0, `"$S" restart`) // restart starts a stopped daemon
	f.requireAnswers(t, "second")

	// Killed: the PID file names a dead process.
	sh.expect(0, `kill -KILL "$(cat "$F")"`)
	f.waitDead(t)
	sh.expect(1, `"$S" status`)
	sh.expect(7, `"$S" reload`)
	sh.expect(0, `"$S" try-restart`) // dead is not running
	sh.expect(1, `"$S" status`)
	sh.expect(0, `"$S" start`)
	sh.expect(0, `"$S" start`)
	f.requireAnswers(t, "second")
	sh.expect(0, `"$S" status`)
	sh.expect(0, `"$S" stop`)
	f.requireRefused(t)

	// A start that fails: LSB's generic failure, the reason on stderr.
	if err := os.WriteFile(f.conf, []byte("bogus = 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out := sh.expect(1, `"$S" start`); !strings.Contains(out, `unknown key "bogus"`) {
		t.Errorf("failed start says %q, want the config error", out)
	}
	sh.expect(3, `"$S" status`)

	sh.expect(2, `"$S" frobnicate`)
	sh.expect(2, `"$S"`)
	sh.expect(2, `"$S" start extra`)
	sh.expect(5, `"`+missing+`" start`)
	sh.expect(4, `"`+missing+`" status`)
}

// TestOpenRCRunscript runs examples/httpd/init/httpd.openrc with the real
// openrc-run, as an installed service: the script unchanged in init.d,
// its settings in ../conf.d/httpd-example, OpenRC's state on a private
// tmpfs at /run/openrc, --nodeps (the test must not start the host's
// net). start, stop, restart, reload and status keep the LSB statuses
// through OpenRC: status 3, 0, and 1 for a daemon killed behind OpenRC's
// back (which OpenRC itself still calls started); reload 7 on it, and a
// restart brings the daemon back. After a zap (OpenRC forgets the
// service), start finds the daemon running: 0, the same daemon.
func TestOpenRCRunscript(t *testing.T) {
	f := newInitFixture(t)
	const openrcRun = "/sbin/openrc-run" // the runscript's #! line
	if _, err := os.Stat(openrcRun); err != nil {
		t.Fatalf("the OpenRC runscript needs %s: %v; install the Debian package openrc (bash .ci/run does)", openrcRun, err)
	}
	script := installScript(t, "examples/httpd/init/httpd.openrc", filepath.Join(f.dir, "init.d", "httpd-example"), nil)
	conf := fmt.Sprintf("HTTPD_BIN=%s\nHTTPD_PIDFILE=%s\nHTTPD_LOGFILE=%s\nHTTPD_LISTEN=%s\nHTTPD_CONFIG=%s\n",
		f.httpd, f.pidFile, f.logFile, f.addr, f.conf)
	missing := installScript(t, "examples/httpd/init/httpd.openrc", filepath.Join(f.dir, "init.d", "httpd-missing"), nil)
	if err := os.Mkdir(filepath.Join(f.dir, "conf.d"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(f.dir, "conf.d", "httpd-example"), []byte(conf), 0o644)
	writeFile(t, filepath.Join(f.dir, "conf.d", "httpd-missing"), []byte("HTTPD_BIN="+filepath.Join(f.dir, "no-such-binary")+"\n"), 0o644)

	// OpenRC keeps its state in /run/openrc and refuses to act without
	// a softlevel file there (a system it did not boot). A tmpfs in this
	// mount namespace only; /run itself if the host has no /run/openrc.
	setup := `
if [ -d /run/openrc ]; then mount -t tmpfs -o mode=0755 openrc-test /run/openrc
else mount -t tmpfs -o mode=0755 run-test /run && mkdir /run/openrc; fi || exit 1
(cd /run/openrc && mkdir daemons exclusive failed hotplugged inactive options scheduled started starting stopping tmp wasinactive && touch softlevel) || exit 1
`
	sh := startNSShell(t, []string{"S=" + script, "M=" + missing, "F=" + f.pidFile}, setup)

	sh.expect(3, `"$S" --nodeps status`)
	sh.expect(0, `"$S" --nodeps start`)
	f.requireAnswers(t, "first")
	sh.expect(0, `test "$(stat -c %U "/proc/$(cat "$F")")" = nobody`)
	sh.expect(0, `"$S" --nodeps start`)
	sh.expect(0, `"$S" --nodeps status`)

	f.setGreeting(t, "second")
	sh.expect(0, `"$S" --nodeps reload`)
	f.waitReloads(t, 1)
	f.requireAnswers(t, "second")

	first := f.pid(t)
	sh.expect(0, `"$S" --nodeps zap`)
	if out := sh.expect(0, `"$S" --nodeps start`); !strings.Contains(out, "already running (pid "+first+")") {
		t.Errorf("start after zap: %q, want the service to say already running (pid %s)", out, first)
	}

	sh.expect(0, `kill -KILL "$(cat "$F")"`)
	f.waitDead(t)
	sh.expect(1, `"$S" --nodeps status`)
	sh.expect(7, `"$S" --nodeps reload`)
	sh.expect(0, `"$S" --nodeps restart`)
	f.requireAnswers(t, "second")
	if p := f.pid(t); p == first {
		t.Errorf("restart after the kill left pid %s in place", p)
	}
	sh.expect(0, `"$S" --nodeps status`)

	sh.expect(0, `"$S" --nodeps stop`)
	f.requireRefused(t)
	if p := f.pid(t); p != "" {
		t.Errorf("PID file holds %q after stop, want it empty", p)
	}
	sh.expect(3, `"$S" --nodeps status`)
	sh.expect(0, `"$S" --nodeps stop`)
	sh.expect(0, `"$S" --nodeps start`)
	sh.expect(0, `"$S" --nodeps stop`)
	f.requireRefused(t)

	sh.expect(4, `"$M" --nodeps status`)
	if out := sh.expect(1, `"$M" --nodeps start`); !strings.Contains(out, "is not installed") {
		t.Errorf("start without the binary says %q, want \"is not installed\"", out)
	}
}

// installScript copies the module-relative script src to dst (mode 0755),
// with each line VAR=... for a key of vars replaced by VAR=value; a key
// the script does not assign at the start of a line fails t.
func installScript(t *testing.T, src, dst string, vars map[string]string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(proctest.ModuleRoot(), src))
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	for k, v := range vars {
		re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(k) + `=.*$`)
		if n := len(re.FindAllString(text, -1)); n != 1 {
			t.Fatalf("%s assigns %s on %d lines, want 1", src, k, n)
		}
		text = re.ReplaceAllLiteralString(text, k+"="+shQuote(v))
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, []byte(text), 0o755); err != nil {
		t.Fatal(err)
	}
	return dst
}

// shQuote quotes s for sh.
func shQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// freeLoopback returns a 127.0.0.1 address with a port nothing listens on.
func freeLoopback(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// requireTools fails t, naming the missing program, unless each is on PATH.
func requireTools(t *testing.T, names ...string) {
	t.Helper()
	for _, n := range names {
		if _, err := exec.LookPath(n); err != nil {
			t.Fatalf("this test needs %s: %v; install it (bash .ci/run installs what the tests need)", n, err)
		}
	}
}

// nsShell is sh running as PID 1 of a private PID and mount namespace
// (`unshare --pid --fork --kill-child --mount-proc`). The test sends it
// one command line at a time and gets back the exit status and output;
// everything those commands start lives in the namespace, and is killed
// when the shell ends (at cleanup, or when unshare is killed).
type nsShell struct {
	t     *testing.T
	in    io.Writer
	codes <-chan int
	out   string // each command's stdout and stderr
	errs  *proctest.Buffer
}

// nsCommandTimeout bounds one command: a stop may wait for the daemon's
// drain (its default time limit is 90 s).
const nsCommandTimeout = 3 * time.Minute

// startNSShell starts the shell with env added to the environment; setup
// is shell code run first (exiting ends the shell: the first command then
// fails the test with setup's messages).
func startNSShell(t *testing.T, env []string, setup string) *nsShell {
	t.Helper()
	out := filepath.Join(t.TempDir(), "ns.out")
	loop := setup + `
while IFS= read -r line; do
	sh -c "$line" >"$NS_OUT" 2>&1 </dev/null
	echo "rc $?"
done
`
	cmd := exec.Command("unshare", "--pid", "--fork", "--kill-child", "--mount-proc", "sh", "-c", loop)
	cmd.Env = append(append(os.Environ(), env...), "NS_OUT="+out)
	cmd.Dir = "/"
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	errs := &proctest.Buffer{}
	cmd.Stderr = errs
	if err := cmd.Start(); err != nil {
		t.Fatalf("unshare: %v", err)
	}
	codes := make(chan int, 1000) // never blocks the reader, even after the test stopped reading
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(codes)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if n, err := strconv.Atoi(strings.TrimPrefix(sc.Text(), "rc ")); err == nil {
				codes <- n
			}
		}
	}()
	t.Cleanup(func() {
		stdin.Close() // the loop ends; with PID 1 gone, the kernel kills the namespace
		select {
		case <-done:
		case <-time.After(time.Minute):
			t.Errorf("namespace shell (unshare pid %d) did not end within a minute of its input closing; killed", cmd.Process.Pid)
			cmd.Process.Kill()
			<-done
		}
		cmd.Wait()
	})
	return &nsShell{t: t, in: stdin, codes: codes, out: out, errs: errs}
}

// run runs line (one line of sh) in the namespace and returns its exit
// status and output.
func (s *nsShell) run(line string) (int, string) {
	s.t.Helper()
	if strings.Contains(line, "\n") {
		s.t.Fatalf("nsShell runs one line at a time: %q", line)
	}
	if _, err := io.WriteString(s.in, line+"\n"); err != nil {
		s.t.Fatalf("namespace shell gone before %q: %v\n%s", line, err, s.errs.String())
	}
	select {
	case code, ok := <-s.codes:
		if !ok {
			s.t.Fatalf("namespace shell ended before %q finished:\n%s", line, s.errs.String())
		}
		b, err := os.ReadFile(s.out)
		if err != nil {
			s.t.Fatal(err)
		}
		s.t.Logf("$ %s  # exit %d\n%s", line, code, b)
		return code, string(b)
	case <-time.After(nsCommandTimeout):
		s.t.Fatalf("%q did not finish within %v", line, nsCommandTimeout)
	}
	return 0, ""
}

// expect runs line and fails the test unless it exits with want; it
// returns the output.
func (s *nsShell) expect(want int, line string) string {
	s.t.Helper()
	code, out := s.run(line)
	if code != want {
		s.t.Fatalf("%s: exit %d, want %d; output:\n%s", line, code, want, out)
	}
	return out
}
