package framework

import (
	"context"
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

func lineWith(s, sub string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			return l
		}
	}
	return ""
}
