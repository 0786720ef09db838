//go:build linux

package pidlock

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"github.com/daemonkit/daemonkit/lockfile"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	"golang.org/x/sys/unix"

	"github.com/daemonkit/daemonkit/internal/pidfile"
	"github.com/daemonkit/daemonkit/internal/proctest"
)

const testTimeout = 10 * time.Second

// holder is a child process (this test binary, see TestMain) that holds a
// lock on a file until released.
type holder struct {
	pid     int
	release func()
}

// startHolder starts a child process that locks path (mode "ex" or "sh")
// and returns once the lock is held. The child is released and killed in
// t.Cleanup even if the test fails.
func startHolder(t *testing.T, path, mode string) *holder {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	// atexit_sleep_ms: a -race binary otherwise lingers 1 s on exit.
	cmd.Env = append(os.Environ(), holderEnv+"="+path, holderModeEnv+"="+mode, "GORACE=atexit_sleep_ms=0")
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start lock holder: %v", err)
	}
	pid := cmd.Process.Pid
	proctest.Cleanup(t, pid) // runs last: kills it if release did not end it
	var once sync.Once
	release := func() {
		once.Do(func() {
			stdin.Close()
			if err := cmd.Wait(); err != nil {
				t.Errorf("lock holder %d: %v", pid, err)
			}
		})
	}
	t.Cleanup(release)
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if line != "locked\n" {
		t.Fatalf("lock holder %d did not lock %s: %q, %v", pid, path, line, err)
	}
	return &holder{pid: pid, release: release}
}

// waiters counts the flock(2) requests blocked on inode ino of the file
// system holding the test's temporary directories, from /proc/locks.
//
// /proc/locks is not read atomically: a read returns about a page, and
// locks other processes take or drop between reads can make a line appear
// twice or not at all. So it is read until two reads agree, and callers
// only poll it for a count to be reached (proctest.WaitFor). Whether a file
// is locked is asked with lockState instead, which is exact.
func waiters(t *testing.T, ino uint64) int {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(os.TempDir(), &st); err != nil {
		t.Fatal(err)
	}
	dev := fmt.Sprintf("%02x:%02x:%d", unix.Major(st.Dev), unix.Minor(st.Dev), ino)
	count := func() int {
		b, err := os.ReadFile("/proc/locks")
		if err != nil {
			t.Fatalf("read /proc/locks: %v", err)
		}
		n := 0
		for _, line := range strings.Split(string(b), "\n") {
			// "12: -> FLOCK  ADVISORY  WRITE 345 fe:00:678 0 EOF"
			f := strings.Fields(line)
			if len(f) >= 7 && f[1] == "->" && f[2] == "FLOCK" && f[6] == dev {
				n++
			}
		}
		return n
	}
	for n := count(); ; {
		m := count()
		if m == n {
			return n
		}
		n = m
	}
}

// lockState probes the lock on the file f (or, if f is nil, on a fresh
// open of path) from a new open file description: "free", "shared" (only
// shared locks held) or "exclusive".
func lockState(t *testing.T, path string, f *os.File) string {
	t.Helper()
	if f == nil {
		var err error
		f, err = os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
	} else {
		// A new open file description of the same inode, via /proc.
		g, err := os.Open("/proc/self/fd/" + strconv.Itoa(int(f.Fd())))
		if err != nil {
			t.Fatal(err)
		}
		defer g.Close()
		f = g
	}
	fd := int(f.Fd())
	switch err := unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB); {
	case err == nil:
		unix.Flock(fd, unix.LOCK_UN)
		return "free"
	case !errors.Is(err, unix.EWOULDBLOCK):
		t.Fatalf("flock %s: %v", path, err)
	}
	switch err := unix.Flock(fd, unix.LOCK_SH|unix.LOCK_NB); {
	case err == nil:
		unix.Flock(fd, unix.LOCK_UN)
		return "shared"
	case !errors.Is(err, unix.EWOULDBLOCK):
		t.Fatalf("flock %s: %v", path, err)
	}
	return "exclusive"
}

