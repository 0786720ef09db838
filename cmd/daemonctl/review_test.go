//go:build linux

package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/daemonkit/daemonkit/background"

	"github.com/spf13/pflag"
)

// TestKillAfterNotBeforeTimeoutWarns: a --kill-after that the time limit
// never lets happen is pointed out.
func TestKillAfterNotBeforeTimeoutWarns(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "d.pid")
	for _, c := range []struct {
		args []string
		warn bool
	}{
		{[]string{"stop", "--pid-file", pidFile, "--timeout", "1s", "--kill-after", "2s"}, true},
		{[]string{"stop", "--pid-file", pidFile, "--timeout", "2s", "--kill-after", "2s"}, true},
		{[]string{"stop", "--pid-file", pidFile, "--kill-after", "90s"}, true}, // default limit 60s
		{[]string{"stop", "--pid-file", pidFile, "--timeout", "2s", "--kill-after", "1s"}, false},
		{[]string{"stop", "--pid-file", pidFile, "--timeout", "0", "--kill-after", "90s"}, false}, // no limit
	} {
		code, _, stderr := daemonctl(t, c.args...)
		if code != 100 {
			t.Errorf("%q: exit %d, want 100 (not running): %s", c.args, code, stderr)
		}
		if got := strings.Contains(stderr, "--kill-after"); got != c.warn {
			t.Errorf("%q: warning %v, want %v: %s", c.args, got, c.warn, stderr)
		}
	}
}

// TestUmaskSpellings: --umask takes the spellings of internal/umask.Parse.
func TestUmaskSpellings(t *testing.T) {
	for s, want := range map[string]os.FileMode{"027": 0o27, "0027": 0o27, "0o027": 0o27, "0": 0} {
		c := &cli{bg: true, umask: s, pidFile: "x.pid"}
		st, err := c.starter(pflag.NewFlagSet("start", pflag.ContinueOnError), []string{"sleep", "1"}, time.Second)
		if err != nil {
			t.Errorf("--umask %s: %v", s, err)
			continue
		}
		if o := st.(background.Starter).Options; !o.UmaskSet || o.Umask != want {
			t.Errorf("--umask %s: %o (set %v), want %o", s, o.Umask, o.UmaskSet, want)
		}
	}
}

// TestStartWithoutCommand: start and restart without a command say what
// is missing.
func TestStartWithoutCommand(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "d.pid")
	for _, verb := range []string{"start", "restart"} {
		code, _, stderr := daemonctl(t, verb, "--pid-file", pidFile)
		if code != 1 || !strings.Contains(stderr, verb+" needs the daemon's command after --") {
			t.Errorf("%s without a command: exit %d, %q", verb, code, stderr)
		}
		code, _, stderr = daemonctl(t, "--start", "--pid-file", pidFile)
		if code != 1 || !strings.Contains(stderr, "start needs the daemon's command after --") {
			t.Errorf("--start without a command: exit %d, %q", code, stderr)
		}
	}
}
