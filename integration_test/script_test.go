//go:build linux

package integration_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/daemonkit/daemonkit/internal/proctest"
	"github.com/daemonkit/daemonkit/lockfile"
)

// TestScripts runs the daemonctl scenarios in testdata/*.txtar with
// daemonctl and the fake daemons on PATH. Besides testscript's builtins
// they may use:
//
//	dctl CODE ARGS...        run daemonctl ARGS, require exit status CODE;
//	                         its stdout and stderr are then checked with
//	                         stdout/stderr as after exec
//	pidof VAR FILE           set $VAR to the valid PID held in FILE; that
//	                         process is killed (if alive) and reaped at the end
//	[!] alive PID            the process is (not) alive; a zombie is not
//	waitfile FILE [TEXT]     wait up to 10 s for FILE to exist (and contain TEXT)
//	waitgone PID             wait up to 10 s for the process to be gone
//	procstatus PID FIELD V...  /proc/PID/status FIELD holds the values V...
//
// and the condition [root]. Every daemon still named by a running PID file
// under $WORK when a script ends is killed.
func TestScripts(t *testing.T) {
	binDir := filepath.Dir(binary(t, "./cmd/daemonctl"))
	binary(t, "./integration_test/testdata/fakes/fakedaemon")
	binary(t, "./examples/hello")
	binary(t, "./examples/failing")
	testscript.Run(t, testscript.Params{
		Dir: "testdata",
		Setup: func(env *testscript.Env) error {
			env.Setenv("PATH", binDir+string(os.PathListSeparator)+os.Getenv("PATH"))
			work := env.WorkDir
			env.Defer(func() { killDaemons(work) })
			return nil
		},
		Condition: func(cond string) (bool, error) {
			switch cond {
			case "root":
				return os.Geteuid() == 0, nil
			}
			return false, nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"dctl":       cmdDctl,
			"pidof":      cmdPidof,
			"alive":      cmdAlive,
			"waitfile":   cmdWaitfile,
			"waitgone":   cmdWaitgone,
			"procstatus": cmdProcstatus,
		},
	})
}

// killDaemons kills the daemon of every locked PID file under dir, and
// every process holding one open.
func killDaemons(dir string) {
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".pid") {
			return nil
		}
		info, err := lockfile.Inspect(path)
		if err != nil || !info.State.Alive() {
			return nil
		}
		if info.State == lockfile.Running {
			proctest.Kill(info.PID)
		}
		// Starting or stopping, or a holder the file does not name: kill
		// whoever holds it open.
		holders := proctest.OpenedBy(info.Dev, info.Ino)
		for _, pid := range holders {
			if pid != os.Getpid() {
				proctest.Kill(pid)
			}
		}
		return nil
	})
}

func cmdDctl(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 1 {
		ts.Fatalf("usage: dctl CODE ARGS...")
	}
	want, err := strconv.Atoi(args[0])
	if err != nil {
		ts.Fatalf("dctl: exit code %q is not a number", args[0])
	}
	err = ts.Exec("daemonctl", args[1:]...)
	got := 0
	if err != nil {
		ee, ok := err.(interface{ ExitCode() int })
		if !ok {
			ts.Fatalf("daemonctl: %v", err)
		}
		got = ee.ExitCode()
	}
	if got != want {
		ts.Fatalf("daemonctl exited with %d, want %d", got, want)
	}
}

func cmdPidof(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: pidof VAR FILE")
	}
	b, err := os.ReadFile(ts.MkAbs(args[1]))
	ts.Check(err)
	pid, err := lockfile.ParsePID(b, 0)
	if err != nil {
		ts.Fatalf("%s: %v", args[1], err)
	}
	ts.Setenv(args[0], strconv.Itoa(pid))
	// The daemons the scripts start end up as our children (we are the
	// subreaper): kill if still alive, and reap, at the end.
	ts.Defer(func() { proctest.Kill(pid) })
}

func cmdAlive(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: alive PID")
	}
	pid, err := strconv.Atoi(args[0])
	if err != nil || pid <= 1 {
		ts.Fatalf("alive: bad pid %q", args[0])
	}
	if alive := proctest.Alive(pid); alive == neg {
		ts.Fatalf("process %d: alive=%v", pid, alive)
	}
}

// cmdWaitgone waits up to 10 s for a process to be gone (after a signal
// sent from the script; `! alive` checks at once, for after a stop).
func cmdWaitgone(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: waitgone PID")
	}
	pid, err := strconv.Atoi(args[0])
	if err != nil || pid <= 1 {
		ts.Fatalf("waitgone: bad pid %q", args[0])
	}
	if !proctest.Eventually(10*time.Second, func() bool { return !proctest.Alive(pid) }) {
		ts.Fatalf("process %d still alive after 10s", pid)
	}
}

func cmdWaitfile(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 1 || len(args) > 2 {
		ts.Fatalf("usage: waitfile FILE [SUBSTRING]")
	}
	path := ts.MkAbs(args[0])
	var last string
	ok := proctest.Eventually(10*time.Second, func() bool {
		b, err := os.ReadFile(path)
		last = string(b)
		return err == nil && (len(args) == 1 || strings.Contains(last, args[1]))
	})
	if !ok {
		ts.Fatalf("waitfile %s: timed out; content %q", args[0], last)
	}
}

func cmdProcstatus(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 3 {
		ts.Fatalf("usage: procstatus PID FIELD VALUE...")
	}
	b, err := os.ReadFile("/proc/" + args[0] + "/status")
	ts.Check(err)
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, args[1]+":"); ok {
			got, want := strings.Join(strings.Fields(v), " "), strings.Join(args[2:], " ")
			if got != want {
				ts.Fatalf("/proc/%s/status %s: %q, want %q", args[0], args[1], got, want)
			}
			return
		}
	}
	ts.Fatalf("/proc/%s/status has no %s line", args[0], args[1])
}
