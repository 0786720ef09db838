//go:build linux

package main

import (
	"path/filepath"
	"strings"
	"testing"
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