func inode(t *testing.T, path string) uint64 {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		t.Fatal(err)
	}
	return st.Ino
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func mustAcquire(t *testing.T, path string) *File {
	t.Helper()
	f, err := Acquire(path)
	if err != nil {
		t.Fatalf("Acquire(%s): %v", path, err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func TestAcquireCreatesWithMode0644(t *testing.T) {
	old := unix.Umask(0o022)
	defer unix.Umask(old)
	path := filepath.Join(t.TempDir(), "d.pid")
	f := mustAcquire(t, path)
	st, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	if !st.Mode().IsRegular() || st.Mode().Perm() != 0o644 {
		t.Fatalf("created %s with mode %v, want -rw-r--r--", path, st.Mode())
	}
	if st.Size() != 0 {
		t.Fatalf("new pid file has %d bytes, want empty", st.Size())
	}
	if f.Path() != path || f.Ino() != inode(t, path) {
		t.Fatalf("File says path %q ino %d; the file is %q ino %d", f.Path(), f.Ino(), path, inode(t, path))
	}
	fl, err := unix.FcntlInt(f.File().Fd(), unix.F_GETFD, 0)
	if err != nil || fl&unix.FD_CLOEXEC == 0 {
		t.Fatalf("pid file descriptor is not close-on-exec (flags %#x, %v)", fl, err)
	}
	if st := lockState(t, path, nil); st != "exclusive" {
		t.Fatalf("after Acquire the lock on %s is %s, want exclusive", path, st)
	}
}

func TestAcquireKeepsContent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "d.pid")
	writeFile(t, path, "4242\n")
	f := mustAcquire(t, path)
	b, err := f.Read()
	if err != nil || string(b) != "4242\n" {
		t.Fatalf("Read after Acquire = %q, %v; want the old content kept", b, err)
	}
}

func TestAcquireTwiceInProcess(t *testing.T) {
	pidMax := pidfile.PIDMax()
	tests := []struct {
		content string
		state   lockfile.State
		pid     int
		msg     string
	}{
		{"", lockfile.Stopping, 0, "already running (stopping)"},
		{"(starting)\n", lockfile.Starting, 0, "already running (starting)"},
		{"4242\n", lockfile.Running, 4242, "already running (pid 4242)"},
		{strconv.Itoa(pidMax) + "\n", lockfile.Running, pidMax, "already running (pid " + strconv.Itoa(pidMax) + ")"},
		{"1\n", lockfile.Invalid, 0, "is locked"},
		{"0\n", lockfile.Invalid, 0, "is locked"},
		{"garbage", lockfile.Invalid, 0, `"garbage"`},
		{strings.Repeat("7", 1<<20), lockfile.Invalid, 0, "is locked"},
	}
	for _, tt := range tests {
		t.Run(tt.state.String()+"/"+strconv.Itoa(len(tt.content)), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "d.pid")
			writeFile(t, path, tt.content)
			first := lockRaw(t, path) // Acquire itself refuses invalid content
			second, err := Acquire(path)
			if err == nil {
				second.Close()
				t.Fatal("second Acquire on a different fd succeeded while the first holds the lock")
			}
			var le *lockfile.LockedError
			if !errors.Is(err, lockfile.ErrLocked) || !errors.As(err, &le) {
				t.Fatalf("second Acquire: %v (%T), want *lockfile.LockedError wrapping lockfile.ErrLocked", err, err)
			}
			if le.State != tt.state || le.PID != tt.pid || le.Path != path {
				t.Fatalf("LockedError = %+v, want state %v pid %d path %s", le, tt.state, tt.pid, path)
			}
			if len(le.Content) > pidfile.MaxContent+1 {
				t.Fatalf("LockedError.Content holds %d bytes, want at most %d", len(le.Content), pidfile.MaxContent+1)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("error %q does not contain %q", err, tt.msg)
			}
			if n := len(err.Error()) - len(path); n > 100+4*(pidfile.MaxContent+1) {
				t.Fatalf("error message is %d bytes long besides the path", n)
			}
			// The first holder is unaffected and the content unchanged.
			if got := readFile(t, path); got != tt.content {
				t.Fatalf("content changed by failed Acquire: %.40q", got)
			}
			if st := lockState(t, path, nil); st != "exclusive" {
				t.Fatalf("after the failed Acquire the lock is %s, want the first one's (exclusive)", st)
			}
			// Once released it can be acquired again, unless it is not a
			// PID file.
			first.Close()
			if tt.state == lockfile.Invalid {
				if _, err := Acquire(path); !errors.Is(err, lockfile.ErrNotPIDFile) {
					t.Fatalf("Acquire of %.20q once unlocked: %v, want lockfile.ErrNotPIDFile", tt.content, err)
				}
				return
			}
			mustAcquire(t, path)
		})
	}
}

