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
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/daemonkit/daemonkit/internal/proctest"
	"github.com/daemonkit/daemonkit/lockfile"
)

// notifyMsg is one sd_notify datagram and the PID that sent it.
type notifyMsg struct {
	text string
	pid  int
}

func (m notifyMsg) has(assignment string) bool {
	for _, line := range strings.Split(m.text, "\n") {
		if line == assignment || strings.HasPrefix(line, assignment) {
			return true
		}
	}
	return false
}

// fakeSystemd plays the service manager's side of NOTIFY_SOCKET: it
// receives datagrams with the sender's credentials (SO_PASSCRED).
type fakeSystemd struct {
	t    *testing.T
	path string
	conn *net.UnixConn
}

func newFakeSystemd(t *testing.T) *fakeSystemd {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	raw, err := conn.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var serr error
	raw.Control(func(fd uintptr) { serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_PASSCRED, 1) })
	if serr != nil {
		t.Fatal(serr)
	}
	return &fakeSystemd{t: t, path: path, conn: conn}
}

// recv returns the next datagram, failing t after a deadline.
func (s *fakeSystemd) recv() notifyMsg {
	s.t.Helper()
	s.conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	buf, oob := make([]byte, 4096), make([]byte, 1024)
	n, oobn, _, _, err := s.conn.ReadMsgUnix(buf, oob)
	if err != nil {
		s.t.Fatalf("reading the notify socket: %v", err)
	}
	return notifyMsg{text: string(buf[:n]), pid: senderPID(oob[:oobn])}
}

// pending returns the datagrams already queued, without waiting.
func (s *fakeSystemd) pending() []notifyMsg {
	s.t.Helper()
	raw, err := s.conn.SyscallConn()
	if err != nil {
		s.t.Fatal(err)
	}
	var msgs []notifyMsg
	raw.Read(func(fd uintptr) bool {
		for {
			buf, oob := make([]byte, 4096), make([]byte, 1024)
			n, oobn, _, _, err := unix.Recvmsg(int(fd), buf, oob, unix.MSG_DONTWAIT)
			if err != nil {
				return true
			}
			msgs = append(msgs, notifyMsg{text: string(buf[:n]), pid: senderPID(oob[:oobn])})
		}
	})
	return msgs
}

// next returns the next datagram holding one of the assignments (or
// assignment prefixes), skipping others (STATUS= lines, watchdog pings).
func (s *fakeSystemd) next(assignments ...string) notifyMsg {
	s.t.Helper()
	for {
		m := s.recv()
		for _, a := range assignments {
			if m.has(a) {
				return m
			}
		}
	}
}

func senderPID(oob []byte) int {
	scms, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return 0
	}
	for _, scm := range scms {
		if cred, err := unix.ParseUnixCredentials(&scm); err == nil {
			return int(cred.Pid)
		}
	}
	return 0
}

