package integration_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/daemonkit/daemonkit/internal/proctest"
)

// load is a closed-loop HTTP load on one loopback address: workers that
// keep their connections alive and workers that open one per request.
type load struct {
	requests, failures, resets atomic.Int64
	mu                         sync.Mutex
	firstErrs                  []string
	stop                       chan struct{}
	wg                         sync.WaitGroup
}

func startLoad(addr string, workers int, limit time.Duration) *load {
	l := &load{stop: make(chan struct{})}
	deadline := time.Now().Add(limit)
	for i := range workers {
		tr := &http.Transport{DisableKeepAlives: i%2 == 1, MaxIdleConnsPerHost: 1}
		c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
		l.wg.Go(func() {
			defer tr.CloseIdleConnections()
			for time.Now().Before(deadline) {
				select {
				case <-l.stop:
					return
				default:
				}
				l.get(c, "http://"+addr+"/", tr.DisableKeepAlives)
			}
		})
	}
	return l
}

func (l *load) get(c *http.Client, url string, fresh bool) {
	l.requests.Add(1)
	resp, err := c.Get(url)
	if err == nil {
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err == nil && resp.StatusCode != http.StatusOK {
			err = errors.New(resp.Status)
		}
	}
	if err == nil {
		return
	}
	l.failures.Add(1)
	if errors.Is(err, syscall.ECONNRESET) || strings.Contains(err.Error(), "connection reset") {
		l.resets.Add(1)
	}
	l.mu.Lock()
	if len(l.firstErrs) < 5 {
		l.firstErrs = append(l.firstErrs, fmt.Sprintf("%s fresh=%v %v", time.Now().Format("15:04:05.000000"), fresh, err))
	}
	l.mu.Unlock()
}

func (l *load) end() {
	close(l.stop)
	l.wg.Wait()
}

// lockWatcher tries a shared lock on a fresh open of the PID file every
// millisecond; it counts the times it got one (the exclusive lock had
// lapsed).
type lockWatcher struct {
	got, tries atomic.Int64
	stop       chan struct{}
	done       chan struct{}
}

func watchLock(pidFile string) *lockWatcher {
	w := &lockWatcher{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-w.stop:
				return
			case <-tick.C:
			}
			fd, err := unix.Open(pidFile, unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
			if err != nil {
				continue
			}
			w.tries.Add(1)
			if unix.Flock(fd, unix.LOCK_SH|unix.LOCK_NB) == nil {
				w.got.Add(1)
			}
			unix.Close(fd)
		}
	}()
	return w
}

func (w *lockWatcher) end() {
	close(w.stop)
	<-w.done
}

// TestUpgradeUnderLoad: examples/httpd is upgraded 20 times under a
// closed-loop loopback HTTP load (keep-alive and new connections): no
// request fails, no connection is reset, the PID file lock never lapses
// (a watcher that tries a shared lock every millisecond never gets it),
// and after each upgrade the PID file names the new, live generation that
// holds its lock, while the old one is gone.
func TestUpgradeUnderLoad(t *testing.T) {
	httpd := binary(t, "./examples/httpd")
	dir := t.TempDir()
	pidFile, logFile := filepath.Join(dir, "httpd.pid"), filepath.Join(dir, "httpd.log")
	addr := freeLoopbackAddr(t)
	run(t, nil, httpd, "start", "--pid-file", pidFile, "--log-file", logFile, "--listen", addr).expect(t, 0, "start")
	pid := daemonPID(t, pidFile)
	if code, _ := httpGet(t, addr, "/healthz"); code != 200 {
		t.Fatalf("/healthz: %d", code)
	}
	w := watchLock(pidFile)
	l := startLoad(addr, 4, 2*time.Minute)
	for i := range 20 {
		before := l.requests.Load()
		proctest.WaitFor(t, 10*time.Second, "requests before the upgrade", func() bool { return l.requests.Load() > before+5 })
		r := run(t, nil, httpd, "upgrade", "--pid-file", pidFile)
		r.expect(t, 0, fmt.Sprintf("upgrade %d", i+1))
		next := daemonPID(t, pidFile)
		if next == pid || !strings.Contains(r.stderr, fmt.Sprintf("pid %d took over from pid %d", next, pid)) {
			t.Fatalf("upgrade %d: pid file names %d (was %d); said %q", i+1, next, pid, r.stderr)
		}
		if held, err := holdsLock(next, pidFile); err != nil || !held {
			t.Fatalf("upgrade %d: new generation %d does not hold the pid file's lock (%v)", i+1, next, err)
		}
		old := pid
		proctest.WaitFor(t, 30*time.Second, "the old generation to drain and exit", func() bool {
			proctest.Reap(old)
			return !proctest.Alive(old)
		})
		pid = next
	}
	l.end()
	w.end()
	run(t, nil, httpd, "stop", "--pid-file", pidFile).expect(t, 0, "stop")
	t.Logf("%d requests, %d failed, %d resets; lock watcher: %d tries", l.requests.Load(), l.failures.Load(), l.resets.Load(), w.tries.Load())
	if n := l.failures.Load(); n != 0 {
		t.Errorf("%d of %d requests failed (%d resets), e.g. %q", n, l.requests.Load(), l.resets.Load(), l.firstErrs)
	}
	if n := w.got.Load(); n != 0 {
		t.Errorf("the pid file lock lapsed: a shared lock was granted %d times in %d tries", n, w.tries.Load())
	}
	if w.tries.Load() < 100 {
		t.Errorf("the lock watcher ran only %d times", w.tries.Load())
	}
}

