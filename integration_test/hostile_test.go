//go:build linux

package integration_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/daemonkit/daemonkit/internal/proctest"
	"github.com/daemonkit/daemonkit/lockfile"
)

// requireUnshare skips t unless a fresh PID namespace can be made (root
// and util-linux unshare).
func requireUnshare(t *testing.T) {
	t.Helper()
	proctest.RequireRoot(t)
	if out, err := exec.Command("unshare", "--pid", "--fork", "--mount-proc", "true").CombinedOutput(); err != nil {
		t.Skipf("skipped: cannot make a PID namespace with `unshare --pid --fork --mount-proc` (util-linux): %v %s", err, out)
	}
}

// nsCommand is one daemonctl run inside the namespace.
type nsCommand struct {
	name string
	args []string // daemonctl's arguments; "$F" is the PID file, "$DIR" its directory
	want int      // exit status
	says string   // stderr contains this ("$F" is the PID file)
	// ownPID runs daemonctl from a shell that first writes its own PID
	// (which daemonctl keeps, by exec) into the PID file.
	ownPID bool
	env    string // "K=V" put before the command
}

// nsCase is one hostile setup: Go prepares files, then inside a fresh PID
// namespace a shell (PID 1, trapping every catchable signal) starts a
// canary, runs prep, optionally locks the PID file with flock(1) (another
// canary), runs the commands, and reports whether anything was signalled.
type nsCase struct {
	name    string
	setup   func(t *testing.T, dir, pidFile string) // may be nil
	prep    string                                  // shell, with $F, $CANARY, $DIR
	lock    string                                  // the path flock(1) holds ("" none); "$F" is the PID file
	cmds    []nsCommand
	checkFn func(t *testing.T, dir, pidFile string) // after the run; may be nil
}

// nsReport is what the namespace run left.
type nsReport struct {
	codes   map[string]int
	stderr  map[string]string
	signals string // what PID 1 trapped
	canary  bool   // the canary survived
	holder  bool   // the lock holder survived (if any)
	out     string
}

