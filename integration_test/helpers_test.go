//go:build linux

package integration_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/daemonkit/daemonkit/internal/proctest"
	"github.com/daemonkit/daemonkit/lockfile"
)

// result is what a finished command left behind.
type result struct {
	stdout, stderr string
	code           int
}

// run runs bin with args, bounded by a minute, and returns its output and
// exit status.
func run(t *testing.T, env []string, bin string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		t.Fatalf("%s %v: %v", bin, args, err)
	}
	if ctx.Err() != nil {
		t.Fatalf("%s %v did not finish within a minute", bin, args)
	}
	return r
}

// expect fails t unless r exited with code.
func (r result) expect(t *testing.T, code int, what string) {
	t.Helper()
	if r.code != code {
		t.Fatalf("%s: exit %d, want %d\nstdout: %s\nstderr: %s", what, r.code, code, r.stdout, r.stderr)
	}
}

// daemonPID reads the PID file, requires it to name a live process, and
// registers that process for killing at cleanup.
func daemonPID(t *testing.T, pidFile string) int {
	t.Helper()
	info, err := lockfile.Inspect(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	if info.State != lockfile.Running {
		t.Fatalf("pid file %s: state %v (content %q), want running", pidFile, info.State, info.Content)
	}
	proctest.Cleanup(t, info.PID)
	if !proctest.Alive(info.PID) {
		t.Fatalf("pid file %s names pid %d, which is not alive", pidFile, info.PID)
	}
	return info.PID
}

// requireReleased checks that nobody holds the PID file and that it does
// not name a live process.
func requireReleased(t *testing.T, pidFile string) {
	t.Helper()
	info, err := lockfile.Inspect(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Alive() {
		t.Fatalf("pid file %s still locked: %v %q", pidFile, info.State, info.Content)
	}
	if pid, err := lockfile.ParsePID(info.Content, 0); err == nil && proctest.Alive(pid) {
		t.Fatalf("pid file %s names live pid %d after the daemon was gone", pidFile, pid)
	}
}

// procsWithArg lists live processes whose command line contains arg
// exactly: the test gives every daemon a unique PID file path, so this
// finds whatever a test left behind.
func procsWithArg(arg string) []int {
	var pids []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		for _, a := range strings.Split(string(b), "\x00") {
			if a == arg && proctest.Alive(pid) {
				pids = append(pids, pid)
				break
			}
		}
	}
	return pids
}

// requireNoProcess fails t if any live process still has arg on its command
// line, and kills them.
func requireNoProcess(t *testing.T, arg string) {
	t.Helper()
	var left []int
	if !proctest.Eventually(5*time.Second, func() bool { left = procsWithArg(arg); return len(left) == 0 }) {
		for _, pid := range left {
			proctest.Kill(pid)
		}
		t.Fatalf("processes left behind with %q: %v", arg, left)
	}
}

// procStatus returns the fields of /proc/PID/status.
func procStatus(t *testing.T, pid int) map[string]string {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok {
			m[k] = strings.Join(strings.Fields(v), " ")
		}
	}
	return m
}

// procStat returns the fields of /proc/PID/stat after the command name.
func procStat(t *testing.T, pid int) []string {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.LastIndexByte(b, ')')
	return strings.Fields(string(b[i+2:]))
}

// openFDs returns the targets of pid's descriptors, by number, leaving out
// the Go runtime's own (its netpoller's eventpoll and eventfd, and the
// cgroup files it keeps open to track the CPU limit).
func openFDs(t *testing.T, pid int) map[int]string {
	t.Helper()
	dir := "/proc/" + strconv.Itoa(pid) + "/fd"
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	fds := map[int]string{}
	for _, e := range ents {
		n, _ := strconv.Atoi(e.Name())
		l, err := os.Readlink(filepath.Join(dir, e.Name()))
		if err != nil {
			continue
		}
		if l == "anon_inode:[eventpoll]" || l == "anon_inode:[eventfd]" || strings.HasPrefix(l, "/sys/fs/cgroup/") {
			continue
		}
		fds[n] = l
	}
	return fds
}

// waitFileContains waits until path contains s.
func waitFileContains(t *testing.T, path, s string) {
	t.Helper()
	proctest.WaitFor(t, 10*time.Second, path+" to contain "+strconv.Quote(s), func() bool {
		b, _ := os.ReadFile(path)
		return strings.Contains(string(b), s)
	})
}
