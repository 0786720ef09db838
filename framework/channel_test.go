package framework

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/daemonkit/daemonkit/internal/ctlsock"
)

// callDaemon sends op to this process's daemon over its control channel.
func callDaemon(t *testing.T, pidFile, op string) (ctlsock.Reply, error) {
	t.Helper()
	fi, err := os.Stat(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return ctlsock.Call(ctx, ctlsock.KeyOf(fi), os.Getpid(), ctlsock.Request{Op: op})
}

// TestChannelVerdicts: over the control channel, status answers, a reload
// gives the OnReload hooks' verdict (the failing hook named), and a stop
// answers only after the OnStop hooks, with their verdict.
func TestChannelVerdicts(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	pidFile := filepath.Join(t.TempDir(), "c.pid")
	d := New(Config{Name: "c", PIDFile: pidFile, Foreground: true, Dir: mustGetwd(t), Logger: slogDiscard()})
	failReload := true
	d.OnReload("config", func(context.Context) error {
		if failReload {
			return errors.New("bad line 3")
		}
		return nil
	})
	stopped := false
	d.OnStop("flush", func(context.Context) error { stopped = true; return errors.New("disk full") })
	running, errc := runUntilStopped(d)
	<-running

	r, err := callDaemon(t, pidFile, "status")
	var st ctlStatus
	if err != nil || !r.OK || json.Unmarshal(r.Data, &st) != nil || st.State != "running" || st.PID != os.Getpid() {
		t.Fatalf("status: %+v %s, %v", r, r.Data, err)
	}
	r, err = callDaemon(t, pidFile, "reload")
	if err != nil || r.OK || !strings.Contains(r.Error, `"config"`) || !strings.Contains(r.Error, "bad line 3") {
		t.Fatalf("failing reload: %+v, %v; want the hook's name and error", r, err)
	}
	failReload = false // the loop waits for the reply: no race with the hook
	if r, err = callDaemon(t, pidFile, "reload"); err != nil || !r.OK {
		t.Fatalf("healthy reload: %+v, %v", r, err)
	}
	if r, err = callDaemon(t, pidFile, "bogus"); err != nil || r.OK || !strings.Contains(r.Error, "unknown request") {
		t.Fatalf("unknown op: %+v, %v", r, err)
	}
	r, err = callDaemon(t, pidFile, "stop")
	if err != nil || r.OK || !strings.Contains(r.Error, "disk full") || !stopped {
		t.Fatalf("stop with a failing OnStop hook: %+v, %v (hook ran: %v)", r, err, stopped)
	}
	if err := recvErr(t, errc); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("Run = %v, want the OnStop error", err)
	}
	if _, err := callDaemon(t, pidFile, "status"); !errors.Is(err, ctlsock.ErrNoChannel) {
		t.Fatalf("status after exit: %v, want ErrNoChannel", err)
	}
}
