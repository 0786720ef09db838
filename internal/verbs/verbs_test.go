package verbs

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/daemonkit/daemonkit/control"
	"github.com/daemonkit/daemonkit/lockfile"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestWriteStatusJSON(t *testing.T) {
	since := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var b bytes.Buffer
	res := control.Result{After: lockfile.Info{Path: "/run/x.pid", State: lockfile.Running, PID: 42, Since: since}}
	err := WriteStatusJSON(&b, "/run/x.pid", "/run/x.lock", res, nil, since.Add(90*time.Second+500*time.Millisecond))
	want := `{"state":"running","pid":42,"pid_file":"/run/x.pid","guard_file":"/run/x.lock","since":"2026-01-02T03:04:05Z","uptime_seconds":90}` + "\n"
	if err != nil || b.String() != want {
		t.Errorf("got %q, %v\nwant %q", b.String(), err, want)
	}
	b.Reset()
	res = control.Result{Status: control.StatusFailed, After: lockfile.Info{Path: "/run/x.pid", State: lockfile.Invalid, Content: []byte("junk")}}
	WriteStatusJSON(&b, "/run/x.pid", "/run/x.lock", res, errors.New("invalid pid file"), since)
	want = `{"state":"invalid","pid":null,"pid_file":"/run/x.pid","guard_file":"/run/x.lock","error":"invalid pid file"}` + "\n"
	if b.String() != want {
		t.Errorf("got %q\nwant %q", b.String(), want)
	}
	b.Reset()
	res = control.Result{Note: "locked by pid 7 (sh, uid 0)", After: lockfile.Info{Path: "/run/x.pid", State: lockfile.Starting}}
	WriteStatusJSON(&b, "/run/x.pid", "/run/x.lock", res, nil, since)
	want = `{"state":"starting","pid":null,"pid_file":"/run/x.pid","guard_file":"/run/x.lock","note":"locked by pid 7 (sh, uid 0)"}` + "\n"
	if b.String() != want {
		t.Errorf("got %q\nwant %q", b.String(), want)
	}
}

func TestDefaultTimeout(t *testing.T) {
	for _, tc := range []struct {
		verb        string
		ready, stop time.Duration
		want        time.Duration
	}{
		{"status", 0, 0, time.Minute},
		{"start", 0, 0, time.Minute},
		{"stop", 0, 0, time.Minute},
		{"restart", 0, 0, 2 * time.Minute},
		{"start", 60 * time.Second, 30 * time.Second, 90 * time.Second},
		{"stop", 60 * time.Second, 30 * time.Second, 90 * time.Second},
		{"restart", 60 * time.Second, 30 * time.Second, 180 * time.Second},
	} {
		if got := DefaultTimeout(tc.verb, tc.ready, tc.stop); got != tc.want {
			t.Errorf("DefaultTimeout(%s, %v, %v) = %v, want %v", tc.verb, tc.ready, tc.stop, got, tc.want)
		}
	}
}

func TestCheckDuration(t *testing.T) {
	if err := CheckDuration("timeout", -time.Second, true); !IsUsage(err) {
		t.Errorf("negative: %v, want a usage error", err)
	}
	if err := CheckDuration("ready-timeout", 0, false); !IsUsage(err) {
		t.Errorf("zero not allowed: %v, want a usage error", err)
	}
	if err := CheckDuration("timeout", 0, true); err != nil {
		t.Errorf("zero allowed: %v", err)
	}
}

func TestUsageOneLine(t *testing.T) {
	var b bytes.Buffer
	if code := Usage(&b, "svc", errors.New("unknown verb \"x\"")); code != ExitUsage {
		t.Errorf("exit %d, want %d", code, ExitUsage)
	}
	if want := "svc: unknown verb \"x\"\nRun 'svc --help' for usage.\n"; b.String() != want {
		t.Errorf("got %q, want %q", b.String(), want)
	}
}
