package framework

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/daemonkit/daemonkit/internal/ctlsock"
)

// callDaemon sends op to this process's daemon over its control channel,
// as a controller does: it listens, pokes the daemon and waits at most
// wait for its answer.
func callDaemon(t *testing.T, pidFile, op string, wait time.Duration) (ctlsock.Reply, error) {
	t.Helper()
	fi, err := os.Stat(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	l, err := ctlsock.Listen(ctlsock.KeyOf(fi), os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := syscall.Kill(os.Getpid(), ctlsock.Poke); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	c, err := l.Accept(ctx)
	if err != nil {
		return ctlsock.Reply{}, err
	}
	return c.Call(ctx, ctlsock.Request{Op: op})
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

	r, err := callDaemon(t, pidFile, "status", 30*time.Second)
	var st ctlStatus
	if err != nil || !r.OK || json.Unmarshal(r.Data, &st) != nil || st.State != "running" || st.PID != os.Getpid() {
		t.Fatalf("status: %+v %s, %v", r, r.Data, err)
	}
	r, err = callDaemon(t, pidFile, "reload", 30*time.Second)
	if err != nil || r.OK || !strings.Contains(r.Error, `"config"`) || !strings.Contains(r.Error, "bad line 3") {
		t.Fatalf("failing reload: %+v, %v; want the hook's name and error", r, err)
	}
	failReload = false // the loop waits for the reply: no race with the hook
	if r, err = callDaemon(t, pidFile, "reload", 30*time.Second); err != nil || !r.OK {
		t.Fatalf("healthy reload: %+v, %v", r, err)
	}
	if r, err = callDaemon(t, pidFile, "bogus", 30*time.Second); err != nil || r.OK || !strings.Contains(r.Error, "unknown request") {
		t.Fatalf("unknown op: %+v, %v", r, err)
	}
	r, err = callDaemon(t, pidFile, "stop", 30*time.Second)
	if err != nil || r.OK || !strings.Contains(r.Error, "disk full") || !stopped {
		t.Fatalf("stop with a failing OnStop hook: %+v, %v (hook ran: %v)", r, err, stopped)
	}
	if err := recvErr(t, errc); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("Run = %v, want the OnStop error", err)
	}
	if _, err := callDaemon(t, pidFile, "status", 200*time.Millisecond); !errors.Is(err, ctlsock.ErrNoAnswer) {
		t.Fatalf("status after exit: %v, want ErrNoAnswer", err)
	}
}
