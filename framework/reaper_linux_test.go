package framework

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestReaperMarkerNotFromParent: a service-stage marker that does not name
// the process's parent is refused with a clear error, removed from the
// environment, and nothing runs.
func TestReaperMarkerNotFromParent(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	t.Setenv(reaperEnv, strconv.Itoa(os.Getppid()+1))
	d := New(Config{Name: "r", Foreground: true, Logger: slogDiscard(), PIDFile: filepath.Join(t.TempDir(), "r.pid")})
	d.PostDetach("post", func(context.Context) error { t.Error("a hook ran"); return nil })
	err := d.Run(context.Background(), func(context.Context) error { t.Error("the body ran"); return nil })
	if err == nil || !strings.Contains(err.Error(), "not started by a daemonkit reaper") || !strings.Contains(err.Error(), "unset it") {
		t.Errorf("Run = %v, want a refusal that explains the marker", err)
	}
	if _, set := os.LookupEnv(reaperEnv); set {
		t.Error("the marker was left in the environment")
	}
}

// TestReaperNeedsForeground: a detaching start with Config.Reaper fails
// before anything is locked, saying to run in the foreground.
func TestReaperNeedsForeground(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	pidFile := filepath.Join(t.TempDir(), "r.pid")
	d := New(Config{Name: "r", Reaper: true, Logger: slogDiscard(), PIDFile: pidFile})
	err := d.Run(context.Background(), func(context.Context) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "foreground only") {
		t.Errorf("Run = %v, want an error saying --reaper needs the foreground", err)
	}
	if _, err := os.Stat(pidFile); !os.IsNotExist(err) {
		t.Errorf("the PID file was touched: %v", err)
	}
}

// TestReaperServiceArgs: the service stage runs Main's verb as run (restart's
// stop was done by the first stage), with the flags as given.
func TestReaperServiceArgs(t *testing.T) {
	d := New(Config{Name: "r"})
	args := []string{"/usr/bin/r", "--reaper", "restart", "--pid-file", "/run/r.pid", "--foreground"}
	want := []string{"/usr/bin/r", "--reaper", "run", "--pid-file", "/run/r.pid", "--foreground"}
	if got := d.stageArgs(args, "run"); !slices.Equal(got, want) {
		t.Errorf("stageArgs = %q, want %q", got, want)
	}
}
