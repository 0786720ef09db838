package framework

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"log/slog"

	"go.uber.org/goleak"

	"github.com/daemonkit/daemonkit/lockfile"

	"github.com/daemonkit/daemonkit/internal/verbs"
)

func TestMain(m *testing.M) {
	if os.Getenv(testServiceEnv) != "" {
		testServiceMain() // this test binary is run as a service: see stage_test.go
		return
	}
	goleak.VerifyTestMain(m)
}

// TestForegroundRunsAllStagesInOrder runs a daemon in-process in the
// foreground: hooks in stage order, a listener handed over by name, the PID
// file locked and naming us while running, emptied after.
func TestForegroundRunsAllStagesInOrder(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	pidFile := filepath.Join(t.TempDir(), "fg.pid")
	d := New(Config{Name: "fg", PIDFile: pidFile, Foreground: true, Dir: mustGetwd(t),
		Logger: slogDiscard()})
	var ran []string
	d.PreDetach("listen", func(ctx context.Context, h *Handoff) error {
		ran = append(ran, "pre")
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		return h.PassListener("http", ln)
	})
	d.PostDetach("post", func(context.Context) error { ran = append(ran, "post"); return nil })
	d.OnReady("ready", func(context.Context) error { ran = append(ran, "ready"); return nil })
	d.OnStop("stop-a", func(context.Context) error { ran = append(ran, "stop-a"); return nil })
	d.OnStop("stop-b", func(context.Context) error { ran = append(ran, "stop-b"); return nil })
	err := d.Run(context.Background(), func(ctx context.Context) error {
		ran = append(ran, "body")
		info, err := lockfile.Inspect(pidFile)
		if err != nil || info.State != lockfile.Running || info.PID != os.Getpid() {
			t.Errorf("while running: %+v %v; want running with our pid", info, err)
		}
		ln, err := d.Listener("http")
		if err != nil {
			return err
		}
		ln.Close()
		if _, err := d.Listener("http"); !errors.Is(err, ErrNoSuchFile) {
			t.Errorf("second Listener: %v, want ErrNoSuchFile", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(ran, ","); got != "pre,post,ready,body,stop-b,stop-a" {
		t.Errorf("ran %s", got)
	}
	if b, _ := os.ReadFile(pidFile); len(b) != 0 {
		t.Errorf("pid file after stop: %q", b)
	}
}

// TestForegroundFailureClearsPIDFile: a failing PostDetach hook is returned
// named, and the PID file is left empty and unlocked.
func TestForegroundFailureClearsPIDFile(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	pidFile := filepath.Join(t.TempDir(), "fg.pid")
	d := New(Config{Name: "fg", PIDFile: pidFile, Foreground: true, Dir: mustGetwd(t), Logger: slogDiscard()})
	d.PostDetach("db", func(context.Context) error { return errors.New("refused") })
	err := d.Run(context.Background(), func(context.Context) error { t.Error("body ran"); return nil })
	if err == nil || err.Error() != `post-detach hook "db": refused` {
		t.Fatalf("err = %v", err)
	}
	if info, _ := lockfile.Inspect(pidFile); info.State != lockfile.NotRunning {
		t.Errorf("pid file state %v after failure", info.State)
	}
}

func TestMainUsage(t *testing.T) {
	d := New(Config{Name: "svc"})
	var out, errb bytes.Buffer
	if code := d.Main(context.Background(), []string{"--help"}, &out, &errb, nil); code != 0 || !strings.Contains(out.String(), "svc start --pid-file") {
		t.Errorf("--help: %d %q", code, out.String())
	}
	for _, args := range [][]string{{}, {"frobnicate", "--pid-file", "x"}, {"start", "extra"}, {"status"}} {
		d := New(Config{Name: "svc"})
		errb.Reset()
		if code := d.Main(context.Background(), args, &out, &errb, nil); code != verbs.ExitUsage {
			t.Errorf("%q: exit %d, want %d (%s)", args, code, verbs.ExitUsage, errb.String())
		}
	}
}

func TestFlagsOverrideConfig(t *testing.T) {
	d := New(Config{Name: "svc", PIDFile: "/a.pid", Umask: "077"})
	if _, err := d.parse([]string{"--pid-file", "/b.pid", "status", "--umask", "027", "--user", "nobody"}); err != nil {
		t.Fatal(err)
	}
	c := d.Config()
	if c.PIDFile != "/b.pid" || c.Umask != "027" || c.User != "nobody" {
		t.Errorf("config after flags: %+v", c)
	}
}

func TestCredential(t *testing.T) {
	if c, err := credential("", ""); c != nil || err != nil {
		t.Errorf("no user, no group: %v %v", c, err)
	}
	if _, err := credential("no-such-user-daemonkit", ""); err == nil {
		t.Error("unknown user accepted")
	}
	if _, err := credential("", "no-such-group-daemonkit"); err == nil {
		t.Error("unknown group accepted")
	}
	if os.Geteuid() != 0 {
		if _, err := credential("0", ""); !errors.Is(err, ErrNeedRoot) {
			t.Errorf("switching to root as non-root: %v, want ErrNeedRoot", err)
		}
		return
	}
	c, err := credential("4242", "4343")
	if err != nil || c.Uid != 4242 || c.Gid != 4343 {
		t.Errorf("numeric ids: %+v %v", c, err)
	}
}

func TestHandoffDuplicateName(t *testing.T) {
	var h Handoff
	f1, _ := os.Open(os.DevNull)
	f2, _ := os.Open(os.DevNull)
	defer f1.Close()
	defer f2.Close()
	if err := h.PassFile("x", f1); err != nil {
		t.Fatal(err)
	}
	if err := h.PassFile("x", f2); !errors.Is(err, ErrDuplicateName) {
		t.Errorf("duplicate name: %v", err)
	}
}

func mustGetwd(t *testing.T) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	return wd
}

func slogDiscard() *slog.Logger { return slog.New(slog.DiscardHandler) }