// runInPIDNamespace runs c inside `unshare --pid --fork --mount-proc`.
func runInPIDNamespace(t *testing.T, ctl string, c nsCase) nsReport {
	t.Helper()
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	pidFile := filepath.Join(dir, "d.pid")
	if c.setup != nil {
		c.setup(t, dir, pidFile)
	}
	var sh strings.Builder
	q := strconv.Quote
	fmt.Fprintf(&sh, "F=%s; DIR=%s; CTL=%s\n", q(pidFile), q(dir), q(ctl))
	// PID 1 of a namespace gets only the signals it has handlers for:
	// trap all catchable ones, so a kill(1, …) is recorded, not ignored.
	for _, s := range []string{"HUP", "INT", "QUIT", "USR1", "USR2", "PIPE", "ALRM", "TERM", "CONT", "TSTP", "TTIN", "TTOU"} {
		fmt.Fprintf(&sh, "trap 'echo %s >> \"$DIR/pid1-signals\"' %s\n", s, s)
	}
	sh.WriteString("sleep 1000 & CANARY=$!\n")
	if c.prep != "" {
		sh.WriteString(c.prep + "\n")
	}
	if c.lock != "" {
		fmt.Fprintf(&sh, "L=%s\nflock -x \"$L\" sleep 1000 & HOLDER=$!\n", q(c.lock))
		// Wait until the lock is held (a probe that can take it means not yet).
		sh.WriteString("n=0; while flock -n -s \"$L\" true 2>/dev/null; do n=$((n+1)); [ $n -gt 500 ] && echo 'lock not taken' && exit 3; sleep 0.01; done\n")
	}
	for i, cmd := range c.cmds {
		args := make([]string, len(cmd.args))
		for j, a := range cmd.args {
			args[j] = q(a) // in double quotes: $F and $DIR expand
		}
		line := `"$CTL" ` + strings.Join(args, " ")
		if cmd.ownPID {
			line = fmt.Sprintf(`sh -c 'printf "%%s\n" $$ > "$1"; shift; exec "$@"' sh "$F" "$CTL" %s`, strings.Join(args, " "))
		}
		if cmd.env != "" {
			line = "env " + q(cmd.env) + " " + line
		}
		fmt.Fprintf(&sh, "%s 2> \"$DIR/stderr.%d\"; echo \"rc %d $?\"\n", line, i, i)
	}
	sh.WriteString("kill -0 $CANARY 2>/dev/null && echo canary-alive\n")
	if c.lock != "" {
		sh.WriteString("kill -0 $HOLDER 2>/dev/null && echo holder-alive\n")
	}
	sh.WriteString("kill -9 $CANARY ${HOLDER:-} 2>/dev/null; wait 2>/dev/null; exit 0\n")

	// --kill-child: when unshare dies, its child (PID 1 of the namespace)
	// gets SIGKILL, and with it everything in the namespace. The context
	// bounds the whole run.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "unshare", "--pid", "--fork", "--kill-child", "--mount-proc", "sh", "-c", sh.String())
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Run(); err != nil {
		t.Fatalf("namespace run: %v\n%s", err, out.String())
	}
	r := nsReport{codes: map[string]int{}, stderr: map[string]string{}, out: out.String()}
	for _, line := range strings.Split(out.String(), "\n") {
		switch f := strings.Fields(line); {
		case len(f) == 3 && f[0] == "rc":
			i, _ := strconv.Atoi(f[1])
			code, _ := strconv.Atoi(f[2])
			r.codes[c.cmds[i].name] = code
			b, _ := os.ReadFile(filepath.Join(dir, "stderr."+f[1]))
			r.stderr[c.cmds[i].name] = string(b)
		case line == "canary-alive":
			r.canary = true
		case line == "holder-alive":
			r.holder = true
		}
	}
	sig, _ := os.ReadFile(filepath.Join(dir, "pid1-signals"))
	r.signals = string(sig)

	if !r.canary {
		t.Errorf("the canary was killed: something signalled a process it must not\n%s", r.out)
	}
	if c.lock != "" && !r.holder {
		t.Errorf("the lock holder was killed\n%s", r.out)
	}
	if r.signals != "" {
		t.Errorf("PID 1 of the namespace received: %s", r.signals)
	}
	for _, cmd := range c.cmds {
		code, ok := r.codes[cmd.name]
		if !ok {
			t.Errorf("%s did not run:\n%s", cmd.name, r.out)
			continue
		}
		if code != cmd.want {
			t.Errorf("%s: exit %d, want %d\nstderr: %s", cmd.name, code, cmd.want, r.stderr[cmd.name])
		}
		if want := strings.ReplaceAll(cmd.says, "$F", pidFile); !strings.Contains(r.stderr[cmd.name], want) {
			t.Errorf("%s: stderr does not say %q:\n%s", cmd.name, want, r.stderr[cmd.name])
		}
	}
	if c.checkFn != nil {
		c.checkFn(t, dir, pidFile)
	}
	return r
}

// controlCmds are status, stop, signal and reload with the wanted exit
// statuses; each error names the PID file.
func controlCmds(status, stop, signal int, says string) []nsCommand {
	to := "--timeout=5s"
	s := func(code int) string {
		if code == 102 {
			return says
		}
		return ""
	}
	return []nsCommand{
		{name: "status", args: []string{"status", "--pid-file", "$F", to}, want: status, says: s(status)},
		{name: "stop", args: []string{"stop", "--pid-file", "$F", to}, want: stop, says: s(stop)},
		{name: "signal", args: []string{"signal", "--pid-file", "$F", to, "TERM"}, want: signal, says: s(signal)},
		{name: "reload", args: []string{"reload", "--pid-file", "$F", to}, want: signal, says: s(signal)},
	}
}