// holdsLock reports whether pid has a descriptor on the open file
// description that holds the PID file's exclusive lock (/proc/locks names
// the lock's owner; an inherited description has one lock).
func holdsLock(pid int, pidFile string) (bool, error) {
	var st unix.Stat_t
	if err := unix.Stat(pidFile, &st); err != nil {
		return false, err
	}
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fdinfo", pid))
	if err != nil {
		return false, err
	}
	want := fmt.Sprintf(":%d ", st.Ino)
	for _, e := range ents {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/fdinfo/%s", pid, e.Name()))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(line, "lock:") && strings.Contains(line, "FLOCK") && strings.Contains(line, "WRITE") && strings.Contains(line, want) {
				return true, nil
			}
		}
	}
	return false, nil
}

// TestUpgradeFailures: a next generation that fails at any stage (a hook's
// error, a panic, an exit, SIGKILL, no READY within the ready timeout, a
// binary that is not a service at all) is killed; the upgrade exits 102
// with its own message; the old generation keeps serving and the PID file
// is unchanged.
func TestUpgradeFailures(t *testing.T) {
	svcBuilt := binary(t, "./integration_test/testdata/svc")
	ctl := binary(t, "./cmd/daemonctl")
	cases := []struct {
		mode, says string
		args       []string // more upgrade flags
	}{
		{"postdetach", "cannot open the store on purpose", nil},
		{"ready", "registry unreachable on purpose", nil},
		{"panic", "store index corrupt on purpose", nil},
		{"exit", "exit status 3", nil},
		{"kill", "signal: killed", nil},
		{"hang", "ready timeout", nil},
		{"notservice", "exit status 3", nil},
		// The controller's time runs out first: it cancels the upgrade
		// and reports how it ended.
		{"timeout", "the controller cancelled its request", []string{"--timeout", "1s"}},
	}
	for _, c := range cases {
		t.Run(c.mode, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			svc := filepath.Join(dir, "svc")
			copyFile(t, svcBuilt, svc)
			pidFile, failFile, addrFile := filepath.Join(dir, "svc.pid"), filepath.Join(dir, "fail"), filepath.Join(dir, "addr")
			run(t, nil, svc, "start", "--pid-file", pidFile, "--log-file", filepath.Join(dir, "svc.log"),
				"--fail-file", failFile, "--addr-file", addrFile, "--ready-timeout", "3s").expect(t, 0, "start")
			pid := daemonPID(t, pidFile)
			if c.mode == "notservice" {
				script := filepath.Join(dir, "svc.new")
				if err := os.WriteFile(script, []byte("#!/bin/sh\necho 'this is not a daemonkit service' >&2\nexit 3\n"), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.Rename(script, svc); err != nil {
					t.Fatal(err)
				}
			} else if err := os.WriteFile(failFile, []byte(strings.Replace(c.mode, "timeout", "hang", 1)), 0o644); err != nil {
				t.Fatal(err)
			}
			r := run(t, nil, ctl, append([]string{"upgrade", "--pid-file", pidFile}, c.args...)...)
			r.expect(t, 102, "upgrade to a generation failing in "+c.mode)
			requireSays(t, r, "upgrade", "upgrade failed, nothing changed", c.says)
			if got := daemonPID(t, pidFile); got != pid {
				t.Fatalf("pid file names %d after a failed upgrade, want %d", got, pid)
			}
			if held, err := holdsLock(pid, pidFile); err != nil || !held {
				t.Fatalf("old generation %d no longer holds the lock (%v)", pid, err)
			}
			proctest.WaitFor(t, 10*time.Second, "only the old generation to be left", func() bool {
				return slices.Equal(procsWithArg(pidFile), []int{pid})
			})
			if got := pong(t, readFile(t, addrFile)); got != "pong" {
				t.Fatalf("old generation answers %q", got)
			}
			os.Remove(failFile)
			run(t, nil, ctl, "stop", "--pid-file", pidFile).expect(t, 0, "stop")
		})
	}
}

