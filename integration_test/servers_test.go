//go:build linux

package integration_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/daemonkit/daemonkit/internal/proctest"
	"github.com/daemonkit/daemonkit/lockfile"
)

// requireBinary returns the path of a program installed on the system (by
// .ci/run). Where it is missing the test fails under CI (CI is set: .ci/run
// installs it, so a missing one is a broken CI), and is skipped elsewhere
// with how to install it.
func requireBinary(t *testing.T, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	if p, err := exec.LookPath("/usr/sbin/" + name); err == nil {
		return p
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s is not installed, but CI is set and .ci/run should have installed %s", name, pkg)
	}
	t.Skipf("skipped: %s is not installed (apt-get install %s; .ci/run installs it)", name, pkg)
	return ""
}

// requireStopped checks that a server stopped by daemonctl left an empty,
// unlocked PID file and none of its processes.
func requireStopped(t *testing.T, pidFile string, pids ...int) {
	t.Helper()
	requireReleased(t, pidFile)
	if b, err := os.ReadFile(pidFile); err != nil || len(b) != 0 {
		t.Errorf("pid file after stop: %q %v, want empty", b, err)
	}
	for _, pid := range pids {
		if !proctest.Eventually(10*time.Second, func() bool { return !proctest.Alive(pid) }) {
			t.Errorf("process %d still alive after stop", pid)
		}
	}
}

// childrenOf lists pid's children (its worker processes).
func childrenOf(pid int) []int {
	var kids []int
	tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	for _, task := range tasks {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/children", pid, task.Name()))
		for _, f := range strings.Fields(string(b)) {
			if n, err := strconv.Atoi(f); err == nil {
				kids = append(kids, n)
			}
		}
	}
	return kids
}