func TestInspectLockedByChild(t *testing.T) {
	pidMax := pidfile.PIDMax()
	tests := []struct {
		name    string
		content string
		state   lockfile.State
		pid     int
	}{
		{"running", "4242\n", lockfile.Running, 4242},
		{"running without newline", "4242", lockfile.Running, 4242},
		{"running pid_max", strconv.Itoa(pidMax) + "\n", lockfile.Running, pidMax},
		{"starting", "(starting)\n", lockfile.Starting, 0},
		{"stopping", "", lockfile.Stopping, 0},
		{"zero", "0\n", lockfile.Invalid, 0},
		{"minus one", "-1\n", lockfile.Invalid, 0},
		{"init", "1\n", lockfile.Invalid, 0},
		{"pid_max+1", strconv.Itoa(pidMax+1) + "\n", lockfile.Invalid, 0},
		{"starting without newline", "(starting)", lockfile.Invalid, 0},
		{"garbage", "hello world\n", lockfile.Invalid, 0},
		{"NUL bytes", "\x00\x00\x00", lockfile.Invalid, 0},
		{"1 MiB of digits", strings.Repeat("1", 1<<20), lockfile.Invalid, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "d.pid")
			writeFile(t, path, tt.content)
			before := time.Now().Add(-time.Second)
			h := startHolder(t, path, "ex")
			if st := lockState(t, path, nil); st != "exclusive" {
				t.Fatalf("lock held by the child is %s", st)
			}
			info, err := lockfile.Inspect(path)
			if err != nil {
				t.Fatalf("Inspect: %v", err)
			}
			if info.State != tt.state || info.PID != tt.pid || info.Path != path {
				t.Fatalf("Inspect = %+v, want state %v pid %d", info, tt.state, tt.pid)
			}
			if !info.State.Alive() {
				t.Fatalf("%v is not Alive() though the file is locked", info.State)
			}
			if info.Ino != inode(t, path) {
				t.Fatalf("Info.Ino = %d, file is %d", info.Ino, inode(t, path))
			}
			if want := tt.content[:min(len(tt.content), pidfile.MaxContent+1)]; string(info.Content) != want {
				t.Fatalf("Info.Content = %.40q, want %.40q", info.Content, want)
			}
			if (tt.state == lockfile.Invalid) != (info.Reason != nil) {
				t.Fatalf("state %v with Reason %v", info.State, info.Reason)
			}
			if info.Reason != nil && !errors.Is(info.Reason, lockfile.ErrInvalidPID) {
				t.Fatalf("Reason %v does not wrap lockfile.ErrInvalidPID", info.Reason)
			}
			if (tt.state == lockfile.Running || tt.state == lockfile.Starting) == info.Since.IsZero() {
				t.Fatalf("state %v with Since %v", info.State, info.Since)
			}
			if !info.Since.IsZero() && info.Since.Before(before.Add(-time.Hour)) {
				t.Fatalf("Since = %v, not the file's mtime", info.Since)
			}
			// A controller's Acquire also sees it locked, and says the same.
			_, err = Acquire(path)
			var le *lockfile.LockedError
			if !errors.As(err, &le) || le.State != tt.state || le.PID != tt.pid {
				t.Fatalf("Acquire while the child holds the lock: %v, want lockfile.LockedError %v pid %d", err, tt.state, tt.pid)
			}
			// lockfile.Inspect took no lock and changed nothing.
			if got := readFile(t, path); got != tt.content {
				t.Fatalf("content changed: %.40q", got)
			}
			h.release()
			// Released: empty is not running, PID file content is stale,
			// anything else is not a PID file.
			info, err = lockfile.Inspect(path)
			want := map[lockfile.State]lockfile.State{lockfile.Stopping: lockfile.NotRunning, lockfile.Starting: lockfile.Stale, lockfile.Running: lockfile.Stale, lockfile.Invalid: lockfile.NotPIDFile}[tt.state]
			if err != nil || info.State != want || info.PID != 0 || info.State.Alive() {
				t.Fatalf("after release: lockfile.Inspect = %+v, %v; want %v", info, err, want)
			}
		})
	}
}

func TestInspectSharedLockHolderIsNotRunning(t *testing.T) {
	// Another controller inspecting at the same time (shared lock) must not
	// make the file look alive.
	path := filepath.Join(t.TempDir(), "d.pid")
	writeFile(t, path, "4242\n")
	startHolder(t, path, "sh")
	if st := lockState(t, path, nil); st != "shared" {
		t.Fatalf("lock held by the shared holder is %s", st)
	}
	info, err := lockfile.Inspect(path)
	if err != nil || info.State != lockfile.Stale {
		t.Fatalf("Inspect with a shared lock held elsewhere = %+v, %v; want stale", info, err)
	}
}

// TestAcquireWhileInspected: a controller reading the state with a shared
// lock at the moment a launcher locks the file does not make the launcher
// think the daemon is running.
func TestAcquireWhileInspected(t *testing.T) {
	path := filepath.Join(t.TempDir(), "d.pid")
	writeFile(t, path, "")
	h := startHolder(t, path, "sh")
	done := make(chan error, 1)
	go func() {
		f, err := Acquire(path)
		if err == nil {
			f.Close()
		}
		done <- err
	}()
	h.release()
	if err := <-done; err != nil {
		t.Fatalf("Acquire while a shared lock was being released: %v", err)
	}
	// An exclusive holder is still reported at once.
	startHolder(t, path, "ex")
	if _, err := Acquire(path); !errors.Is(err, lockfile.ErrLocked) {
		t.Fatalf("Acquire with an exclusive holder: %v, want lockfile.ErrLocked", err)
	}
}

