//go:build linux

package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/daemonkit/daemonkit/internal/proctest"
)

func prepareTests() error { return proctest.Subreaper() }

// tinyd builds bench/tinyd into a fresh directory.
func tinyd(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "bin")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin, err := proctest.Build(dir, "./bench/tinyd")
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// newState makes the rowState of r in a fresh directory.
func newState(t *testing.T, r row, bin string) *rowState {
	t.Helper()
	st, err := newRowState(&result{row: r}, bin, "", filepath.Join(t.TempDir(), r.key))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.close)
	return st
}

// noChildren checks that an iteration left no child of ours behind.
func noChildren(t *testing.T) {
	t.Helper()
	var ws unix.WaitStatus
	if pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil); !errors.Is(err, unix.ECHILD) {
		t.Errorf("a child is left after the iteration: wait4 = %d, %v", pid, err)
	}
}

// TestIterateNotifyRow runs a row whose starter (a shell) backgrounds tinyd
// and writes its PID, so readiness is tinyd's READY=1 on the driver's own
// NOTIFY_SOCKET plus the PID file, and the stop is SIGTERM through the pidfd.
func TestIterateNotifyRow(t *testing.T) {
	bin := filepath.Dir(tinyd(t))
	r := row{key: "sh-bg", notify: true,
		start: []string{"sh", "-c", `"$0" & echo $! > "$1"`, "{bin}/tinyd", "{pidfile}"}}
	st := newState(t, r, bin)
	for i := range 3 {
		s, err := st.iterate(time.Millisecond, 10*time.Second)
		if err != nil {
			t.Fatalf("iteration %d: %v", i, err)
		}
		if s.startRet <= 0 || s.ready <= 0 || s.gone <= 0 || s.stopRet < 0 {
			t.Errorf("iteration %d: implausible sample %+v", i, s)
		}
		if s.rssKiB <= 0 || s.anonKiB <= 0 || s.anonKiB > s.rssKiB {
			t.Errorf("iteration %d: RSS %d KiB, anonymous %d KiB", i, s.rssKiB, s.anonKiB)
		}
		noChildren(t)
	}
}

// TestIterateGatedRowWithStopCommand: a start command that returns only
// once the daemon is ready (the shell waits for tinyd's ready byte on a
// FIFO, then writes the PID), and a stop command that signals it.
func TestIterateGatedRowWithStopCommand(t *testing.T) {
	bin := filepath.Dir(tinyd(t))
	r := row{key: "sh-gated", gated: true,
		start: []string{"sh", "-c", `mkfifo "$1.fifo" && "$0" -ready-fd 3 3>"$1.fifo" >/dev/null 2>&1 & pid=$!; read -r x < "$1.fifo"; rm -f "$1.fifo"; echo $pid > "$1"`, "{bin}/tinyd", "{pidfile}"},
		stop:  []string{"sh", "-c", `kill "$(cat "$0")"`, "{pidfile}"}}
	st := newState(t, r, bin)
	s, err := st.iterate(time.Millisecond, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if s.ready != s.startRet {
		t.Errorf("gated row: ready %v, start returned %v; want the same", s.ready, s.startRet)
	}
	if s.stopRet <= 0 || s.gone <= 0 {
		t.Errorf("stop: returned %v, gone %v", s.stopRet, s.gone)
	}
	noChildren(t)
}

func TestIterateProcessOnlyRow(t *testing.T) {
	st := newState(t, row{key: "exit101", processOnly: true, start: []string{"sh", "-c", "exit 101"}, okCodes: []int{101}}, "/nonexistent")
	s, err := st.iterate(0, 10*time.Second)
	if err != nil || s.startRet <= 0 {
		t.Fatalf("process-only row: %+v, %v", s, err)
	}
	noChildren(t)
}

func TestIterateFailures(t *testing.T) {
	st := newState(t, row{key: "fails", gated: true, start: []string{"sh", "-c", "echo cannot start >&2; exit 3"}}, "/nonexistent")
	_, err := st.iterate(0, 10*time.Second)
	if err == nil || !strings.Contains(err.Error(), "exit status 3") || !strings.Contains(err.Error(), "cannot start") {
		t.Errorf("failing start: err = %v, want exit status 3 and its message", err)
	}
	noChildren(t)

	// A start command that never returns is killed, with what it started.
	st = newState(t, row{key: "hangs", gated: true, start: []string{"sh", "-c", "sleep 60 & sleep 60"}}, "/nonexistent")
	_, err = st.iterate(0, 200*time.Millisecond)
	if !errors.Is(err, errTimeout) {
		t.Errorf("hanging start: err = %v, want a timeout", err)
	}
	noChildren(t)
}
