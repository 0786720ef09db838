//go:build linux

package control_test

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestNSStopGoneNamedPIDLockedByOther: a flock(1) holder of the PID file
// writes a dead pid into it. stop answers at once (well under its 10 s
// timeout) with 102 naming the lock holder, as signal does, and signals
// nothing: by the time the named pid is gone its descriptors are closed,
// so whatever holds the lock is not the daemon.
func TestNSStopGoneNamedPIDLockedByOther(t *testing.T) {
	dir := t.TempDir()
	out := nsRun(t, []string{"--mount-proc"}, dir, `
sh -c 'exit 0' & N=$!; wait $N
flock -x "$F" sh -c 'printf "%s\n" '"$N"' > "$1"; exec "$2" -holder' sh "$F" "$T" & H=$!
`+waitLocked+`
n=0; until [ "$(cat "$F")" = "$N" ]; do n=$((n+1)); [ $n -gt 1000 ] && echo 'pid not written' && exit 3; sleep 0.01; done
s=$(date +%s%N)
"$T" -ctl stop -pidfile "$F" > /dev/null 2> "$DIR/err.stop"; echo "rc stop $?"
e=$(date +%s%N)
echo "ms $(( (e - s) / 1000000 ))"
kill -0 $H 2>/dev/null && echo holder-alive
echo "holder $H"
kill -9 $H; exit 0
`)
	for _, want := range []string{"rc stop 102", "holder-alive"} {
		if !strings.Contains(out, want+"\n") {
			t.Errorf("want %q", want)
		}
	}
	if ms := lines(out, "ms "); len(ms) != 1 {
		t.Errorf("no duration in output")
	} else if n, _ := strconv.Atoi(ms[0]); time.Duration(n)*time.Millisecond > 5*time.Second {
		t.Errorf("stop took %d ms: it waited for the lock instead of answering (its timeout is 10 s)", n)
	}
	holder := lines(out, "holder ")
	b, _ := os.ReadFile(filepath.Join(dir, "err.stop"))
	if len(holder) != 1 || !strings.Contains(string(b), "locked by pid "+holder[0]+" (") || !strings.Contains(string(b), "which is gone") {
		t.Errorf("stop: %q does not name the lock holder (pid %v) and the gone pid", b, holder)
	}
}