func TestInspectUnlocked(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		content string
		state   lockfile.State
		reason  bool
	}{
		{"", lockfile.NotRunning, false},
		{"4242\n", lockfile.Stale, false},
		{"(starting)\n", lockfile.Stale, false},
		{"0\n", lockfile.NotPIDFile, true},
		{"garbage", lockfile.NotPIDFile, true},
		{strings.Repeat("9", 1<<20), lockfile.NotPIDFile, true},
	}
	for i, tt := range tests {
		path := filepath.Join(dir, strconv.Itoa(i)+".pid")
		writeFile(t, path, tt.content)
		info, err := lockfile.Inspect(path)
		if err != nil || info.State != tt.state || info.PID != 0 || (info.Reason != nil) != tt.reason {
			t.Errorf("Inspect(%.20q) = %+v, %v; want %v (reason %v)", tt.content, info, err, tt.state, tt.reason)
		}
		if len(info.Content) > pidfile.MaxContent+1 {
			t.Errorf("Inspect read %d bytes, want at most %d", len(info.Content), pidfile.MaxContent+1)
		}
		// lockfile.Inspect leaves no lock behind.
		if st := lockState(t, path, nil); st != "free" {
			t.Errorf("Inspect left a lock: %s", st)
		}
		if tt.state != lockfile.NotPIDFile {
			mustAcquire(t, path).Close()
			continue
		}
		if _, err := Acquire(path); !errors.Is(err, lockfile.ErrNotPIDFile) {
			t.Errorf("Acquire(%.20q) = %v; want lockfile.ErrNotPIDFile", tt.content, err)
		}
		if got := readFile(t, path); got != tt.content {
			t.Errorf("Acquire changed %.20q to %.20q", tt.content, got)
		}
	}
}

// lockRaw locks path exclusively through a plain open(2), as a program
// that knows nothing of PID file content would; the lock is released when
// the test ends or the returned file is closed.
func lockRaw(t *testing.T, path string) *os.File {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	return f
}

func TestInspectMissing(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "missing.pid")
	info, err := lockfile.Inspect(path)
	if err != nil || info.State != lockfile.NotRunning || info.Ino != 0 || info.Path != path {
		t.Fatalf("Inspect(missing) = %+v, %v; want not-running, nil", info, err)
	}
	if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Inspect created %s: %v", path, err)
	}
	// A missing directory is not a reason to create anything either.
	info, err = lockfile.Inspect(filepath.Join(dir, "nodir", "x.pid"))
	if err != nil || info.State != lockfile.NotRunning {
		t.Fatalf("Inspect(missing dir) = %+v, %v", info, err)
	}
}

// nonRegular makes one of each kind of file that is not a PID file and
// returns their paths by name.
func nonRegular(t *testing.T) map[string]string {
	t.Helper()
	dir := t.TempDir()
	p := map[string]string{}
	p["directory"] = filepath.Join(dir, "dir.pid")
	if err := os.Mkdir(p["directory"], 0o755); err != nil {
		t.Fatal(err)
	}
	p["fifo"] = filepath.Join(dir, "fifo.pid")
	if err := unix.Mkfifo(p["fifo"], 0o644); err != nil {
		t.Fatal(err)
	}
	p["socket"] = filepath.Join(dir, "sock.pid")
	l, err := net.Listen("unix", p["socket"])
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return p
}

// noBlock runs fn and fails the test if it does not return within
// testTimeout (a FIFO opened the wrong way blocks forever).
func noBlock(t *testing.T, what string, fn func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); fn() }()
	select {
	case <-done:
	case <-time.After(testTimeout):
		t.Fatalf("%s blocked", what)
	}
}

func TestNotRegular(t *testing.T) {
	for kind, path := range nonRegular(t) {
		t.Run(kind, func(t *testing.T) {
			var f *File
			var err error
			noBlock(t, "Acquire("+kind+")", func() { f, err = Acquire(path) })
			if err == nil {
				f.Close()
				t.Fatalf("Acquire(%s) succeeded", kind)
			}
			if !errors.Is(err, lockfile.ErrNotRegular) || !strings.Contains(err.Error(), path) {
				t.Fatalf("Acquire(%s) = %v; want lockfile.ErrNotRegular naming the path", kind, err)
			}
			var info lockfile.Info
			noBlock(t, "Inspect("+kind+")", func() { info, err = lockfile.Inspect(path) })
			if !errors.Is(err, lockfile.ErrNotRegular) || !strings.Contains(err.Error(), path) {
				t.Fatalf("Inspect(%s) = %+v, %v; want lockfile.ErrNotRegular naming the path", kind, info, err)
			}
			noBlock(t, "AcquireWait("+kind+")", func() { f, err = AcquireWait(context.Background(), path) })
			if !errors.Is(err, lockfile.ErrNotRegular) {
				t.Fatalf("AcquireWait(%s) = %v; want lockfile.ErrNotRegular", kind, err)
			}
		})
	}
	t.Run("char device", func(t *testing.T) {
		_, err := lockfile.Inspect("/dev/null")
		if !errors.Is(err, lockfile.ErrNotRegular) || !strings.Contains(err.Error(), "character device") {
			t.Fatalf("Inspect(/dev/null) = %v; want lockfile.ErrNotRegular (character device)", err)
		}
	})
}

