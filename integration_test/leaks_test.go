//go:build linux

package integration_test

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/daemonkit/daemonkit/internal/proctest"
)

// strayFiles opens seven descriptors of assorted kinds, to be passed as
// fds 3–9 to a launcher that did not ask for them.
func strayFiles(t *testing.T) []*os.File {
	t.Helper()
	dir := t.TempDir()
	var files []*os.File
	add := func(f *os.File, err error) {
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		files = append(files, f)
	}
	add(os.Create(filepath.Join(dir, "stray-file")))
	r, w, err := os.Pipe()
	add(r, err)
	add(w, nil)
	add(os.Open(os.DevNull))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	lf, err := ln.(*net.TCPListener).File()
	ln.Close()
	add(lf, err)
	add(os.Open(dir))
	add(os.Create(filepath.Join(dir, "stray-file-2")))
	return files
}

// startWithStrays runs bin args with fds 3–9 open and returns its result.
func startWithStrays(t *testing.T, files []*os.File, bin string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.ExtraFiles = files
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestLeaksFrameworkDaemon: a framework daemon whose launcher was started
// with fds 3–9 open has exactly stdin, stdout, stderr and its PID file open,
// and its environment (as the kernel shows it to a program it starts, which
// is covered by TestHandoffHooksAndChildren) leaks nothing of the launch.
func TestLeaksFrameworkDaemon(t *testing.T) {
	t.Parallel()
	hello := binary(t, "./examples/hello")
	pidFile := filepath.Join(t.TempDir(), "hello.pid")
	startWithStrays(t, strayFiles(t), hello, "start", "--pid-file", pidFile).expect(t, 0, "start with fds 3-9 open")
	pid := daemonPID(t, pidFile)
	// The daemon closes the ready channel (fd 4) once it has read the ACK,
	// which may be just after the launcher exited.
	proctest.WaitFor(t, 10*time.Second, "the daemon to close its ready channel", func() bool {
		_, open := openFDs(t, pid)[4]
		return !open
	})
	requireOnlyFDs(t, pid, map[int]string{0: os.DevNull, 1: os.DevNull, 2: os.DevNull}, pidFile)
	run(t, nil, hello, "stop", "--pid-file", pidFile).expect(t, 0, "stop")
}

// TestLeaksBackgroundDaemon: a program daemonized by daemonctl --background,
// which was started with fds 3–9 open, has exactly stdin, stdout, stderr and
// the PID file (fd 3) open, and none of daemonctl's readiness machinery
// (no NOTIFY_SOCKET without --notify, no ready fd after readiness).
func TestLeaksBackgroundDaemon(t *testing.T) {
	t.Parallel()
	fake := binary(t, "./integration_test/testdata/fakes/fakedaemon")
	ctl := binary(t, "./cmd/daemonctl")
	for _, mode := range [][]string{nil, {"--notify"}, {"--ready-fd", "7"}} {
		name := "exec"
		if mode != nil {
			name = mode[0]
		}
		t.Run(name, func(t *testing.T) {
			pidFile := filepath.Join(t.TempDir(), "fake.pid")
			args := append([]string{"start", "--pid-file", pidFile, "--background"}, mode...)
			args = append(args, "--", fake)
			switch name {
			case "--notify":
				args = append(args, "-notify")
			case "--ready-fd":
				args = append(args, "-ready-fd", "7")
			}
			startWithStrays(t, strayFiles(t), ctl, args...).expect(t, 0, "start --background with fds 3-9 open")
			pid := daemonPID(t, pidFile)
			if name == "--ready-fd" {
				// fd 7 is the program's until it has written and closed it
				// (fakedaemon closes it right after the newline).
				proctest.WaitFor(t, 10*time.Second, "the program to close its ready fd", func() bool {
					_, open := openFDs(t, pid)[7]
					return !open
				})
			}
			requireOnlyFDs(t, pid, map[int]string{0: os.DevNull, 1: os.DevNull, 2: os.DevNull, 3: pidFile}, pidFile)
			env, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/environ")
			for _, v := range []string{"DAEMONKIT_STAGE=", "LISTEN_FDS="} {
				if bytes.Contains(env, []byte(v)) {
					t.Errorf("daemon environment has %s", v)
				}
			}
			if name != "--notify" && bytes.Contains(env, []byte("NOTIFY_SOCKET=")) {
				t.Errorf("daemon started without --notify has NOTIFY_SOCKET")
			}
			run(t, nil, ctl, "stop", "--pid-file", pidFile).expect(t, 0, "stop")
		})
	}
}

// requireOnlyFDs fails t unless pid's descriptors (less the Go runtime's
// own, see openFDs) are exactly those in want plus one more naming pidFile.
func requireOnlyFDs(t *testing.T, pid int, want map[int]string, pidFile string) {
	t.Helper()
	// A program that has just been exec'd may still have descriptors of its
	// own start-up open for a moment (the dynamic loader's libraries, the Go
	// runtime reading /proc/self/mountinfo): what leaked stays, so wait for
	// the set to settle before judging it.
	var fds map[int]string
	var problems []string
	proctest.Eventually(5*time.Second, func() bool {
		fds = openFDs(t, pid)
		problems = problems[:0]
		for fd, target := range want {
			if fds[fd] != target {
				problems = append(problems, fmt.Sprintf("fd %d -> %q, want %q", fd, fds[fd], target))
			}
		}
		for fd, target := range fds {
			if _, ok := want[fd]; ok || target == pidFile {
				continue // its own PID file, wherever it is
			}
			problems = append(problems, "has "+strconv.Itoa(fd)+" -> "+target)
		}
		if !slices.Contains(mapValues(fds), pidFile) {
			problems = append(problems, "does not hold its pid file")
		}
		return len(problems) == 0
	})
	if len(problems) != 0 {
		t.Errorf("daemon %d: %v (all: %v)", pid, problems, fds)
	}
}

func mapValues(m map[int]string) []string {
	var out []string
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

// zombieChildren returns our children that are zombies.
func zombieChildren() []int {
	var out []int
	ents, _ := os.ReadDir("/proc")
	me := strconv.Itoa(os.Getpid())
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+2:]))
		if len(f) > 1 && f[0] == "Z" && f[1] == me {
			out = append(out, pid)
		}
	}
	return out
}