// TestRedisUnderDaemonctlNotify: redis-server --supervised systemd sends
// READY=1 when it accepts connections; daemonctl start --background
// --notify returns only then, so PING answers at once, without retrying.
// Stop leaves no process and an empty PID file.
func TestRedisUnderDaemonctlNotify(t *testing.T) {
	redis := requireBinary(t, "redis-server", "redis-server")
	daemonctl := binary(t, "./cmd/daemonctl")
	dir := t.TempDir()
	pidFile, out := filepath.Join(dir, "redis.pid"), filepath.Join(dir, "redis.out")
	addr := freeLoopbackAddr(t)
	_, port, _ := net.SplitHostPort(addr)

	run(t, nil, daemonctl, "start", "--pid-file", pidFile, "--background", "--notify", "--output", out,
		"--chdir", dir, "--", redis, "--supervised", "systemd", "--daemonize", "no",
		"--bind", "127.0.0.1", "--port", port, "--dir", dir, "--save", "", "--appendonly", "no").
		expect(t, 0, "daemonctl start redis-server")
	pid := daemonPID(t, pidFile)

	conn, err := net.Dial("tcp", addr)
	if err != nil {
		b, _ := os.ReadFile(out)
		t.Fatalf("redis not accepting on %s right after start returned: %v\n%s", addr, err, b)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	fmt.Fprintf(conn, "PING\r\n")
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil || line != "+PONG\r\n" {
		t.Fatalf("PING: %q %v", line, err)
	}
	conn.Close()

	run(t, nil, daemonctl, "stop", "--pid-file", pidFile).expect(t, 0, "daemonctl stop")
	requireStopped(t, pidFile, pid)
	if c, err := net.Dial("tcp", addr); err == nil {
		c.Close()
		t.Errorf("something still accepts on %s after stop", addr)
	}
}

// nginxConf is an nginx config that keeps every file under dir and serves
// body on addr.
func nginxConf(dir, addr, body string) string {
	user := ""
	if os.Geteuid() == 0 {
		user = "user root;\n" // workers must read files under dir (mode 0700)
	}
	return fmt.Sprintf(`%sworker_processes 1;
pid %[2]s/nginx.pid;
error_log %[2]s/error.log;
events { worker_connections 64; }
http {
	access_log off;
	client_body_temp_path %[2]s/body;
	proxy_temp_path %[2]s/proxy;
	fastcgi_temp_path %[2]s/fastcgi;
	uwsgi_temp_path %[2]s/uwsgi;
	scgi_temp_path %[2]s/scgi;
	server {
		listen %[3]s;
		location / { return 200 "%[4]s\n"; }
	}
}
`, user, dir, addr, body)
}

// TestNginxUnderDaemonctl: nginx in the foreground (daemon off) started
// with --background, reloaded with daemonctl reload (its master re-reads
// the config and keeps its PID), stopped with no process left.
func TestNginxUnderDaemonctl(t *testing.T) {
	nginx := requireBinary(t, "nginx", "nginx-light")
	daemonctl := binary(t, "./cmd/daemonctl")
	dir := t.TempDir()
	pidFile, out, conf := filepath.Join(dir, "daemonctl-nginx.pid"), filepath.Join(dir, "nginx.out"), filepath.Join(dir, "nginx.conf")
	addr := freeLoopbackAddr(t)
	if err := os.WriteFile(conf, []byte(nginxConf(dir, addr, "version one")), 0o644); err != nil {
		t.Fatal(err)
	}
	run(t, nil, daemonctl, "start", "--pid-file", pidFile, "--background", "--output", out,
		"--", nginx, "-p", dir, "-c", conf, "-g", "daemon off;").expect(t, 0, "daemonctl start nginx")
	pid := daemonPID(t, pidFile)

	get := func() string {
		c := &http.Client{Timeout: 5 * time.Second}
		resp, err := c.Get("http://" + addr + "/")
		if err != nil {
			return err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	var got string
	if !proctest.Eventually(30*time.Second, func() bool { got = get(); return got == "version one\n" }) {
		b, _ := os.ReadFile(filepath.Join(dir, "error.log"))
		t.Fatalf("nginx answers %q, want version one\n%s", got, b)
	}
	workers := childrenOf(pid)

	if err := os.WriteFile(conf, []byte(nginxConf(dir, addr, "version two")), 0o644); err != nil {
		t.Fatal(err)
	}
	run(t, nil, daemonctl, "reload", "--pid-file", pidFile).expect(t, 0, "daemonctl reload")
	if !proctest.Eventually(30*time.Second, func() bool { got = get(); return got == "version two\n" }) {
		b, _ := os.ReadFile(filepath.Join(dir, "error.log"))
		t.Fatalf("after reload nginx answers %q, want version two\n%s", got, b)
	}
	if info, err := lockfile.Inspect(pidFile); err != nil || info.State != lockfile.Running || info.PID != pid {
		t.Fatalf("after reload: %+v %v; want running with the same master pid %d", info, err, pid)
	}
	workers = append(workers, childrenOf(pid)...)

	run(t, nil, daemonctl, "stop", "--pid-file", pidFile).expect(t, 0, "daemonctl stop")
	requireStopped(t, pidFile, append(workers, pid)...)
}

// TestHTTPDDrainsOnStop: examples/httpd binds its port in PreDetach (as
// root a privileged one, then runs as nobody), and on stop drains: new
// connections are refused while a request in flight is still served to
// its end, then the PID file is emptied and the process is gone.
func TestHTTPDDrainsOnStop(t *testing.T) {
	httpd := binary(t, "./examples/httpd")
	daemonctl := binary(t, "./cmd/daemonctl")
	dir := t.TempDir()
	pidFile, logFile := filepath.Join(dir, "httpd.pid"), filepath.Join(dir, "httpd.log")
	args := []string{"start", "--pid-file", pidFile, "--log-file", logFile}
	var addr string
	if os.Geteuid() == 0 {
		addr = freePrivilegedLoopbackAddr(t)
		args = append(args, "--user", "nobody")
	} else {
		addr = freeLoopbackAddr(t)
	}
	args = append(args, "--listen", addr)
	run(t, nil, httpd, args...).expect(t, 0, "httpd start")
	pid := daemonPID(t, pidFile)
	if os.Geteuid() == 0 {
		if uid := procStatus(t, pid)["Uid"]; uid != "65534 65534 65534 65534" {
			t.Errorf("daemon uids %q, want nobody's", uid)
		}
	}
	if code, body := httpGet(t, addr, "/healthz"); code != 200 || body != "ok generation=1\n" {
		t.Fatalf("/healthz: %d %q", code, body)
	}

	// A request in flight: its body is still being sent.
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(time.Minute))
	fmt.Fprintf(conn, "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nhello\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	rd := bufio.NewReader(resp.Body)
	if line, err := rd.ReadString('\n'); line != "started\n" {
		t.Fatalf("echo: %q %v", line, err)
	}

	stopped := make(chan result, 1)
	go func() {
		// run calls t.Fatalf only on a failure to start the command.
		stopped <- run(t, nil, daemonctl, "stop", "--pid-file", pidFile)
	}()
	proctest.WaitFor(t, 30*time.Second, "new connections to be refused", func() bool {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err != nil
	})
	if !proctest.Alive(pid) {
		t.Fatal("the daemon exited while a request was in flight")
	}
	select {
	case r := <-stopped:
		t.Fatalf("stop returned (%d, %s) while a request was in flight", r.code, r.stderr)
	default:
	}
	fmt.Fprintf(conn, "6\r\nworld\n\r\n0\r\n\r\n")
	rest, err := io.ReadAll(rd)
	if err != nil || string(rest) != "hello\nworld\ndone\n" {
		t.Fatalf("in-flight request: %q %v, want it served to the end", rest, err)
	}
	r := <-stopped
	r.expect(t, 0, "daemonctl stop")
	requireStopped(t, pidFile, pid)
	waitFileContains(t, logFile, "msg=stopped")
}

// freePrivilegedLoopbackAddr returns 127.0.0.1:P for a free port below
// 1024, which only root can bind.
func freePrivilegedLoopbackAddr(t *testing.T) string {
	t.Helper()
	for port := 900; port < 1024; port++ {
		ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err == nil {
			ln.Close()
			return ln.Addr().String()
		}
	}
	t.Skip("skipped: no free loopback port between 900 and 1023")
	return ""
}

// TestHTTPDLogReopenOnReload: logrotate's way (move the log file, then
// `daemonctl reload` in postrotate): the daemon reopens its log file on
// SIGHUP before the OnReload hooks, so the reload is logged to the new
// file, and the moved file gets nothing more.
func TestHTTPDLogReopenOnReload(t *testing.T) {
	httpd := binary(t, "./examples/httpd")
	daemonctl := binary(t, "./cmd/daemonctl")
	dir := t.TempDir()
	pidFile, logFile := filepath.Join(dir, "httpd.pid"), filepath.Join(dir, "httpd.log")
	run(t, nil, httpd, "start", "--pid-file", pidFile, "--log-file", logFile, "--listen", freeLoopbackAddr(t)).
		expect(t, 0, "httpd start")
	pid := daemonPID(t, pidFile)
	waitFileContains(t, logFile, "msg=listening")
	if err := os.Rename(logFile, logFile+".1"); err != nil {
		t.Fatal(err)
	}
	run(t, nil, daemonctl, "reload", "--pid-file", pidFile).expect(t, 0, "daemonctl reload")
	waitFileContains(t, logFile, `msg="config reloaded"`)
	if b, _ := os.ReadFile(logFile); !strings.HasPrefix(string(b), "time=") || !strings.Contains(strings.SplitN(string(b), "\n", 2)[0], "msg=reloading") {
		t.Errorf("the new log file does not start with the reload:\n%s", b)
	}
	run(t, nil, daemonctl, "stop", "--pid-file", pidFile).expect(t, 0, "daemonctl stop")
	requireStopped(t, pidFile, pid)
	waitFileContains(t, logFile, "msg=stopped")
	old, _ := os.ReadFile(logFile + ".1")
	if strings.Contains(string(old), "reloaded") || strings.Contains(string(old), "msg=stopped") {
		t.Errorf("the rotated log file was written after the reload:\n%s", old)
	}
	if fi, err := os.Stat(logFile); err != nil || fi.Mode().Perm() != 0o640 {
		t.Errorf("new log file: %v %v, want mode 0640", fi, err)
	}
}
