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
	if fds, err := openFDs(pid, uint64(st.Dev), uint64(st.Ino)); err != nil || len(fds) == 0 {
		t.Errorf("openFDs(child) = %v, %v", fds, err)
	}
	if c := Comm(pid); c != "sleep" {
		t.Errorf("Comm = %q", c)
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
	if _, err := openFDs(pid, uint64(st.Dev), uint64(st.Ino)); !errors.Is(err, ErrGone) {
		t.Errorf("openFDs(zombie): %v, want ErrGone", err)
	}
	if _, err := HoldsLock(pid, uint64(st.Dev), uint64(st.Ino)); !errors.Is(err, ErrGone) {
		t.Errorf("HoldsLock(zombie): %v, want ErrGone", err)
	}
}

// TestHoldsLock: only a process whose descriptor refers to the open file
// description that holds the exclusive flock holds the lock; one that has
// the same file open on its own, or holds a shared lock, does not.
func TestHoldsLock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f.pid")
	if err := os.WriteFile(path, []byte("42\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	locked, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer locked.Close()
	if err := unix.Flock(int(locked.Fd()), unix.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(locked.Fd()), &st); err != nil {
		t.Fatal(err)
	}
	dev, ino := uint64(st.Dev), uint64(st.Ino)

	start := func(extra *os.File) int {
		cmd := exec.Command("sleep", "1000")
		if extra != nil {
			cmd.ExtraFiles = []*os.File{extra}
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		return cmd.Process.Pid
	}
	// The holder inherits the locking description; the reader opens the
	// file itself, as `tail -f` would; the sharer holds a shared lock of
	// another file of its own.
	holder := start(locked)
	reader, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	readerPID := start(reader)
	other := filepath.Join(t.TempDir(), "g")
	os.WriteFile(other, nil, 0o644)
	shared, _ := os.Open(other)
	defer shared.Close()
	unix.Flock(int(shared.Fd()), unix.LOCK_SH)
	var ost unix.Stat_t
	unix.Fstat(int(shared.Fd()), &ost)
	sharer := start(shared)

	for _, c := range []struct {
		pid      int
		dev, ino uint64
		want     bool
	}{
		{holder, dev, ino, true},
		{os.Getpid(), dev, ino, true},
		{readerPID, dev, ino, false},
		{sharer, uint64(ost.Dev), uint64(ost.Ino), false},
	} {
		if got, err := HoldsLock(c.pid, c.dev, c.ino); err != nil || got != c.want {
			t.Errorf("HoldsLock(%d) = %v, %v; want %v", c.pid, got, err, c.want)
		}
	}
	if fds, err := openFDs(readerPID, dev, ino); err != nil || len(fds) == 0 {
		t.Errorf("openFDs(reader) = %v, %v; want its descriptor", fds, err)
	}
	hs, err := LockHolders(dev, ino)
	var got []int
	for _, h := range hs {
		got = append(got, h.PID)
		if h.Comm == "" || h.UID != os.Getuid() {
			t.Errorf("holder %v: want a command name and uid %d", h, os.Getuid())
		}
	}
	if err != nil || !slices.Contains(got, holder) || !slices.Contains(got, os.Getpid()) || slices.Contains(got, readerPID) {
		t.Errorf("LockHolders = %v, %v; want %d and %d, not the reader %d", got, err, holder, os.Getpid(), readerPID)
	}
	if _, err := HoldsLock(1<<30, dev, ino); !errors.Is(err, ErrGone) {
		t.Errorf("HoldsLock(no such pid): %v, want ErrGone", err)
	}
}

func TestExclusiveFlock(t *testing.T) {
	for in, want := range map[string]bool{
		"pos:\t0\nflags:\t02\nlock:\t1: FLOCK  ADVISORY  WRITE 12 00:2d:99 0 EOF\n": true,
		"lock:\t1: FLOCK  ADVISORY  WRITE 12 00:2d:98 0 EOF\n":                      false, // another file's
		"lock:\t1: FLOCK  ADVISORY  WRITE 12 00:2d:990 0 EOF\n":                     false,
		"lock:\t1: FLOCK  ADVISORY  READ 12 00:2d:99 0 EOF\n":                       false,
		"lock:\t1: POSIX  ADVISORY  WRITE 12 00:2d:99 0 EOF\n":                      false,
		"lock:\t1: OFDLCK ADVISORY  WRITE -1 00:2d:99 0 EOF\n":                      false,
		"pos:\t0\n":       false,
		"lock:\t1: FLOCK": false,
		"":                false,
	} {
		if got := exclusiveFlock([]byte(in), 99); got != want {
			t.Errorf("exclusiveFlock(%q, 99) = %v, want %v", in, got, want)
		}
	}
}

// TestErrorsAreNotGone: failing to read /proc (here: no descriptor left)
// is an error, never "the process is gone".
func TestErrorsAreNotGone(t *testing.T) {
	var old unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &old); err != nil {
		t.Fatal(err)
	}
	// Lower the limit to just above what is open, fill the table, and put
	// both back before anything else runs.
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	low := old
	low.Cur = uint64(len(ents) + 16)
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &low); err != nil {
		t.Fatal(err)
	}
	defer unix.Setrlimit(unix.RLIMIT_NOFILE, &old)
	var held []int
	defer func() {
		for _, fd := range held {
			unix.Close(fd)
		}
	}()
	for {
		fd, err := unix.Open("/dev/null", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			break
		}
		held = append(held, fd)
	}
	_, err = ReadStat(os.Getpid())
	if err == nil || errors.Is(err, ErrGone) {
		t.Errorf("ReadStat with no descriptors left: %v; want an error that is not ErrGone", err)
	}
}

func TestSameNamespace(t *testing.T) {
	if err := SameNamespace(); err != nil {
		t.Errorf("SameNamespace: %v", err)
	}
	if s := (Process{PID: 7, UID: 0, Comm: "x"}).String(); s != "pid 7 (x, uid 0)" {
		t.Errorf("Process.String = %q", s)
	}
}