func TestSymlinkNeverFollowed(t *testing.T) {
	dir := t.TempDir()
	elsewhere := t.TempDir()
	target := filepath.Join(elsewhere, "victim")
	writeFile(t, target, "precious\n")
	link := filepath.Join(dir, "d.pid")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	dangling := filepath.Join(dir, "dangling.pid")
	missing := filepath.Join(elsewhere, "created")
	if err := os.Symlink(missing, dangling); err != nil {
		t.Fatal(err)
	}
	before, _ := os.Stat(target)
	for _, path := range []string{link, dangling} {
		f, err := Acquire(path)
		if err == nil {
			f.Close()
			t.Fatalf("Acquire(symlink %s) succeeded", path)
		}
		if !errors.Is(err, lockfile.ErrNotRegular) || !strings.Contains(err.Error(), "symbolic link") {
			t.Fatalf("Acquire(symlink) = %v; want lockfile.ErrNotRegular (symbolic link)", err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		f, err = AcquireWait(ctx, path)
		cancel()
		if !errors.Is(err, lockfile.ErrNotRegular) {
			if err == nil {
				f.Close()
			}
			t.Fatalf("AcquireWait(symlink) = %v; want lockfile.ErrNotRegular", err)
		}
		if _, err := lockfile.Inspect(path); !errors.Is(err, lockfile.ErrNotRegular) {
			t.Fatalf("Inspect(symlink) = %v; want lockfile.ErrNotRegular", err)
		}
	}
	if got := readFile(t, target); got != "precious\n" {
		t.Fatalf("symlink target modified: %q", got)
	}
	after, _ := os.Stat(target)
	if !after.ModTime().Equal(before.ModTime()) || after.Mode() != before.Mode() {
		t.Fatalf("symlink target touched: %v %v -> %v %v", before.ModTime(), before.Mode(), after.ModTime(), after.Mode())
	}
	if st := lockState(t, target, nil); st != "free" {
		t.Fatalf("symlink target got locked: %s", st)
	}
	if _, err := os.Lstat(missing); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("dangling symlink target was created: %v", err)
	}
}

func TestSymlinkedDirectoryComponentIsFollowed(t *testing.T) {
	// O_NOFOLLOW is about the last component only: /run -> /var/run style
	// directory links keep working.
	real := t.TempDir()
	link := filepath.Join(t.TempDir(), "run")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	f := mustAcquire(t, filepath.Join(link, "d.pid"))
	if f.Ino() != inode(t, filepath.Join(real, "d.pid")) {
		t.Fatal("locked a different file than the one created")
	}
}

func TestAcquireRechecksInode(t *testing.T) {
	// A waiter that locked a file which was unlinked and recreated meanwhile
	// must drop it and lock the file the path names now.
	dir := t.TempDir()
	path := filepath.Join(dir, "d.lock")
	first := mustAcquire(t, path)
	oldIno := first.Ino()

	type result struct {
		f   *File
		err error
	}
	res := make(chan result, 1)
	go func() {
		f, err := AcquireWait(context.Background(), path)
		res <- result{f, err}
	}()
	// Wait until the waiter has opened the old inode and blocks in flock.
	proctest.WaitFor(t, testTimeout, "AcquireWait to block in flock", func() bool { return waiters(t, oldIno) == 1 })

	// Replace the file under it: unlink and recreate.
	old, err := os.Open(path) // to probe the old inode's lock later
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	writeFile(t, path, "4242\n")
	newIno := inode(t, path)
	if newIno == oldIno {
		t.Fatal("file system reused the inode; cannot test the recheck")
	}
	first.Close()

	var r result
	select {
	case r = <-res:
	case <-time.After(testTimeout):
		t.Fatal("AcquireWait did not return after the lock was released")
	}
	if r.err != nil {
		t.Fatalf("AcquireWait: %v", r.err)
	}
	defer r.f.Close()
	if r.f.Ino() != newIno || r.f.Path() != path || inode(t, path) != r.f.Ino() {
		t.Fatalf("AcquireWait holds ino %d; the path names ino %d (old was %d)", r.f.Ino(), newIno, oldIno)
	}
	if b, err := r.f.Read(); err != nil || string(b) != "4242\n" {
		t.Fatalf("Read = %q, %v; want the new file's content", b, err)
	}
	if st := lockState(t, path+" (unlinked)", old); st != "free" {
		t.Fatalf("the unlinked inode is still locked (%s)", st)
	}
	if st := lockState(t, path, nil); st != "exclusive" {
		t.Fatalf("the new file's lock is %s, want exclusive", st)
	}
}

func TestAcquireWaitTimesOut(t *testing.T) {
	path := filepath.Join(t.TempDir(), "d.lock")
	h := startHolder(t, path, "ex")
	ino := inode(t, path)

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	ret := make(chan error, 1)
	go func() {
		f, err := AcquireWait(ctx, path)
		if err == nil {
			f.Close()
		}
		ret <- err
	}()
	var err error
	select {
	case err = <-ret:
	case <-time.After(testTimeout):
		t.Fatal("AcquireWait ignored its context deadline")
	}
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), path) {
		t.Fatalf("AcquireWait = %v; want context.DeadlineExceeded naming %s", err, path)
	}
	// The leftover goroutine blocks in flock while the holder holds the
	// lock (it may get there only after the deadline) ...
	proctest.WaitFor(t, testTimeout, "abandoned flock to wait for the lock", func() bool { return waiters(t, ino) == 1 })
	// ... and once the holder releases it, takes the lock, drops it, ends.
	h.release()
	proctest.WaitFor(t, testTimeout, "abandoned flock to stop waiting", func() bool { return waiters(t, ino) == 0 })
	goleak.VerifyNone(t) // retries until the goroutine has closed the file
	if st := lockState(t, path, nil); st != "free" {
		t.Fatalf("after the abandoned waiter ended the lock is %s, want free", st)
	}
	mustAcquire(t, path)
}

