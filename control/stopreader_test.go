//go:build linux

package control_test

import (
	"strings"
	"testing"
)

// TestNSStopEmptiesDespiteReader: a checker that takes a shared lock on the
// PID file the moment the daemon releases its own (as `status`, libucw's
// check or a monitoring loop do) must not make stop leave the dead
// daemon's PID in the file: stop waits the brief shared lock out, then
// empties the file. Ten rounds, each with a reader queued on the lock.
func TestNSStopEmptiesDespiteReader(t *testing.T) {
	dir := t.TempDir()
	out := nsRun(t, []string{"--mount-proc"}, dir, `
i=0
while [ $i -lt 10 ]; do
  i=$((i+1))
  # A daemon that does not empty its file when it ends, as a program run
  # by daemonctl start --background: the lock holder named by the file.
  flock -x "$F" sh -c 'echo $$ > "$1"; exec "$2" -holder' sh "$F" "$T" &
  n=0; until [ -s "$F" ] && ! flock -n -s "$F" true; do n=$((n+1)); [ $n -gt 1000 ] && echo 'not started' && exit 3; sleep 0.01; done
  ( n=0; while [ $n -lt 200 ]; do n=$((n+1)); flock -s "$F" sleep 0.05; done ) & C=$!
  "$T" -ctl stop -pidfile "$F" > /dev/null 2> "$DIR/err.stop"; echo "rc stop $?"
  kill $C; wait $C 2>/dev/null
  echo "content [$(cat "$F")]"
done
`)
	if got := strings.Count(out, "rc stop 0\n"); got != 10 {
		t.Errorf("%d of 10 stops succeeded", got)
	}
	if got := strings.Count(out, "content []\n"); got != 10 {
		t.Errorf("%d of 10 stops left the pid file empty; want all: a reader's shared lock made stop keep the dead pid", got)
	}
}
