//go:build unix

package control_test

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/daemonkit/daemonkit/control"
)

func TestGuardHeldByParent(t *testing.T) {
	guard := filepath.Join(t.TempDir(), "d.lock")
	ppid := strconv.Itoa(os.Getppid())
	cases := []struct {
		value string
		want  bool
	}{
		{ppid + ":" + guard, true},
		{ppid + ":" + guard + ".other", false},
		{strconv.Itoa(os.Getpid()) + ":" + guard, false}, // not our parent
		{"1:" + guard, false},
		{guard, false},
		{"", false},
	}
	for _, c := range cases {
		t.Setenv(control.GuardEnv, c.value)
		if got := control.GuardHeldByParent(guard); got != c.want {
			t.Errorf("%s=%q: %v, want %v", control.GuardEnv, c.value, got, c.want)
		}
		if _, ok := os.LookupEnv(control.GuardEnv); ok {
			t.Errorf("%s still set after GuardHeldByParent", control.GuardEnv)
		}
	}
	os.Unsetenv(control.GuardEnv)
	if control.GuardHeldByParent(guard) {
		t.Error("no variable: reported held")
	}
}
