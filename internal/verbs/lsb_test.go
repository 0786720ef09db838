package verbs

import (
	"testing"

	"github.com/daemonkit/daemonkit/control"
)

func TestLSBCode(t *testing.T) {
	const (
		ok      = int(control.StatusOK)
		already = int(control.StatusAlreadyDone)
		notRun  = int(control.StatusNotRunning)
		failed  = int(control.StatusFailed)
		stale   = int(control.StatusStale)
	)
	tests := []struct {
		verb       string
		code, want int
	}{
		{"status", ok, 0}, {"check", ok, 0},
		{"status", stale, 1},
		{"status", notRun, 3}, {"check", notRun, 3},
		{"status", failed, 4}, {"status", ExitUsage, 4}, {"status", already, 4},
		{"start", ok, 0}, {"start", already, 0}, {"start", stale, 0},
		{"start", failed, 1}, {"start", ExitUsage, 2},
		{"stop", ok, 0}, {"stop", already, 0}, {"stop", stale, 0},
		{"stop", failed, 1}, {"stop", ExitUsage, 2},
		{"restart", ok, 0}, {"restart", stale, 0}, {"restart", failed, 1}, {"restart", ExitUsage, 2},
		{"reload", ok, 0}, {"reload", notRun, 7}, {"reload", stale, 7}, {"reload", failed, 1}, {"reload", ExitUsage, 2},
		{"signal", ok, 0}, {"signal", notRun, 7}, {"signal", stale, 7}, {"signal", failed, 1}, {"signal", ExitUsage, 2},
		{"run", ExitUsage, ExitUsage}, {"run", already, already}, {"", ExitUsage, 2}, {"", failed, 1},
	}
	for _, tt := range tests {
		if got := LSBCode(tt.verb, tt.code); got != tt.want {
			t.Errorf("LSBCode(%q, %d) = %d, want %d", tt.verb, tt.code, got, tt.want)
		}
	}
}

func TestLSBRequested(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want bool
	}{
		{[]string{"status", "--lsb", "-p", "x"}, true},
		{[]string{"--lsb=true", "stop"}, true},
		{[]string{"-lsb", "status"}, true},
		{[]string{"start", "-p", "x", "--", "prog", "--lsb"}, false},
		{[]string{"--lsb=false", "status"}, false},
		{[]string{"status"}, false},
	} {
		if got := LSBRequested(tt.args); got != tt.want {
			t.Errorf("LSBRequested(%q) = %v, want %v", tt.args, got, tt.want)
		}
	}
}