func writeContent(content string) func(t *testing.T, dir, pidFile string) {
	return func(t *testing.T, _, pidFile string) {
		if err := os.WriteFile(pidFile, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestHostilePIDFileContent: PID files holding no usable PID, locked (by
// flock(1), a canary) and unlocked, get a clear error or the documented
// state from daemonctl, and no signal reaches anyone: not the canary, not
// the lock holder, not PID 1 (which traps every signal), not daemonctl.
func TestHostilePIDFileContent(t *testing.T) {
	requireUnshare(t)
	ctl := binary(t, "./cmd/daemonctl")
	contents := []struct{ name, content string }{
		{"zero", "0\n"},
		{"minus-one", "-1\n"},
		{"minus-two", "-2\n"},
		{"one", "1\n"},
		{"huge-number", "99999999999\n"},
		// Above PID_MAX_LIMIT, so above any namespace's pid_max (which is
		// per namespace since Linux 6.14).
		{"above-pid-max", strconv.Itoa(1<<22+1) + "\n"},
		{"digits-then-garbage", "12abc\n"},
		{"mebibyte-of-digits", strings.Repeat("7", 1<<20)},
		{"nul-bytes", "\x00\x00\x00\n"},
		{"pid-then-nul", "2\x00\n"},
		{"two-lines", "2\n3\n"},
	}
	for _, c := range contents {
		t.Run(c.name+"/locked", func(t *testing.T) {
			t.Parallel()
			runInPIDNamespace(t, ctl, nsCase{
				setup: writeContent(c.content),
				lock:  "$F",
				cmds:  controlCmds(102, 102, 102, "$F"),
				checkFn: func(t *testing.T, _, pidFile string) {
					if b, _ := os.ReadFile(pidFile); string(b) != c.content {
						t.Errorf("locked pid file was changed to %q", truncateForLog(b))
					}
				},
			})
		})
		t.Run(c.name+"/unlocked", func(t *testing.T) {
			t.Parallel()
			runInPIDNamespace(t, ctl, nsCase{
				setup: writeContent(c.content),
				// Unlocked, and not PID file content: not a PID file,
				// refused and left untouched.
				cmds: controlCmds(102, 102, 102, "is not a PID file"),
				checkFn: func(t *testing.T, _, pidFile string) {
					if b, _ := os.ReadFile(pidFile); string(b) != c.content {
						t.Errorf("unlocked pid file was changed to %q", truncateForLog(b))
					}
				},
			})
		})
	}
	t.Run("starting-unlocked", func(t *testing.T) {
		t.Parallel()
		// Stale: stop says so (103) and keeps the file, as libucw.
		runInPIDNamespace(t, ctl, nsCase{setup: writeContent("(starting)\n"), cmds: controlCmds(103, 103, 101, "")})
	})
	t.Run("starting-locked", func(t *testing.T) {
		t.Parallel()
		// A start that never finishes (its controller died): status says
		// starting (0); signal waits for it and gives up at its timeout,
		// sending nothing; stop ends it through the processes that hold
		// the lock, and it is then not running.
		runInPIDNamespace(t, ctl, nsCase{setup: writeContent("(starting)\n"),
			prep: `flock -x "$F" sleep 1000 & n=0; while flock -n -s "$F" true 2>/dev/null; do n=$((n+1)); [ $n -gt 500 ] && exit 3; sleep 0.01; done`,
			cmds: []nsCommand{
				{name: "status", args: []string{"status", "--pid-file", "$F"}, want: 0},
				{name: "signal", args: []string{"signal", "--pid-file", "$F", "--timeout=1s", "TERM"}, want: 102, says: "still starting"},
				{name: "stop", args: []string{"stop", "--pid-file", "$F", "--timeout=5s"}, want: 0},
				{name: "status-after", args: []string{"status", "--pid-file", "$F"}, want: 101},
			}})
	})
	t.Run("names-a-process-that-does-not-hold-it", func(t *testing.T) {
		t.Parallel()
		// The PID was reused: the canary lives but is not the daemon.
		runInPIDNamespace(t, ctl, nsCase{prep: `printf '%s\n' "$CANARY" > "$F"`, lock: "$F",
			cmds: controlCmds(102, 102, 102, "does not hold its lock")})
	})
	t.Run("names-a-live-process-unlocked", func(t *testing.T) {
		t.Parallel()
		// Unlocked, naming a live process (the canary): stale (103) but
		// never called dead; stop and signal refuse it (102), nothing is
		// signalled and the file is kept.
		runInPIDNamespace(t, ctl, nsCase{prep: `printf '%s\n' "$CANARY" > "$F"`, cmds: controlCmds(103, 102, 102, "holds no lock")})
	})
	t.Run("own-pid", func(t *testing.T) {
		t.Parallel()
		// daemonctl's own PID in a locked PID file: refused, not suicide.
		to := "--timeout=5s"
		runInPIDNamespace(t, ctl, nsCase{setup: writeContent(""), lock: "$F", cmds: []nsCommand{
			{name: "stop", args: []string{"stop", "--pid-file", "$F", to}, want: 102, says: "$F", ownPID: true},
			{name: "signal", args: []string{"signal", "--pid-file", "$F", to, "TERM"}, want: 102, says: "$F", ownPID: true},
		}})
	})
}

func truncateForLog(b []byte) []byte {
	if len(b) > 64 {
		return append(b[:64:64], "…"...)
	}
	return b
}

// TestHostilePIDFileKinds: a PID file that is a symlink (to a file root
// owns elsewhere), a directory, a FIFO, world-writable, or owned by
// another user; a guard file that is a symlink; a missing directory.
// Each gets a clear error or the documented safe behaviour, and no signal.
func TestHostilePIDFileKinds(t *testing.T) {
	requireUnshare(t)
	ctl := binary(t, "./cmd/daemonctl")
	hello := binary(t, "./examples/hello")
	unchanged := func(path, want string) func(t *testing.T, dir, pidFile string) {
		return func(t *testing.T, dir, _ string) {
			p := filepath.Join(dir, path)
			if b, err := os.ReadFile(p); err != nil || string(b) != want {
				t.Errorf("%s now holds %q (%v), want %q: written through a link", p, b, err, want)
			}
		}
	}
	target := func(t *testing.T, dir, pidFile string) {
		// "Elsewhere": a directory only root can write to, holding a file
		// root owns, which the canary's PID is written into by prep.
		if err := os.Mkdir(filepath.Join(dir, "root-only"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	startBG := func(want int, says string) nsCommand {
		return nsCommand{name: "start", args: []string{"start", "--pid-file", "$F", "--timeout=5s", "--background", "--", "sleep", "1000"}, want: want, says: says}
	}
	cases := []nsCase{
		{
			name: "symlink-to-root-file",
			setup: func(t *testing.T, dir, pidFile string) {
				target(t, dir, pidFile)
				os.WriteFile(filepath.Join(dir, "root-only", "real.pid"), nil, 0o644)
				if err := os.Symlink(filepath.Join(dir, "root-only", "real.pid"), pidFile); err != nil {
					t.Fatal(err)
				}
			},
			prep:    `printf '%s\n' "$CANARY" > "$DIR/root-only/real.pid"`,
			lock:    "$DIR/root-only/real.pid",
			cmds:    append(controlCmds(102, 102, 102, "$F"), startBG(102, "$F")),
			checkFn: func(t *testing.T, dir, pidFile string) { assertSymlinkTargetIsCanary(t, dir) },
		},
		{
			name:  "directory",
			setup: func(t *testing.T, _, pidFile string) { os.Mkdir(pidFile, 0o755) },
			cmds:  append(controlCmds(102, 102, 102, "$F"), startBG(102, "$F")),
		},
		{
			name:  "fifo",
			setup: func(t *testing.T, _, pidFile string) { syscall.Mkfifo(pidFile, 0o644) },
			cmds:  append(controlCmds(102, 102, 102, "$F"), startBG(102, "$F")),
		},
		{
			name:  "world-writable",
			setup: func(t *testing.T, _, pidFile string) { os.WriteFile(pidFile, nil, 0o644); os.Chmod(pidFile, 0o666) },
			prep:  `printf '%s\n' "$CANARY" > "$F"`,
			lock:  "$F",
			cmds:  controlCmds(102, 102, 102, "world-writable"),
		},
		{
			name: "owned-by-nobody",
			setup: func(t *testing.T, _, pidFile string) {
				os.WriteFile(pidFile, nil, 0o644)
				os.Chown(pidFile, 65534, 65534)
			},
			// Written by its owner, naming a root process that does not
			// hold the file: the holder check refuses it.
			prep: `printf '%s\n' "$CANARY" > "$F"`,
			lock: "$F",
			cmds: controlCmds(102, 102, 102, "does not hold its lock"),
		},
		{
			name: "guard-symlink",
			setup: func(t *testing.T, dir, pidFile string) {
				target(t, dir, pidFile)
				os.WriteFile(filepath.Join(dir, "root-only", "precious"), []byte("precious\n"), 0o644)
				os.Symlink(filepath.Join(dir, "root-only", "precious"), lockfile.GuardPath(pidFile))
			},
			prep:    `printf '%s\n' "$CANARY" > "$F"`,
			lock:    "$F",
			cmds:    append(controlCmds(102, 102, 102, ".lock"), startBG(102, ".lock")),
			checkFn: unchanged("root-only/precious", "precious\n"),
		},
		{
			name: "missing-directory",
			cmds: []nsCommand{
				{name: "status", args: []string{"status", "--pid-file", "$DIR/missing/d.pid"}, want: 101},
				{name: "stop", args: []string{"stop", "--pid-file", "$DIR/missing/d.pid"}, want: 102, says: "missing"},
				{name: "start", args: []string{"start", "--pid-file", "$DIR/missing/d.pid", "--background", "--", "sleep", "1000"}, want: 102, says: "missing"},
			},
		},
		{
			name: "marker-set-by-hand",
			cmds: []nsCommand{
				{name: "start", args: []string{"start", "--pid-file", "$F", "--timeout=10s", "--", hello, "start", "--pid-file", "$F"},
					env: "DAEMONKIT_STAGE=daemon:0123456789abcdef0123456789abcdef", want: 102, says: "DAEMONKIT_STAGE is set"},
				{name: "status", args: []string{"status", "--pid-file", "$F"}, want: 101},
			},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			runInPIDNamespace(t, ctl, c)
		})
	}
}

func assertSymlinkTargetIsCanary(t *testing.T, dir string) {
	b, _ := os.ReadFile(filepath.Join(dir, "root-only", "real.pid"))
	if _, err := lockfile.ParsePID(b, 0); err != nil {
		t.Errorf("the symlink's target was changed to %q", b)
	}
}

// TestReadOnlyDirectory: an unprivileged user whose PID file lives in a
// directory it cannot write gets a clear error for actions that need the
// guard file, and status still answers (without the guard, as documented).
func TestReadOnlyDirectory(t *testing.T) {
	proctest.RequireRoot(t)
	ctl := binary(t, "./cmd/daemonctl")
	dir := t.TempDir()
	os.Chmod(filepath.Dir(dir), 0o755) // t.TempDir's parent is 0700
	os.Chmod(dir, 0o755)
	ro := filepath.Join(dir, "ro")
	os.Mkdir(ro, 0o555)
	pidFile := filepath.Join(ro, "d.pid")
	asNobody := func(args ...string) result {
		cmd := exec.Command(ctl, args...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
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
	asNobody("status", "--pid-file", pidFile).expect(t, 101, "status in a read-only directory")
	for _, args := range [][]string{
		{"start", "--pid-file", pidFile, "--timeout=5s", "--background", "--", "sleep", "1000"},
		{"stop", "--pid-file", pidFile, "--timeout=5s"},
	} {
		r := asNobody(args...)
		r.expect(t, 102, args[0]+" in a read-only directory")
		if !strings.Contains(r.stderr, ro) || !strings.Contains(r.stderr, "permission denied") {
			t.Errorf("%s: stderr does not name the path and the cause: %s", args[0], r.stderr)
		}
	}
	if ents, _ := os.ReadDir(ro); len(ents) != 0 {
		t.Errorf("files were created in the read-only directory: %v", ents)
	}
	requireNoProcess(t, pidFile)
}
