//go:build linux

package control_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/daemonkit/daemonkit/control"
	"github.com/daemonkit/daemonkit/internal/proctest"
)

// nsRun runs script with sh as PID 1 of a new PID namespace (`unshare
// --pid --fork --kill-child`, plus flags), with $T the test daemon, $F
// the PID file and $DIR its directory, and returns what it printed. When
// unshare ends, everything in the namespace is killed.
func nsRun(t *testing.T, flags []string, dir, script string) string {
	t.Helper()
	proctest.RequireRoot(t)
	pidFile := filepath.Join(dir, "d.pid")
	q := strconv.Quote
	head := fmt.Sprintf("T=%s; F=%s; DIR=%s\n", q(daemonBin(t)), q(pidFile), q(dir))
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	args := append(append([]string{}, flags...), "--pid", "--fork", "--kill-child", "sh", "-c", head+script)
	cmd := exec.CommandContext(ctx, "unshare", args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Run(); err != nil {
		t.Fatalf("namespace run: %v\n%s", err, out.String())
	}
	t.Logf("namespace output:\n%s", out.String())
	return out.String()
}

// lines returns the lines of out that start with prefix, without it.
func lines(out, prefix string) []string {
	var r []string
	for _, l := range strings.Split(out, "\n") {
		if rest, ok := strings.CutPrefix(l, prefix); ok {
			r = append(r, rest)
		}
	}
	return r
}

// waitLocked is shell code that waits until $F is locked exclusively.
const waitLocked = `n=0; while flock -n -s "$F" true 2>/dev/null; do n=$((n+1)); [ $n -gt 1000 ] && echo 'lock not taken' && exit 3; sleep 0.01; done
`

// TestNSReusedPIDReader: the daemon's named process exited and its pid was
// reused (ns_last_pid) by an innocent process that merely has the PID file
// open, while a child of the daemon still holds the lock. stop and signal
// send the innocent process nothing and fail (102) naming the lock holder.
func TestNSReusedPIDReader(t *testing.T) {
	dir := t.TempDir()
	out := nsRun(t, []string{"--mount-proc"}, dir, `
sh -c 'exit 0' & N=$!; wait $N
printf '%s\n' "$N" > "$F"
flock -x "$F" "$T" -holder & H=$!
`+waitLocked+`
echo $((N-1)) > /proc/sys/kernel/ns_last_pid
sleep 1000 < "$F" & I=$!
[ "$I" = "$N" ] && echo reused
for a in stop signal check; do "$T" -ctl $a -pidfile "$F" > /dev/null 2> "$DIR/err.$a"; echo "rc $a $?"; done
kill -0 $I 2>/dev/null && echo innocent-alive
kill -0 $H 2>/dev/null && echo holder-alive
echo "holder $H"
kill -9 $I $H; exit 0
`)
	if len(lines(out, "reused")) != 1 {
		t.Fatal("the pid was not reused")
	}
	for _, want := range []string{"rc stop 102", "rc signal 102", "rc check 102", "innocent-alive", "holder-alive"} {
		if !strings.Contains(out, want+"\n") {
			t.Errorf("want %q", want)
		}
	}
	holder := lines(out, "holder ")
	for _, a := range []string{"stop", "signal"} {
		b, _ := os.ReadFile(filepath.Join(dir, "err."+a))
		if len(holder) != 1 || !strings.Contains(string(b), "locked by pid "+holder[0]+" (flock") {
			t.Errorf("%s: %q does not name the lock holder (flock, pid %v)", a, b, holder)
		}
	}
}

// TestNSForeignProc: a controller in a PID namespace whose /proc is the
// parent namespace's (`unshare --pid --fork` without --mount-proc) cannot
// trust /proc/N to be the process pidfd_open(N) reaches. With the running
// daemon's pid reused inside the namespace by an innocent process, stop
// and signal refuse (102) saying so: neither the innocent process nor the
// daemon gets a signal.
func TestNSForeignProc(t *testing.T) {
	f := newFixture(t)
	daemon := f.start()
	os.Chmod(f.dir, 0o755)
	script := fmt.Sprintf(`F=%s
echo %d > /proc/sys/kernel/ns_last_pid
sleep 1000 & I=$!
[ "$I" = %d ] && echo reused
for a in stop signal; do "$T" -ctl $a -pidfile "$F" > /dev/null 2> "$DIR/err.$a"; echo "rc $a $?"; done
kill -0 $I 2>/dev/null && echo innocent-alive
kill -9 $I; exit 0
`, strconv.Quote(f.pidFile), daemon-1, daemon)
	out := nsRun(t, nil, f.dir, script)
	if len(lines(out, "reused")) != 1 {
		t.Fatal("the daemon's pid was not reused inside the namespace")
	}
	for _, want := range []string{"rc stop 102", "rc signal 102", "innocent-alive"} {
		if !strings.Contains(out, want+"\n") {
			t.Errorf("want %q", want)
		}
	}
	for _, a := range []string{"stop", "signal"} {
		b, _ := os.ReadFile(filepath.Join(f.dir, "err."+a))
		if !strings.Contains(string(b), "another PID namespace") {
			t.Errorf("%s: %q does not say that /proc is another namespace's", a, b)
		}
		if !strings.Contains(string(b), control.ErrUnverified.Error()) || !strings.Contains(string(b), "cannot verify the lock holder") {
			t.Errorf("%s: %q does not say what failed (cannot verify the lock holder)", a, b)
		}
	}
	if !proctest.Alive(daemon) || f.content() != strconv.Itoa(daemon)+"\n" {
		t.Errorf("daemon alive %v, pid file %q", proctest.Alive(daemon), f.content())
	}
}

// TestNSStopReadOnlyPath: a daemon whose PID file is reached through a
// read-only bind mount is stopped (0): waiting for its lock needs only
// read access. Killed by SIGINT, the daemon leaves its pid in the file,
// which cannot be emptied: it is left as it is, with a warning, and
// status then says stale (103).
func TestNSStopReadOnlyPath(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	os.Mkdir(bin, 0o755)
	dctl, err := proctest.Build(bin, "./cmd/daemonctl")
	if err != nil {
		t.Fatal(err)
	}
	out := nsRun(t, []string{"--mount", "--mount-proc"}, dir, fmt.Sprintf(`D=%s
for sig in TERM INT; do
	"$D" start -p "$F" -- "$T" -pidfile "$F" 2>&1; echo "rc start $?"
	P=$(cat "$F")
	mount --bind "$F" "$F" && mount -o remount,ro,bind "$F" || echo mount-failed
	touch "$F" 2>/dev/null && echo writable
	"$D" stop -p "$F" --signal $sig 2> "$DIR/err.$sig"; echo "rc stop $sig $?"
	kill -0 $P 2>/dev/null && echo "alive $sig"
	echo "content $sig $(cat "$F")"
	"$D" status -p "$F" 2>/dev/null; echo "rc status $sig $?"
	umount "$F"
	: > "$F"
done
exit 0
`, strconv.Quote(dctl)))
	for _, want := range []string{"rc start 0", "rc stop TERM 0", "rc status TERM 101", "rc stop INT 0", "rc status INT 103"} {
		if !strings.Contains(out, want+"\n") {
			t.Errorf("want %q", want)
		}
	}
	for _, bad := range []string{"mount-failed", "writable", "alive TERM", "alive INT", "content TERM 1", "content TERM 2", "content TERM 3"} {
		if strings.Contains(out, bad) {
			t.Errorf("got %q", bad)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "err.INT")); !strings.Contains(string(b), "cannot be emptied") {
		t.Errorf("stop with SIGINT: %q does not say that the file was left as it is", b)
	}
}

// TestNSStopReadOnlyLockOutlivesDaemon: the signalled daemon exits while a
// child it started still holds the PID file's lock, and the PID file is
// on a read-only mount. stop must wait for that lock through a read-only
// descriptor (it needs nothing more) and succeed once the child is gone.
func TestNSStopReadOnlyLockOutlivesDaemon(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	os.Mkdir(bin, 0o755)
	dctl, err := proctest.Build(bin, "./cmd/daemonctl")
	if err != nil {
		t.Fatal(err)
	}
	out := nsRun(t, []string{"--mount", "--mount-proc"}, dir, fmt.Sprintf(`D=%s
"$D" start -p "$F" --background -- sh -c 'sleep 2 & echo $! > "$0"; exec sleep 1000' "$DIR/child" 2>&1; echo "rc start $?"
C=$(cat "$DIR/child")
mount --bind "$F" "$F" && mount -o remount,ro,bind "$F" || echo mount-failed
kill -0 "$C" && echo "child holds the lock"
"$D" stop -p "$F" --timeout 20s 2> "$DIR/err"; echo "rc stop $?"
kill -0 "$C" 2>/dev/null && echo "child alive after stop"
"$D" status -p "$F" 2>/dev/null; echo "rc status $?"
umount "$F"
exit 0
`, strconv.Quote(dctl)))
	for _, want := range []string{"rc start 0", "child holds the lock", "rc stop 0"} {
		if !strings.Contains(out, want+"\n") {
			t.Errorf("want %q", want)
		}
	}
	for _, bad := range []string{"mount-failed", "child alive after stop"} {
		if strings.Contains(out, bad) {
			t.Errorf("got %q", bad)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "err")); len(b) > 0 {
		t.Logf("stop said: %s", b)
	}
}