// TestLauncherLeavesNoZombies: a launcher whose daemon fails (error, exit,
// SIGKILL, panic, no READY in time) or that fails itself after spawning it
// reaps the daemon before it exits: no zombie is handed to us (the test is
// the child subreaper, so an unreaped daemon would show up as our zombie).
// Not parallel: no other test's daemons come and go meanwhile.
func TestLauncherLeavesNoZombies(t *testing.T) {
	faulty := faultyBinary(t)
	for _, env := range [][]string{
		{"FAULTY=postdetach=error"},
		{"FAULTY=postdetach=exit:3"},
		{"FAULTY=postdetach=kill"},
		{"FAULTY=ready=panic"},
		{"DAEMONKIT_FAULT=adopted=panic"},
		{"DAEMONKIT_FAULT=after-ready=error"},
		{"DAEMONKIT_FAULT=after-spawn=error"},
		{"DAEMONKIT_FAULT=before-ready=hang"},
	} {
		t.Run(strings.Join(env, ","), func(t *testing.T) {
			pidFile := filepath.Join(t.TempDir(), "f.pid")
			before := zombieChildren()
			run(t, env, faulty, "start", "--pid-file", pidFile, "--ready-timeout", "1s").expect(t, 1, "failing start")
			requireNoProcess(t, pidFile)
			// The launcher was our child and is reaped; anything else that
			// is now our zombie was its child, left unreaped.
			var left []int
			for _, pid := range zombieChildren() {
				if !slices.Contains(before, pid) {
					left = append(left, pid)
				}
			}
			for _, pid := range left {
				proctest.Reap(pid)
			}
			if len(left) != 0 {
				t.Errorf("the launcher left zombies: %v", left)
			}
		})
	}
}

// goleakCall matches a call of goleak's checks.
var goleakCall = regexp.MustCompile(`goleak\.(VerifyTestMain|VerifyNone|Find)\(`)

// TestEveryPackageUsesGoleak: every package of the module with tests checks
// for leaked goroutines (goleak.VerifyTestMain or goleak.VerifyNone).
func TestEveryPackageUsesGoleak(t *testing.T) {
	root := proctest.ModuleRoot()
	pkgs := map[string]bool{} // dir -> uses goleak
	filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) && path != root {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, "_test.go") {
			return nil
		}
		dir := filepath.Dir(path)
		b, _ := os.ReadFile(path)
		pkgs[dir] = pkgs[dir] || goleakCall.Match(b)
		return nil
	})
	if len(pkgs) == 0 {
		t.Fatal("found no test files under " + root)
	}
	for dir, ok := range pkgs {
		rel, _ := filepath.Rel(root, dir)
		t.Run(rel, func(t *testing.T) {
			if !ok {
				t.Errorf("package %s has tests but none calls goleak.VerifyTestMain or goleak.VerifyNone", rel)
			}
		})
	}
}