func TestAcquireWaitCancel(t *testing.T) {
	path := filepath.Join(t.TempDir(), "d.lock")
	h := startHolder(t, path, "ex")
	ino := inode(t, path)
	ctx, cancel := context.WithCancel(context.Background())
	ret := make(chan error, 1)
	go func() {
		f, err := AcquireWait(ctx, path)
		if err == nil {
			f.Close()
		}
		ret <- err
	}()
	proctest.WaitFor(t, testTimeout, "AcquireWait to block in flock", func() bool { return waiters(t, ino) == 1 })
	cancel()
	select {
	case err := <-ret:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("AcquireWait = %v; want context.Canceled", err)
		}
	case <-time.After(testTimeout):
		t.Fatal("AcquireWait ignored cancellation")
	}
	h.release()
	proctest.WaitFor(t, testTimeout, "abandoned flock to stop waiting", func() bool { return waiters(t, ino) == 0 })
	goleak.VerifyNone(t)
	if st := lockState(t, path, nil); st != "free" {
		t.Fatalf("after the abandoned waiter ended the lock is %s, want free", st)
	}
}

func TestAcquireWaitSucceedsAfterRelease(t *testing.T) {
	for _, name := range []string{"with deadline", "background"} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "d.lock")
			h := startHolder(t, path, "ex")
			ino := inode(t, path)
			ctx := context.Background()
			if name == "with deadline" {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, time.Minute)
				defer cancel()
			}
			type result struct {
				f   *File
				err error
			}
			res := make(chan result, 1)
			go func() {
				f, err := AcquireWait(ctx, path)
				res <- result{f, err}
			}()
			proctest.WaitFor(t, testTimeout, "AcquireWait to block in flock", func() bool { return waiters(t, ino) == 1 })
			select {
			case r := <-res:
				t.Fatalf("AcquireWait returned while the holder holds the lock: %v", r.err)
			default:
			}
			h.release()
			var r result
			select {
			case r = <-res:
			case <-time.After(testTimeout):
				t.Fatal("AcquireWait did not return after release")
			}
			if r.err != nil {
				t.Fatalf("AcquireWait: %v", r.err)
			}
			defer r.f.Close()
			if r.f.Ino() != ino {
				t.Fatalf("locked ino %d, want %d", r.f.Ino(), ino)
			}
			if st := lockState(t, path, nil); st != "exclusive" {
				t.Fatalf("after AcquireWait the lock is %s, want exclusive (the holder is gone)", st)
			}
			if _, err := Acquire(path); !errors.Is(err, lockfile.ErrLocked) {
				t.Fatalf("Acquire while AcquireWait holds the lock: %v", err)
			}
		})
	}
}

func TestWriteContent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "d.pid")
	writeFile(t, path, "(starting)\n") // longer than anything written but itself
	f := mustAcquire(t, path)
	steps := []struct {
		name  string
		do    func() error
		want  string
		state lockfile.State
		pid   int
	}{
		{"WriteStarting", f.WriteStarting, "(starting)\n", lockfile.Starting, 0},
		{"WritePID", func() error { return f.WritePID(4242) }, "4242\n", lockfile.Running, 4242},
		{"WritePID shorter", func() error { return f.WritePID(7) }, "7\n", lockfile.Running, 7},
		{"WritePID own", func() error { return f.WritePID(os.Getpid()) }, strconv.Itoa(os.Getpid()) + "\n", lockfile.Running, os.Getpid()},
		{"WriteStarting again", f.WriteStarting, "(starting)\n", lockfile.Starting, 0},
		{"Clear", f.Clear, "", lockfile.Stopping, 0},
		{"Clear twice", f.Clear, "", lockfile.Stopping, 0},
	}
	for _, s := range steps {
		if err := s.do(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if got := readFile(t, path); got != s.want {
			t.Fatalf("after %s the file holds %q, want %q", s.name, got, s.want)
		}
		if b, err := f.Read(); err != nil || string(b) != s.want {
			t.Fatalf("after %s Read = %q, %v", s.name, b, err)
		}
		info, err := lockfile.Inspect(path)
		if err != nil || info.State != s.state || info.PID != s.pid {
			t.Fatalf("after %s lockfile.Inspect = %+v, %v; want %v pid %d", s.name, info, err, s.state, s.pid)
		}
	}
	if inode(t, path) != f.Ino() {
		t.Fatal("writing replaced the file instead of truncating it")
	}
	f.Close()
	if info, err := lockfile.Inspect(path); err != nil || info.State != lockfile.NotRunning {
		t.Fatalf("after Clear and Close: %+v, %v; want not-running", info, err)
	}
}

