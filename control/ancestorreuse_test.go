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
	"syscall"
	"testing"
	"time"

	"github.com/daemonkit/daemonkit/control"
	"github.com/daemonkit/daemonkit/internal/procfs"
	"github.com/daemonkit/daemonkit/internal/proctest"
	"github.com/daemonkit/daemonkit/lockfile"
)

// ancestorWalkerEnv makes TestNSAncestorPIDReused the walker run inside
// the namespace: its value is the directory of the scenario.
const ancestorWalkerEnv = "CONTROL_TEST_ANCESTOR_WALKER"

// TestNSAncestorPIDReused: while a start command walks up its parent
// chain looking for the holder of its guard file, an intermediate
// ancestor exits and its PID is reused (ns_last_pid) by a child of a
// stranger that holds that guard (flock(1), a controller that counts for
// all its descendants). The walk must not continue through the stranger's
// ancestry: the guard is not held for the start command.
func TestNSAncestorPIDReused(t *testing.T) {
	if dir := os.Getenv(ancestorWalkerEnv); dir != "" {
		ancestorWalker(t, dir)
		return
	}
	proctest.RequireRoot(t)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	q := strconv.Quote
	script := fmt.Sprintf("SELF=%s; DIR=%s; G=%s\n", q(self), q(dir), q(lockfile.GuardPath(filepath.Join(dir, "d.pid")))) + `
mkfifo "$DIR/fifo"
flock -o -x "$G" sh -c 'read n < "$1/fifo"; echo $((n-1)) > /proc/sys/kernel/ns_last_pid; sleep 1000 & echo $! > "$1/x.tmp"; mv "$1/x.tmp" "$1/x.pid"; wait' sh "$DIR" & H=$!
n=0; while flock -n -s "$G" true 2>/dev/null; do n=$((n+1)); [ $n -gt 1000 ] && echo 'lock not taken' && exit 3; sleep 0.01; done
sh -c '"$@"; echo "walker rc $?"' sh env ` + ancestorWalkerEnv + `="$DIR" "$SELF" -test.run='^TestNSAncestorPIDReused$' -test.v & W=$!
wait $W
n=0; while [ ! -e "$DIR/done" ]; do n=$((n+1)); [ $n -gt 6000 ] && echo 'walker not done' && exit 3; sleep 0.01; done
kill -9 $H; exit 0
`
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "unshare", "--pid", "--fork", "--kill-child", "--mount-proc", "sh", "-c", script)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Run(); err != nil {
		t.Fatalf("namespace run: %v\n%s", err, out.String())
	}
	t.Logf("namespace output:\n%s", out.String())
	if !strings.Contains(out.String(), "reused ") {
		t.Fatal("the ancestor's pid was not reused")
	}
	if !strings.Contains(out.String(), "held=false\n") {
		t.Error("the walk went on through the ancestry of the process that got the exited ancestor's pid, to the stranger holding the guard")
	}
}

// ancestorWalker is the start command of TestNSAncestorPIDReused: between
// the first and the second step of its walk it ends its parent (the
// intermediate ancestor) and has the guard holder's child take its pid.
func ancestorWalker(t *testing.T, dir string) {
	defer os.WriteFile(filepath.Join(dir, "done"), nil, 0o644)
	done := false
	_, held := control.GuardHolderAncestorHooked(lockfile.GuardPath(filepath.Join(dir, "d.pid")), func(child int) {
		if done {
			return
		}
		done = true
		syscall.Kill(child, syscall.SIGKILL)
		proctest.WaitFor(t, time.Minute, "the ancestor reaped", func() bool {
			_, err := os.Stat("/proc/" + strconv.Itoa(child))
			return err != nil
		})
		if err := os.WriteFile(filepath.Join(dir, "fifo"), []byte(strconv.Itoa(child)+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		var x []byte
		proctest.WaitFor(t, time.Minute, "the stranger's child", func() bool {
			x, _ = os.ReadFile(filepath.Join(dir, "x.pid"))
			return len(x) > 0
		})
		if strings.TrimSpace(string(x)) == strconv.Itoa(child) {
			p, _ := procfs.ParentOf(child)
			fmt.Printf("reused %d (parent %d)\n", child, p)
		}
	})
	fmt.Printf("held=%v\n", held)
}