// pong reads what svc's listener at addr says.
func pong(t *testing.T, addr string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	b, _ := io.ReadAll(c)
	return strings.TrimSpace(string(b))
}

// copyFile puts the binary from at to: a hard link where it can (writing
// a copy races with other tests' forks, which can hold the new file open
// for writing at the moment it is executed: "text file busy"), else a
// copy.
func copyFile(t *testing.T, from, to string) {
	t.Helper()
	if os.Link(from, to) == nil {
		return
	}
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o755); err != nil {
		t.Fatal(err)
	}
}

// TestUpgradeUnderFakeSystemd: a daemon detached under NOTIFY_SOCKET tells
// the service manager about its next generation: MAINPID=<new>, then
// READY=1, in that order.
func TestUpgradeUnderFakeSystemd(t *testing.T) {
	httpd := binary(t, "./examples/httpd")
	dir := t.TempDir()
	sd := newFakeSystemd(t)
	pidFile, logFile := filepath.Join(dir, "httpd.pid"), filepath.Join(dir, "httpd.log")
	addr := freeLoopbackAddr(t)
	env := []string{"NOTIFY_SOCKET=" + sd.path}
	run(t, env, httpd, "start", "--detach", "--pid-file", pidFile, "--log-file", logFile, "--listen", addr).expect(t, 0, "start --detach")
	pid := daemonPID(t, pidFile)
	sd.next("READY=1") // the launcher's
	run(t, nil, httpd, "upgrade", "--pid-file", pidFile).expect(t, 0, "upgrade")
	next := daemonPID(t, pidFile)
	m := sd.next("MAINPID=", "READY=1")
	if !m.has("MAINPID="+strconv.Itoa(next)) || m.has("READY=1") {
		t.Fatalf("first after the upgrade: %q from pid %d; want MAINPID=%d alone", m.text, m.pid, next)
	}
	if m = sd.next("MAINPID=", "READY=1"); !m.has("READY=1") {
		t.Fatalf("then %q; want READY=1", m.text)
	}
	if m.pid != pid {
		t.Errorf("READY=1 from pid %d; want the old generation %d, which sent MAINPID=", m.pid, pid)
	}
	if code, _ := httpGet(t, addr, "/healthz"); code != 200 {
		t.Fatalf("/healthz after the upgrade: %d", code)
	}
	run(t, nil, httpd, "stop", "--pid-file", pidFile).expect(t, 0, "stop")
}

// TestUpgradeForegroundUnderFakeSystemd: a service run in the foreground
// by a service manager (Type=notify) upgrades too: its next generation is
// detached, the manager gets MAINPID=<new> then READY=1 from the one it
// started, which then exits 0.
func TestUpgradeForegroundUnderFakeSystemd(t *testing.T) {
	httpd := binary(t, "./examples/httpd")
	dir := t.TempDir()
	sd := newFakeSystemd(t)
	pidFile := filepath.Join(dir, "httpd.pid")
	addr := freeLoopbackAddr(t)
	cmd := exec.Command(httpd, "run", "--pid-file", pidFile, "--listen", addr)
	cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+sd.path)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	proctest.Cleanup(t, cmd.Process.Pid)
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	if m := sd.next("READY=1"); m.pid != cmd.Process.Pid {
		t.Fatalf("READY=1 from pid %d, want the foreground service %d", m.pid, cmd.Process.Pid)
	}
	run(t, nil, httpd, "upgrade", "--pid-file", pidFile).expect(t, 0, "upgrade")
	next := daemonPID(t, pidFile)
	if m := sd.next("MAINPID=", "READY=1"); !m.has("MAINPID="+strconv.Itoa(next)) || m.pid != cmd.Process.Pid {
		t.Fatalf("after the upgrade: %q from pid %d; want MAINPID=%d from %d", m.text, m.pid, next, cmd.Process.Pid)
	}
	if m := sd.next("MAINPID=", "READY=1"); !m.has("READY=1") {
		t.Fatalf("then %q; want READY=1", m.text)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("the first generation exited with %v, want 0", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the first generation did not exit after the upgrade")
	}
	if code, _ := httpGet(t, addr, "/healthz"); code != 200 {
		t.Fatalf("/healthz from the new generation: %d", code)
	}
	run(t, nil, httpd, "stop", "--pid-file", pidFile).expect(t, 0, "stop")
}