func TestAdopt(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "d.pid")
	f := mustAcquire(t, path)
	other := filepath.Join(dir, "other.pid")
	writeFile(t, other, "")
	of, err := os.Open(other)
	if err != nil {
		t.Fatal(err)
	}
	defer of.Close()
	df, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer df.Close()
	var ost unix.Stat_t
	unix.Fstat(int(df.Fd()), &ost)

	closedFd, err := unix.Dup(int(of.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	unix.Close(closedFd)

	bad := []struct {
		name     string
		fd       uintptr
		dev, ino uint64
	}{
		{"other file", of.Fd(), f.Dev(), f.Ino()},
		{"wrong inode", f.File().Fd(), f.Dev(), f.Ino() + 1},
		{"wrong device", f.File().Fd(), f.Dev() + 1, f.Ino()},
		{"directory with its own ids", df.Fd(), uint64(ost.Dev), uint64(ost.Ino)},
		{"closed fd", uintptr(closedFd), f.Dev(), f.Ino()},
	}
	for _, b := range bad {
		a, err := Adopt(b.fd, path, b.dev, b.ino)
		if err == nil {
			t.Fatalf("Adopt(%s) succeeded: %v", b.name, a)
		}
		if !errors.Is(err, ErrMismatch) || !strings.Contains(err.Error(), path) {
			t.Fatalf("Adopt(%s) = %v; want ErrMismatch naming %s", b.name, err, path)
		}
	}
	// The rejected descriptors are left alone (still open).
	if _, err := unix.FcntlInt(of.Fd(), unix.F_GETFD, 0); err != nil {
		t.Fatalf("Adopt closed a descriptor it rejected: %v", err)
	}

	// The right descriptor is adopted and made close-on-exec.
	fd, err := unix.Dup(int(f.File().Fd())) // dup has no FD_CLOEXEC
	if err != nil {
		t.Fatal(err)
	}
	a, err := Adopt(uintptr(fd), path, f.Dev(), f.Ino())
	if err != nil {
		unix.Close(fd)
		t.Fatalf("Adopt(right fd): %v", err)
	}
	defer a.Close()
	if fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err != nil || fl&unix.FD_CLOEXEC == 0 {
		t.Fatalf("adopted fd is not close-on-exec: %#x, %v", fl, err)
	}
	if a.Path() != path || a.Dev() != f.Dev() || a.Ino() != f.Ino() {
		t.Fatalf("adopted file: %s %d %d", a.Path(), a.Dev(), a.Ino())
	}
	if err := a.WritePID(4242); err != nil {
		t.Fatal(err)
	}
	// The lock is shared with the original description: closing the
	// original keeps it held through the adopted one.
	f.Close()
	if info, err := lockfile.Inspect(path); err != nil || info.State != lockfile.Running || info.PID != 4242 {
		t.Fatalf("Inspect through adopted lock = %+v, %v", info, err)
	}
}

func TestLockReleasedOnClose(t *testing.T) {
	path := filepath.Join(t.TempDir(), "d.pid")
	f := mustAcquire(t, path)
	if err := f.WritePID(4242); err != nil {
		t.Fatal(err)
	}
	if info, _ := lockfile.Inspect(path); info.State != lockfile.Running {
		t.Fatalf("while held: %v", info.State)
	}
	f.Close()
	if st := lockState(t, path, nil); st != "free" {
		t.Fatalf("lock after Close: %s, want free", st)
	}
	if info, _ := lockfile.Inspect(path); info.State != lockfile.Stale {
		t.Fatalf("after Close without Clear: %v, want stale", info.State)
	}
}

func TestAcquireAfterReplaceLocksNewFile(t *testing.T) {
	// The old inode stays locked by its holder, but the path now names a
	// new file: Acquire must lock the new one, not report "running".
	path := filepath.Join(t.TempDir(), "d.pid")
	writeFile(t, path, "4242\n")
	h := startHolder(t, path, "ex")
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	writeFile(t, path, "")
	f := mustAcquire(t, path)
	if f.Ino() != inode(t, path) {
		t.Fatalf("Acquire locked ino %d, the path names %d", f.Ino(), inode(t, path))
	}
	h.release()
}

func TestInspectMode(t *testing.T) {
	dir := t.TempDir()
	for _, mode := range []os.FileMode{0o644, 0o600, 0o666, 0o646} {
		path := filepath.Join(dir, mode.String()+".pid")
		writeFile(t, path, "4242\n")
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		info, err := lockfile.Inspect(path)
		if err != nil || info.Mode != mode {
			t.Errorf("Inspect(%v file).Mode = %v, %v", mode, info.Mode, err)
		}
	}
	if info, err := lockfile.Inspect(filepath.Join(dir, "missing")); err != nil || info.Mode != 0 {
		t.Errorf("Inspect(missing).Mode = %v, %v; want 0", info.Mode, err)
	}
}

func TestAcquireWaitGivesUpOnEndlessReplacement(t *testing.T) {
	// Each time the waiter gets the lock, the path already names a newer,
	// locked file (replaced by rename). After maxReplaced rounds it must
	// give up with ErrReplaced rather than loop forever.
	dir := t.TempDir()
	path := filepath.Join(dir, "d.lock")
	lockNew := func() (*os.File, uint64) {
		tmp := filepath.Join(dir, "new")
		f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, path); err != nil {
			t.Fatal(err)
		}
		return f, inode(t, path)
	}
	held, ino := lockNew()
	defer func() { held.Close() }()
	res := make(chan error, 1)
	go func() {
		f, err := AcquireWait(context.Background(), path)
		if err == nil {
			f.Close()
		}
		res <- err
	}()
	for i := range maxReplaced {
		proctest.WaitFor(t, testTimeout, "AcquireWait to block in flock (round "+strconv.Itoa(i)+")",
			func() bool { return waiters(t, ino) == 1 })
		old := held
		held, ino = lockNew()
		old.Close()
	}
	select {
	case err := <-res:
		if !errors.Is(err, ErrReplaced) || !strings.Contains(err.Error(), path) {
			t.Fatalf("AcquireWait = %v; want ErrReplaced naming %s", err, path)
		}
	case <-time.After(testTimeout):
		t.Fatal("AcquireWait did not give up")
	}
	if st := lockState(t, path, nil); st != "exclusive" {
		t.Fatalf("the last file's lock is %s; want it still held by us", st)
	}
}

