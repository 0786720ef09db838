//go:build linux

package integration_test

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/daemonkit/daemonkit/internal/proctest"
)

// TestStartUnderLockOfNoController: a service's start verb refuses to
// start only under a process SHOWN to be a controller of another PID file
// (its start command itself, with the controller naming that file). A
// flock(1) of DIR/app.lock, where DIR/app is a directory or another
// program's file, is no controller: hello starts. A start command that
// starts a dependency service (another PID file) before the service its
// controller waits for starts both. daemonctl start -p A -- hello start
// --pid-file B still refuses (102), starting nothing. Everything runs in
// a private PID namespace, torn down at the end.
func TestStartUnderLockOfNoController(t *testing.T) {
	proctest.RequireRoot(t)
	hello, daemonctl := binary(t, "./examples/hello"), binary(t, "./cmd/daemonctl")
	dir := t.TempDir()
	q := strconv.Quote
	script := fmt.Sprintf("H=%s; C=%s; DIR=%s\n", q(hello), q(daemonctl), q(dir)) + `
mkdir "$DIR/app"
flock "$DIR/app.lock" "$H" start --pid-file "$DIR/h1.pid" >/dev/null 2>&1; echo "rc dir $?"
printf 'hello world\n' > "$DIR/app2"
flock "$DIR/app2.lock" "$H" start --pid-file "$DIR/h2.pid" >/dev/null 2>&1; echo "rc file $?"
"$C" start -p "$DIR/a.pid" --timeout 30s -- sh -c '"$1" start --pid-file "$2/dep.pid" && "$1" start --pid-file "$2/a.pid"' sh "$H" "$DIR" >/dev/null 2>&1; echo "rc dep $?"
"$C" start -p "$DIR/r.pid" --timeout 30s -- "$H" start --pid-file "$DIR/b.pid" >/dev/null 2>"$DIR/refuse.err"; echo "rc refuse $?"
for f in h1 h2 dep a; do "$H" status --pid-file "$DIR/$f.pid" >/dev/null 2>&1; echo "status $f $?"; done
[ -e "$DIR/b.pid" ] && echo b-created
grep -q "started by a controller for $DIR/r.pid" "$DIR/refuse.err" && echo refusal-says-why
exit 0
`
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "unshare", "--pid", "--fork", "--kill-child", "--mount-proc", "sh", "-c", script)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Run(); err != nil {
		t.Fatalf("namespace run: %v\n%s", err, out.String())
	}
	t.Logf("namespace output:\n%s", out.String())
	for _, want := range []string{"rc dir 0", "rc file 0", "rc dep 0", "rc refuse 102",
		"status h1 0", "status h2 0", "status dep 0", "status a 0", "refusal-says-why"} {
		if !strings.Contains(out.String(), want+"\n") {
			t.Errorf("want %q", want)
		}
	}
	if strings.Contains(out.String(), "b-created") {
		t.Error("the refused start created its pid file")
	}
}
