package framework

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/daemonkit/daemonkit/control"
	"github.com/daemonkit/daemonkit/internal/verbs"
)

// TestMainUsageOneLine: a usage error prints the error and one line
// pointing to --help, not the whole usage; help and --version print on
// stdout and exit 0.
func TestMainUsageOneLine(t *testing.T) {
	for _, args := range [][]string{{"frobnicate"}, {"start", "--bogus"}, {}} {
		var out, errb bytes.Buffer
		code := New(Config{Name: "svc"}).Main(context.Background(), args, &out, &errb, nil)
		lines := strings.Split(strings.TrimSuffix(errb.String(), "\n"), "\n")
		if code != verbs.ExitUsage || len(lines) != 2 || lines[1] != "Run 'svc --help' for usage." || out.Len() != 0 {
			t.Errorf("%q: exit %d, stderr %q, stdout %q; want %d and two lines", args, code, errb.String(), out.String(), verbs.ExitUsage)
		}
	}
	for _, args := range [][]string{{"help"}, {"--help"}} {
		var out, errb bytes.Buffer
		code := New(Config{Name: "svc"}).Main(context.Background(), args, &out, &errb, nil)
		if code != 0 || !strings.Contains(out.String(), "usage: svc VERB") || errb.Len() != 0 {
			t.Errorf("%q: exit %d, stdout %q, stderr %q", args, code, out.String(), errb.String())
		}
	}
	var out, errb bytes.Buffer
	code := New(Config{Name: "svc"}).Main(context.Background(), []string{"--version"}, &out, &errb, nil)
	if code != 0 || !strings.HasPrefix(out.String(), "svc ") || strings.Count(out.String(), "\n") != 1 {
		t.Errorf("--version: exit %d, stdout %q, stderr %q", code, out.String(), errb.String())
	}
}

// TestMainRejectsTimeouts: a zero or negative time limit is a usage error,
// not silently the default.
func TestMainRejectsTimeouts(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "svc.pid")
	for _, flags := range [][]string{
		{"--ready-timeout", "-1s"}, {"--ready-timeout", "0"},
		{"--stop-timeout", "-1s"}, {"--stop-timeout", "0"},
		{"--timeout", "-1s"}, {"--kill-after", "-1s"},
	} {
		var out, errb bytes.Buffer
		args := append([]string{"status", "--pid-file", pidFile}, flags...)
		code := New(Config{Name: "svc"}).Main(context.Background(), args, &out, &errb, nil)
		if code != verbs.ExitUsage || !strings.Contains(errb.String(), flags[0]) {
			t.Errorf("%q: exit %d, stderr %q; want %d naming the flag", flags, code, errb.String(), verbs.ExitUsage)
		}
	}
}

// TestMainStatusStreams: status prints its message on stderr (as
// daemonctl does), and with --json one object on stdout, the same fields
// as daemonctl's.
func TestMainStatusStreams(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "svc.pid")
	var out, errb bytes.Buffer
	code := New(Config{Name: "svc"}).Main(context.Background(), []string{"status", "--pid-file", pidFile}, &out, &errb, nil)
	if code != int(control.StatusNotRunning) || out.Len() != 0 || errb.String() != "svc: "+pidFile+": not running\n" {
		t.Errorf("status: exit %d, stdout %q, stderr %q", code, out.String(), errb.String())
	}
	out.Reset()
	errb.Reset()
	code = New(Config{Name: "svc"}).Main(context.Background(), []string{"status", "--json", "--pid-file", pidFile}, &out, &errb, nil)
	var got map[string]any
	if err := json.Unmarshal(out.Bytes(), &got); err != nil || code != int(control.StatusNotRunning) || errb.Len() != 0 {
		t.Fatalf("status --json: exit %d, stdout %q (%v), stderr %q", code, out.String(), err, errb.String())
	}
	if got["state"] != "not-running" || got["pid"] != nil || got["pid_file"] != pidFile || got["guard_file"] != pidFile[:len(pidFile)-len(".pid")]+".lock" {
		t.Errorf("status --json: %v", got)
	}
}
