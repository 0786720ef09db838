//go:build unix

package control_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/daemonkit/daemonkit/control"
	"github.com/daemonkit/daemonkit/lockfile"
)

func TestGuardHeldByParent(t *testing.T) {
	dir := t.TempDir()
	guard := filepath.Join(dir, "d.lock")
	g, err := lockfile.Acquire(guard)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	other := filepath.Join(dir, "other.lock")
	og, err := lockfile.Acquire(other)
	if err != nil {
		t.Fatal(err)
	}
	og.Close() // unlocked
	unlocked, err := os.Open(other)
	if err != nil {
		t.Fatal(err)
	}
	defer unlocked.Close()
	var ost unix.Stat_t
	unix.Fstat(int(unlocked.Fd()), &ost)

	// dup returns a new descriptor for the locked guard, as a child
	// inherits it.
	dup := func() int {
		fd, err := unix.Dup(int(g.File().Fd()))
		if err != nil {
			t.Fatal(err)
		}
		return fd
	}
	isOpen := func(fd int) bool {
		var st unix.Stat_t
		return unix.Fstat(fd, &st) == nil
	}
	cases := []struct {
		name      string
		value     func() (string, int)
		want      bool
		wantClose bool
	}{
		{"held", func() (string, int) { fd := dup(); return fmt.Sprintf("%d:%d:%d", fd, g.Dev(), g.Ino()), fd }, true, true},
		{"other-inode", func() (string, int) { fd := dup(); return fmt.Sprintf("%d:%d:%d", fd, g.Dev(), g.Ino()+1), fd }, false, false},
		{"not-locked", func() (string, int) {
			fd, _ := unix.Dup(int(unlocked.Fd()))
			return fmt.Sprintf("%d:%d:%d", fd, ost.Dev, ost.Ino), fd
		}, false, true},
		{"closed-fd", func() (string, int) {
			fd := dup()
			unix.Close(fd)
			return fmt.Sprintf("%d:%d:%d", fd, g.Dev(), g.Ino()), -1
		}, false, false},
		{"stdin", func() (string, int) { return fmt.Sprintf("0:%d:%d", g.Dev(), g.Ino()), -1 }, false, false},
		{"old-format", func() (string, int) { return fmt.Sprintf("%d:%s", os.Getppid(), guard), -1 }, false, false},
		{"garbage", func() (string, int) { return "x:y:z", -1 }, false, false},
		{"empty", func() (string, int) { return "", -1 }, false, false},
	}
	for _, c := range cases {
		v, fd := c.value()
		t.Setenv(control.GuardEnv, v)
		checked := guard
		if c.name == "not-locked" {
			checked = other
		}
		if got := control.GuardHeldByParent(checked); got != c.want {
			t.Errorf("%s: %s=%q: %v, want %v", c.name, control.GuardEnv, v, got, c.want)
		}
		if _, ok := os.LookupEnv(control.GuardEnv); ok {
			t.Errorf("%s: %s still set after GuardHeldByParent", c.name, control.GuardEnv)
		}
		if fd >= 0 {
			if closed := !isOpen(fd); closed != c.wantClose {
				t.Errorf("%s: fd %d closed %v, want %v", c.name, fd, closed, c.wantClose)
			}
			if isOpen(fd) {
				unix.Close(fd)
			}
		}
	}
	os.Unsetenv(control.GuardEnv)
	if control.GuardHeldByParent(guard) {
		t.Error("no variable: reported held")
	}
	// Our own descriptor still holds the lock.
	if _, err := lockfile.Acquire(guard); err == nil {
		t.Error("guard file unlocked by GuardHeldByParent")
	}
}
