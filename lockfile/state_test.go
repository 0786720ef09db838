package lockfile

import (
	"encoding/json"
	"strconv"
	"testing"
)

// TestGuardPath: libucw's rule (ucw-daemon-control): a ".pid" suffix is
// replaced by ".lock", whatever precedes it; any other name gets ".lock".
func TestGuardPath(t *testing.T) {
	tests := []struct{ in, want string }{
		{"x.pid", "x.lock"},
		{"x", "x.lock"},
		{"/run/foo.pid", "/run/foo.lock"},
		{"/run/.pid", "/run/.lock"}, // libucw: DIR/.pid → DIR/.lock
		{".pid", ".lock"},
		{"a/.pid", "a/.lock"},
		{"pid", "pid.lock"},
		{"a.pidx", "a.pidx.lock"},
		{"a.pid", "a.lock"},
		{"dir/x.pidfile", "dir/x.pidfile.lock"},
		{"dir/x.pid.old", "dir/x.pid.old.lock"},
		{"dir.pid/x", "dir.pid/x.lock"},
		{"x.PID", "x.PID.lock"},
		{"x.lock", "x.lock.lock"},
		{"", ".lock"},
	}
	for _, tt := range tests {
		if got := GuardPath(tt.in); got != tt.want {
			t.Errorf("GuardPath(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestStateNames(t *testing.T) {
	want := map[State]string{
		NotRunning: "not-running",
		Stale:      "stale",
		Starting:   "starting",
		Running:    "running",
		Stopping:   "stopping",
		Invalid:    "invalid",
		State(-1):  "State(-1)",
		State(99):  "State(99)",
	}
	for s, name := range want {
		if got := s.String(); got != name {
			t.Errorf("State(%d).String() = %q, want %q", int(s), got, name)
		}
		j, err := json.Marshal(s)
		if err != nil || string(j) != strconv.Quote(name) {
			t.Errorf("json.Marshal(State(%d)) = %s, %v; want %q", int(s), j, err, name)
		}
		txt, err := s.MarshalText()
		if err != nil || string(txt) != name {
			t.Errorf("State(%d).MarshalText() = %s, %v; want %s", int(s), txt, err, name)
		}
	}
	for s, alive := range map[State]bool{NotRunning: false, Stale: false, Starting: true, Running: true, Stopping: true, Invalid: true} {
		if s.Alive() != alive {
			t.Errorf("%v.Alive() = %v, want %v", s, s.Alive(), alive)
		}
	}
}
