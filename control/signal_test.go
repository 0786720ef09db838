//go:build linux

package control_test

import (
	"errors"
	"strings"
	"syscall"
	"testing"

	"github.com/daemonkit/daemonkit/control"
)

func TestParseSignal(t *testing.T) {
	good := map[string]syscall.Signal{
		"SIGTERM": syscall.SIGTERM, "TERM": syscall.SIGTERM, "term": syscall.SIGTERM,
		"15": syscall.SIGTERM, "sigterm": syscall.SIGTERM, " Term\n": syscall.SIGTERM,
		"HUP": syscall.SIGHUP, "9": syscall.SIGKILL, "SIGUSR1": syscall.SIGUSR1, "int": syscall.SIGINT,
		"RTMIN": 34, "SIGRTMIN+1": 35, "rtmin+30": 64, "RTMAX": 64, "sigrtmax-2": 62, "64": 64,
	}
	for in, wantSig := range good {
		got, err := control.ParseSignal(in)
		if err != nil || got != wantSig {
			t.Errorf("ParseSignal(%q) = %v, %v; want %v", in, got, err, wantSig)
		}
	}
	for _, in := range []string{"", "0", "65", "-1", "-15", "+15", "15x", "SIGFOO", "SIG", "RTMIN+31",
		"RTMIN-1", "RTMAX+1", "RTMIN+", "RTMIN+ 1", "RTMIN++1", "RTMIN+001", "99999999999999999999"} {
		got, err := control.ParseSignal(in)
		if !errors.Is(err, control.ErrBadSignal) {
			t.Errorf("ParseSignal(%q) = %v, %v; want ErrBadSignal", in, got, err)
		}
	}
}

func TestStatusString(t *testing.T) {
	for st, s := range map[control.Status]string{
		control.StatusOK: "ok", control.StatusAlreadyDone: "already-done", control.StatusNotRunning: "not-running",
		control.StatusFailed: "failed", control.StatusStale: "stale", 7: "Status(7)",
	} {
		if st.String() != s {
			t.Errorf("%d.String() = %q, want %q", int(st), st.String(), s)
		}
	}
	if int(control.StatusStale) != 103 {
		t.Errorf("int(StatusStale) = %d, want libucw's 103", int(control.StatusStale))
	}
}

// TestSignalName: every signal's name parses back to it.
func TestSignalName(t *testing.T) {
	for sig := syscall.Signal(1); sig <= 64; sig++ {
		name := control.SignalName(sig)
		in := strings.TrimPrefix(name, "signal ") // 32 and 33 have no name
		if got, err := control.ParseSignal(in); err != nil || got != sig {
			t.Errorf("SignalName(%d) = %q, which parses as %v, %v", int(sig), name, got, err)
		}
	}
	if n := control.SignalName(syscall.SIGTERM); n != "SIGTERM" {
		t.Errorf("SignalName(SIGTERM) = %q", n)
	}
	if n := control.SignalName(200); n != "signal 200" {
		t.Errorf("SignalName(200) = %q", n)
	}
}
