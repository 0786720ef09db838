//go:build linux

package procfs

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"testing"

	"go.uber.org/goleak"
	"golang.org/x/sys/unix"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestParseStat(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Stat
		ok   bool
	}{
		{"42 (sleep) S 1 42 42 0 -1", Stat{'S', 1, 42}, true},
		{"42 (a) b) (c) Z 7 8 9", Stat{'Z', 7, 8}, true},
		{"42 (x y) R 3 4", Stat{'R', 3, 4}, true},
		{"42 (x) R 3", Stat{}, false},
		{"42 x R 3 4", Stat{}, false},
		{"42 (x) R three 4", Stat{}, false},
		{"", Stat{}, false},
	} {
		got, err := parseStat([]byte(c.in))
		if (err == nil) != c.ok || c.ok && got != c.want {
			t.Errorf("parseStat(%q) = %+v, %v; want %+v ok=%v", c.in, got, err, c.want, c.ok)
		}
	}
}

func TestSelf(t *testing.T) {
	st, err := ReadStat(os.Getpid())
	if err != nil || st.PPID != os.Getppid() || st.PGRP != syscall.Getpgrp() {
		t.Errorf("ReadStat(self) = %+v, %v; want ppid %d pgrp %d", st, err, os.Getppid(), syscall.Getpgrp())
	}
	if ppid, err := ParentOf(os.Getpid()); err != nil || ppid != os.Getppid() {
		t.Errorf("ParentOf(self) = %d, %v", ppid, err)
	}
	if _, err := ReadStat(1 << 30); !errors.Is(err, ErrGone) {
		t.Errorf("ReadStat(no such pid): %v, want ErrGone", err)
	}
}

func TestChildGroupAndFiles(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sleep", "1000")
	cmd.ExtraFiles = []*os.File{f}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	defer func() { cmd.Process.Kill(); cmd.Wait() }()

	if !IsDescendant(pid, os.Getpid()) || IsDescendant(os.Getpid(), pid) {
		t.Error("IsDescendant: wrong")
	}
	if ok, err := HasOpen(pid, uint64(st.Dev), uint64(st.Ino)); err != nil || !ok {
		t.Errorf("HasOpen(child) = %v, %v", ok, err)
	}
	holders, err := Holders(uint64(st.Dev), uint64(st.Ino))
	if err != nil || !slices.Contains(holders, pid) || !slices.Contains(holders, os.Getpid()) {
		t.Errorf("Holders = %v, %v; want child %d and us %d", holders, err, pid, os.Getpid())
	}
	if c := Comm(pid); c != "sleep" {
		t.Errorf("Comm = %q", c)
	}
	if ok, err := GroupAlive(pid); err != nil || !ok {
		t.Errorf("GroupAlive(child's group) = %v, %v", ok, err)
	}

	// A zombie is gone, and so is a group of zombies.
	cmd.Process.Signal(syscall.SIGKILL)
	var info unix.Siginfo
	if err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil); err != nil {
		t.Fatal(err)
	}
	if st, err := ReadStat(pid); err != nil || !st.Gone() || st.PPID != os.Getpid() {
		t.Errorf("ReadStat(zombie) = %+v, %v; want gone, our child", st, err)
	}
	if _, err := HasOpen(pid, uint64(st.Dev), uint64(st.Ino)); !errors.Is(err, ErrGone) {
		t.Errorf("HasOpen(zombie): %v, want ErrGone", err)
	}
	if ok, err := GroupAlive(pid); err != nil || ok {
		t.Errorf("GroupAlive(zombie group) = %v, %v", ok, err)
	}
	if _, err := GroupAlive(1); err == nil {
		t.Error("GroupAlive(1) accepted")
	}
}