// httpGet does one GET on addr (host:port) and returns the body.
func httpGet(t *testing.T, addr, path string) (int, string) {
	t.Helper()
	c := &http.Client{Timeout: 30 * time.Second}
	resp, err := c.Get("http://" + addr + path)
	if err != nil {
		t.Fatalf("GET %s%s: %v", addr, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s%s: %v", addr, path, err)
	}
	return resp.StatusCode, string(b)
}

// TestHTTPDUnderFakeSystemd runs examples/httpd as systemd would run a
// Type=notify service with a .socket unit (with the start verb: NOTIFY_SOCKET
// alone keeps it in the foreground, one process, no re-exec): NOTIFY_SOCKET, the listening
// socket as fd 3 with LISTEN_FDS=1 LISTEN_FDNAMES=http LISTEN_PID=its pid,
// and a watchdog. It must: serve on the passed socket (it would fail to
// bind its --listen address), answer a request queued before it started
// only after READY=1, ping the watchdog, report RELOADING=1 (with
// MONOTONIC_USEC) then READY=1 around a reload that re-reads its config,
// and STOPPING=1 on SIGTERM, in that order; log with <N> priority prefixes
// on stderr, which JOURNAL_STREAM names as the journal; and lock and write its PID file itself.
func TestHTTPDUnderFakeSystemd(t *testing.T) {
	httpd := binary(t, "./examples/httpd")
	dir := t.TempDir()
	sd := newFakeSystemd(t)
	conf := filepath.Join(dir, "httpd.conf")
	pidFile := filepath.Join(dir, "httpd.pid")
	if err := os.WriteFile(conf, []byte("greeting = first\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	addr := ln.Addr().String()
	lnFile, err := ln.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	defer lnFile.Close()

	// A request that arrives before the service runs waits in the
	// socket's backlog, as with systemd socket activation.
	early, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer early.Close()
	fmt.Fprintf(early, "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")

	stderr := filepath.Join(dir, "stderr")
	errf, err := os.Create(stderr)
	if err != nil {
		t.Fatal(err)
	}
	defer errf.Close()
	// LISTEN_PID and WATCHDOG_PID must be the service's PID: the shell
	// sets them to its own and execs httpd in the same process.
	cmd := exec.Command("/bin/sh", "-c", `LISTEN_PID=$$ WATCHDOG_PID=$$ exec "$0" "$@"`,
		httpd, "start", "--listen", "256.0.0.1:1", "--config", conf, "--pid-file", pidFile, "--chdir", dir)
	// stderr is the journal: JOURNAL_STREAM names it, as systemd sets it.
	var est syscall.Stat_t
	if err := syscall.Fstat(int(errf.Fd()), &est); err != nil {
		t.Fatal(err)
	}
	cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+sd.path, "LISTEN_FDS=1", "LISTEN_FDNAMES=http",
		"WATCHDOG_USEC=1000000", fmt.Sprintf("JOURNAL_STREAM=%d:%d", est.Dev, est.Ino))
	cmd.ExtraFiles = []*os.File{lnFile}
	cmd.Stdout, cmd.Stderr = errf, errf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	proctest.Cleanup(t, pid)
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()

	resp, err := http.ReadResponse(bufio.NewReader(early), nil)
	if err != nil {
		b, _ := os.ReadFile(stderr)
		t.Fatalf("the request queued before start got no answer: %v\n%s", err, b)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || string(body) != "ok generation=1\n" {
		t.Fatalf("/healthz: %d %q", resp.StatusCode, body)
	}
	// READY=1 was sent before the first answer: it is already queued.
	var sawReady bool
	for _, m := range sd.pending() {
		if m.has("READY=1") {
			sawReady = true
			if m.pid != pid || !m.has("MAINPID="+strconv.Itoa(pid)) {
				t.Errorf("READY=1 from pid %d (%q), want from and naming %d", m.pid, m.text, pid)
			}
		}
		if m.has("RELOADING=1") || m.has("STOPPING=1") {
			t.Errorf("unexpected %q before any reload or stop", m.text)
		}
	}
	if !sawReady {
		t.Fatal("/healthz answered before READY=1 was sent")
	}
	if code, got := httpGet(t, addr, "/"); code != 200 || got != "first\n" {
		t.Fatalf("GET /: %d %q", code, got)
	}
	info, err := lockfile.Inspect(pidFile)
	if err != nil || info.State != lockfile.Running || info.PID != pid {
		t.Errorf("pid file while running: %+v %v; want running, pid %d", info, err, pid)
	}
	if m := sd.next("WATCHDOG=1"); m.pid != pid {
		t.Errorf("watchdog ping from pid %d, want %d", m.pid, pid)
	}

	if err := os.WriteFile(conf, []byte("greeting = second\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	syscall.Kill(pid, syscall.SIGHUP)
	m := sd.next("RELOADING=1", "READY=1", "STOPPING=1")
	if !m.has("RELOADING=1") || !m.has("MONOTONIC_USEC=") {
		t.Fatalf("after SIGHUP: %q, want RELOADING=1 with MONOTONIC_USEC", m.text)
	}
	if m := sd.next("RELOADING=1", "READY=1", "STOPPING=1"); !m.has("READY=1") {
		t.Fatalf("after RELOADING=1: %q, want READY=1", m.text)
	}
	if code, got := httpGet(t, addr, "/"); code != 200 || got != "second\n" {
		t.Fatalf("GET / after reload: %d %q", code, got)
	}

	syscall.Kill(pid, syscall.SIGTERM)
	if m := sd.next("RELOADING=1", "READY=1", "STOPPING=1"); !m.has("STOPPING=1") {
		t.Fatalf("after SIGTERM: %q, want STOPPING=1", m.text)
	}
	select {
	case err := <-waited:
		if err != nil {
			b, _ := os.ReadFile(stderr)
			t.Fatalf("httpd exited with %v\n%s", err, b)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("httpd did not exit within 30s of SIGTERM")
	}
	if b, err := os.ReadFile(pidFile); err != nil || len(b) != 0 {
		t.Errorf("pid file after stop: %q %v, want empty", b, err)
	}
	logs, _ := os.ReadFile(stderr)
	for _, want := range []string{"<6>level=INFO msg=listening", "<6>level=INFO msg=\"config reloaded\"", "<6>level=INFO msg=stopped"} {
		if !strings.Contains(string(logs), want) {
			t.Errorf("stderr lacks %q:\n%s", want, logs)
		}
	}
	if strings.Contains(string(logs), "time=") {
		t.Errorf("journal lines carry a time:\n%s", logs)
	}
}

// TestHTTPDDetachUnderNotifySocket: with --detach under NOTIFY_SOCKET the
// launcher detaches as usual; once the daemon is ready and its PID written
// it sends MAINPID=<daemon> and then READY=1. The daemon pings the watchdog
// meant for the launcher (WATCHDOG_PID was the launcher's), and reports
// RELOADING=1/READY=1 and STOPPING=1 itself.
func TestHTTPDDetachUnderNotifySocket(t *testing.T) {
	httpd := binary(t, "./examples/httpd")
	dir := t.TempDir()
	sd := newFakeSystemd(t)
	pidFile, logFile := filepath.Join(dir, "httpd.pid"), filepath.Join(dir, "httpd.log")
	addr := freeLoopbackAddr(t)
	r := run(t, []string{"NOTIFY_SOCKET=" + sd.path, "WATCHDOG_USEC=1000000"}, "/bin/sh", "-c",
		`WATCHDOG_PID=$$ exec "$0" "$@"`, httpd, "start", "--detach",
		"--pid-file", pidFile, "--log-file", logFile, "--listen", addr)
	r.expect(t, 0, "httpd start --detach")
	pid := daemonPID(t, pidFile)

	var mainPID notifyMsg
	for {
		m := sd.next("MAINPID=", "READY=1")
		if m.has("MAINPID=") && !m.has("READY=1") {
			mainPID = m
			continue
		}
		if mainPID.text == "" {
			t.Fatalf("READY=1 (%q) before any MAINPID=", m.text)
		}
		if m.pid == pid {
			t.Errorf("READY=1 sent by the daemon; want the launcher")
		}
		break
	}
	if mainPID.text != "MAINPID="+strconv.Itoa(pid) || mainPID.pid == pid {
		t.Errorf("MAINPID message %q from pid %d; want MAINPID=%d from the launcher", mainPID.text, mainPID.pid, pid)
	}
	if code, body := httpGet(t, addr, "/healthz"); code != 200 {
		t.Fatalf("/healthz: %d %q", code, body)
	}
	if m := sd.next("WATCHDOG=1"); m.pid != pid {
		t.Errorf("watchdog ping from pid %d, want the daemon %d", m.pid, pid)
	}
	run(t, nil, httpd, "reload", "--pid-file", pidFile).expect(t, 0, "reload")
	for _, want := range []string{"RELOADING=1", "READY=1"} {
		if m := sd.next("RELOADING=1", "READY=1", "STOPPING=1"); !m.has(want) || m.pid != pid {
			t.Fatalf("got %q from pid %d, want %s from %d", m.text, m.pid, want, pid)
		}
	}
	run(t, nil, httpd, "stop", "--pid-file", pidFile).expect(t, 0, "stop")
	if m := sd.next("RELOADING=1", "READY=1", "STOPPING=1"); !m.has("STOPPING=1") || m.pid != pid {
		t.Fatalf("got %q from pid %d, want STOPPING=1 from %d", m.text, m.pid, pid)
	}
	requireReleased(t, pidFile)
	requireNoProcess(t, pidFile)
}

// freeLoopbackAddr returns 127.0.0.1:P for a port that was free a moment
// ago (another process may take it in between; tests accept that race).
func freeLoopbackAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