func TestWriteErrorsNamePath(t *testing.T) {
	path := filepath.Join(t.TempDir(), "d.pid")
	writeFile(t, path, "4243\n") // unlike what any of the writes below writes
	ro, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	var st unix.Stat_t
	unix.Fstat(int(ro.Fd()), &st)
	fd, err := unix.Dup(int(ro.Fd()))
	ro.Close()
	if err != nil {
		t.Fatal(err)
	}
	f, err := Adopt(uintptr(fd), path, uint64(st.Dev), st.Ino)
	if err != nil {
		unix.Close(fd)
		t.Fatal(err)
	}
	defer f.Close()
	for name, write := range map[string]func() error{
		"WriteStarting": f.WriteStarting,
		"WritePID":      func() error { return f.WritePID(4242) },
		"Clear":         f.Clear,
	} {
		if err := write(); err == nil || !strings.Contains(err.Error(), path) {
			t.Errorf("%s on a read-only descriptor = %v; want an error naming %s", name, err, path)
		}
	}
}

// TestRewriteSameContentKeepsFile: writing what the file already holds
// leaves it alone (no truncation a reader could see as "stopping").
func TestRewriteSameContentKeepsFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "d.pid")
	f, err := Acquire(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.WritePID(4242); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-time.Hour).Truncate(time.Second)
	os.Chtimes(path, old, old)
	if err := f.WritePID(4242); err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(path)
	if b, _ := os.ReadFile(path); string(b) != "4242\n" || !st.ModTime().Equal(old) {
		t.Errorf("after rewriting the same pid: %q, mtime %v; want it untouched (%v)", b, st.ModTime(), old)
	}
	if err := f.WritePID(4243); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); string(b) != "4243\n" {
		t.Errorf("after writing another pid: %q", b)
	}
}

// TestAcquireLongSharedHolderIsBusy: a shared lock held for longer than a
// reader takes is reported as such, not as a running daemon.
func TestAcquireLongSharedHolderIsBusy(t *testing.T) {
	path := filepath.Join(t.TempDir(), "d.pid")
	writeFile(t, path, "")
	startHolder(t, path, "sh")
	_, err := Acquire(path)
	if !errors.Is(err, ErrBusy) || errors.Is(err, lockfile.ErrLocked) {
		t.Fatalf("Acquire with a long shared holder: %v, want ErrBusy", err)
	}
}

// TestReleaseUnlocksSharedDescription: Release gives the lock up even
// while another descriptor of the same open file description exists (a
// child forked meanwhile holds one until its exec); Close alone would not.
func TestReleaseUnlocksSharedDescription(t *testing.T) {
	path := filepath.Join(t.TempDir(), "d.pid")
	f, err := Acquire(path)
	if err != nil {
		t.Fatal(err)
	}
	dup, err := unix.Dup(int(f.File().Fd()))
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(dup)
	if err := f.Release(); err != nil {
		t.Fatalf("Release: %v", err)
	}
	g, err := Acquire(path)
	if err != nil {
		t.Fatalf("Acquire after Release while a copy of the descriptor is open: %v; want the lock free", err)
	}
	if err := g.Release(); err != nil {
		t.Fatal(err)
	}
	var nilFile *File
	if err := nilFile.Release(); err != nil {
		t.Fatalf("Release of a nil *File: %v", err)
	}
}
