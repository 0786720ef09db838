package integration_test

import (
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/daemonkit/daemonkit/internal/proctest"
)

// environOf returns HOME, USER and LOGNAME of pid's environment.
func environOf(t *testing.T, pid int) string {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/environ")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, kv := range strings.Split(string(b), "\x00") {
		for _, k := range []string{"HOME=", "USER=", "LOGNAME="} {
			if strings.HasPrefix(kv, k) {
				got = append(got, kv)
			}
		}
	}
	return strings.Join(got, " ")
}

// nobodyDir returns a fresh directory that user nobody may enter.
func nobodyDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for d := dir; d != "/"; d = filepath.Dir(d) {
		if st, err := os.Stat(d); err == nil && st.Mode().Perm()&0o001 == 0 && strings.HasPrefix(d, os.TempDir()) && d != os.TempDir() {
			os.Chmod(d, st.Mode().Perm()|0o011)
		}
	}
	return dir
}

// TestLaunchIdentityEnvSame: started as user nobody, a framework daemon
// (hello start --user nobody) and a program daemonized by daemonctl
// start --background --user nobody get the same HOME, USER and LOGNAME,
// those of nobody's passwd entry.
func TestLaunchIdentityEnvSame(t *testing.T) {
	requireRoot(t)
	u, err := user.Lookup("nobody")
	if err != nil {
		t.Fatal(err)
	}
	hello, dctl := binary(t, "./examples/hello"), binary(t, "./cmd/daemonctl")
	dir := nobodyDir(t)
	fw, bg := filepath.Join(dir, "fw.pid"), filepath.Join(dir, "bg.pid")
	run(t, []string{"HOME=/root", "USER=root", "LOGNAME=root"}, hello, "start", "--pid-file", fw, "--user", "nobody").expect(t, 0, "hello start --user nobody")
	fwPID := daemonPID(t, fw)
	t.Cleanup(func() { run(t, nil, hello, "stop", "--pid-file", fw) })
	run(t, []string{"HOME=/root", "USER=root", "LOGNAME=root"}, dctl, "start", "--pid-file", bg, "--background", "--user", "nobody", "--", hello, "run").expect(t, 0, "daemonctl start --background --user nobody")
	bgPID := daemonPID(t, bg)
	t.Cleanup(func() { run(t, nil, dctl, "stop", "--pid-file", bg) })
	want := "HOME=" + u.HomeDir + " USER=nobody LOGNAME=nobody"
	if got := environOf(t, fwPID); got != want {
		t.Errorf("framework daemon: %q, want %q", got, want)
	}
	if got := environOf(t, bgPID); got != want {
		t.Errorf("daemonctl --background: %q, want %q", got, want)
	}
}

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("this test needs root (it switches to user nobody)")
	}
}

// TestLaunchOutputOpenerSame: both callers refuse a FIFO, a symbolic link
// and a hard-linked file as the output file, and start nothing.
func TestLaunchOutputOpenerSame(t *testing.T) {
	hello, dctl := binary(t, "./examples/hello"), binary(t, "./cmd/daemonctl")
	dir := t.TempDir()
	fifo, link, hard, target := filepath.Join(dir, "fifo"), filepath.Join(dir, "link"), filepath.Join(dir, "hard"), filepath.Join(dir, "target")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(target, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(target, hard); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ path, says string }{
		{fifo, "not a regular file: it is a FIFO"},
		{link, "symbolic links are not followed"},
		{hard, "hard link"},
	} {
		pf := filepath.Join(dir, filepath.Base(c.path)+".pid")
		r := run(t, nil, hello, "start", "--pid-file", pf, "--log-file", c.path)
		if r.code == 0 || !strings.Contains(r.stderr, "log file: open "+c.path) || !strings.Contains(r.stderr, c.says) {
			t.Errorf("hello --log-file %s: exit %d, %q; want a refusal saying %q", c.path, r.code, r.stderr, c.says)
		}
		pf2 := filepath.Join(dir, filepath.Base(c.path)+".bg.pid")
		r = run(t, nil, dctl, "start", "--pid-file", pf2, "--background", "--output", c.path, "--", "sleep", "100")
		if r.code == 0 || !strings.Contains(r.stderr, "output file: open "+c.path) || !strings.Contains(r.stderr, c.says) {
			t.Errorf("daemonctl --output %s: exit %d, %q; want a refusal saying %q", c.path, r.code, r.stderr, c.says)
		}
	}
	requireNoProcess(t, filepath.Join(dir, "fifo.bg.pid"))
}

