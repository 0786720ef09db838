package framework

import (
	"context"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/daemonkit/daemonkit/internal/proctest"
	"github.com/daemonkit/daemonkit/lockfile"
)

// TestLoggerTakenEarlyCarriesStage: a logger taken before Main labels the
// lines of a PreDetach hook stage=launcher, and those of the daemon's hooks
// and body stage=daemon (with the daemon's PID).
func TestLoggerTakenEarlyCarriesStage(t *testing.T) {
	dir := t.TempDir()
	pidFile, logFile := filepath.Join(dir, "s.pid"), filepath.Join(dir, "s.log")
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, self, "start", "--pid-file", pidFile, "--log-file", logFile, "--chdir", dir)
	cmd.Env = append(os.Environ(), testServiceEnv+"=1", "NOTIFY_SOCKET=", "JOURNAL_STREAM=")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("start: %v\n%s", err, out)
	}
	info, err := lockfile.Inspect(pidFile)
	if err != nil || info.State != lockfile.Running {
		t.Fatalf("after start: %+v %v", info, err)
	}
	proctest.Cleanup(t, info.PID)
	if !strings.Contains(string(out), `msg="in pre-detach" service=stages stage=launcher`) {
		t.Errorf("launcher output lacks the pre-detach line with stage=launcher:\n%s", out)
	}
	stop := exec.CommandContext(ctx, self, "stop", "--pid-file", pidFile)
	stop.Env = cmd.Env
	if out, err := stop.CombinedOutput(); err != nil {
		t.Fatalf("stop: %v\n%s", err, out)
	}
	b, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatal(err)
	}
	logs := string(b)
	for _, msg := range []string{`msg="in post-detach"`, `msg="in body"`, `msg="in on-stop"`} {
		line := lineWith(logs, msg)
		if !strings.Contains(line, "stage=daemon") || strings.Contains(line, "stage=launcher") {
			t.Errorf("%s: %q, want stage=daemon\n%s", msg, line, logs)
		}
		if !strings.Contains(line, " pid="+strconv.Itoa(info.PID)) {
			t.Errorf("%s: %q, want the daemon's pid %d", msg, line, info.PID)
		}
	}
	if line := lineWith(logs, `msg="in on-stop"`); !strings.HasSuffix(line, "k=v") {
		t.Errorf("on-stop line %q: want the With attribute last", line)
	}
}

// TestNotifyFailureWarnedOnce: once the manager's socket is gone (daemonctl
// --notify exits after READY), reloads and the stop warn about sd_notify
// once; later failures go to debug level.
func TestNotifyFailureWarnedOnce(t *testing.T) {
	m := newFakeManager(t)
	t.Setenv("WATCHDOG_USEC", "")
	var buf proctest.Buffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	d := New(Config{Name: "n", Dir: mustGetwd(t), Logger: log})
	reloads := make(chan struct{}, 4)
	d.OnReload("count", func(context.Context) error { reloads <- struct{}{}; return nil })
	running, errc := runUntilStopped(d)
	m.next("READY=1")
	<-running
	m.conn.Close() // the manager is gone; its socket path stays, unbound
	for i := 0; i < 2; i++ {
		syscall.Kill(syscall.Getpid(), syscall.SIGHUP)
		select {
		case <-reloads:
		case <-time.After(30 * time.Second):
			t.Fatal("the reload hook did not run within 30s of SIGHUP")
		}
		// The READY=1 after the hook is sent once the hook returned.
		if !proctest.Eventually(30*time.Second, func() bool { return strings.Count(buf.String(), "sd_notify failed") >= 2*(i+1) }) {
			t.Fatalf("reload %d: no sd_notify failures logged:\n%s", i+1, buf.String())
		}
	}
	syscall.Kill(syscall.Getpid(), syscall.SIGTERM)
	if err := recvErr(t, errc); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	if n := strings.Count(out, "level=WARN msg=\"sd_notify failed"); n != 1 {
		t.Errorf("%d warnings about sd_notify, want 1:\n%s", n, out)
	}
	if n := strings.Count(out, "level=DEBUG msg=\"sd_notify failed\""); n < 4 {
		t.Errorf("%d debug lines about sd_notify, want the later failures (>= 4):\n%s", n, out)
	}
}