// TestLaunchExecPermission: a binary user nobody cannot execute is named,
// with the user and the fix, not as "fork/exec /proc/self/exe".
func TestLaunchExecPermission(t *testing.T) {
	requireRoot(t)
	dir := t.TempDir() // 0700, root's
	bin := filepath.Join(dir, "svc")
	b, err := os.ReadFile(binary(t, "./examples/hello"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, b, 0o700); err != nil {
		t.Fatal(err)
	}
	r := run(t, nil, bin, "start", "--pid-file", filepath.Join(dir, "svc.pid"), "--user", "nobody")
	want := "user nobody cannot execute " + bin + ": put it where that user can read and execute it"
	if r.code == 0 || !strings.Contains(r.stderr, want) || strings.Contains(r.stderr, "/proc/self/exe") {
		t.Errorf("exit %d, %q; want a message saying %q", r.code, r.stderr, want)
	}
}

// TestLaunchRestartArgv: after a restart the daemon stage's command line
// reads "start", not "restart".
func TestLaunchRestartArgv(t *testing.T) {
	hello := binary(t, "./examples/hello")
	pf := filepath.Join(t.TempDir(), "h.pid")
	run(t, nil, hello, "start", "--pid-file", pf).expect(t, 0, "start")
	daemonPID(t, pf)
	run(t, nil, hello, "restart", "--pid-file", pf).expect(t, 0, "restart")
	pid := daemonPID(t, pf)
	t.Cleanup(func() { run(t, nil, hello, "stop", "--pid-file", pf) })
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil {
		t.Fatal(err)
	}
	args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
	if len(args) < 2 || args[1] != "start" || strings.Contains(string(b), "restart") {
		t.Errorf("daemon argv after restart: %q, want %q and its flags", args, []string{hello, "start"})
	}
}

// TestLaunchPathFlag: a path flag declared with Daemon.PathVar and given
// relative (--config rel.conf) names the same file in the daemon (which
// runs in /) as in the directory the launcher was started from; the default
// is resolved the same way.
func TestLaunchPathFlag(t *testing.T) {
	svc := binary(t, "./integration_test/pathsvc")
	dir := t.TempDir()
	for name, content := range map[string]string{"rel.conf": "from rel.conf\n", "default.conf": "from default.conf\n"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		args []string
		file string
	}{{[]string{"--config", "rel.conf"}, "rel.conf"}, {[]string{"-config=rel.conf"}, "rel.conf"}, {nil, "default.conf"}} {
		pf, copyTo := filepath.Join(dir, "p.pid"), filepath.Join(dir, "copy")
		os.Remove(copyTo)
		args := append([]string{"start", "--pid-file", "p.pid", "--copy-to", "copy"}, c.args...)
		cmd := runIn(t, dir, svc, args...)
		if cmd.code != 0 {
			t.Fatalf("pathsvc %v: exit %d: %s", args, cmd.code, cmd.stderr)
		}
		daemonPID(t, pf)
		proctest.WaitFor(t, 10*time.Second, "the copy", func() bool { _, err := os.Stat(copyTo); return err == nil })
		b, _ := os.ReadFile(copyTo)
		want := filepath.Join(dir, c.file) + "\nfrom " + c.file + "\n"
		if string(b) != want {
			t.Errorf("pathsvc %v: the daemon read %q, want %q", args, b, want)
		}
		runIn(t, dir, svc, "stop", "--pid-file", "p.pid").expect(t, 0, "stop")
	}
}

// runIn is run in working directory dir (a t.TempDir, no quoting needed).
func runIn(t *testing.T, dir, bin string, args ...string) result {
	t.Helper()
	return run(t, nil, "/bin/sh", "-c", "cd "+dir+" && exec "+bin+" "+strings.Join(args, " "))
}

// TestLaunchHookFailureOnce: a failing hook is reported once, by the
// launcher's error, whether it failed in the launcher (PreDetach) or in
// the daemon (PostDetach, with the log tail).
func TestLaunchHookFailureOnce(t *testing.T) {
	failing := binary(t, "./examples/failing")
	dir := t.TempDir()
	for _, c := range []struct{ stage, says string }{
		{"predetach", `config invalid: port missing`}, // not in a log line too
		{"postdetach", `post-detach hook "open-store": cannot open store: permission denied`},
	} {
		r := run(t, nil, failing, "start", "--pid-file", filepath.Join(dir, c.stage+".pid"),
			"--log-file", filepath.Join(dir, c.stage+".log"), "--fail-in", c.stage)
		if r.code != 1 || strings.Count(r.stderr, c.says) != 1 {
			t.Errorf("--fail-in %s: exit %d, stderr %q; want exit 1 and %q exactly once", c.stage, r.code, r.stderr, c.says)
		}
	}
}
