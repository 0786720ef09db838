package verbs

import (
	"encoding/json"
	"io"
	"time"

	"github.com/daemonkit/daemonkit/control"
	"github.com/daemonkit/daemonkit/lockfile"
)

// statusJSON is what status --json prints.
type statusJSON struct {
	State     string `json:"state"`      // not-running, stale, starting, running, stopping, invalid, not-a-pid-file, unknown
	PID       *int   `json:"pid"`        // the daemon's PID (for stale: the dead one), else null
	PIDFile   string `json:"pid_file"`   // the PID file
	GuardFile string `json:"guard_file"` // the guard file
	// Since is when the PID file was written (RFC 3339), for running.
	Since string `json:"since,omitempty"`
	// UptimeSeconds is how long the daemon has been running, in whole
	// seconds, for running.
	UptimeSeconds *int64 `json:"uptime_seconds,omitempty"`
	// Note names the lock holders of a starting or stopping PID file, or
	// says why the daemon of a stale one ended.
	Note string `json:"note,omitempty"`
	// Error says why the state could not be read or is invalid.
	Error string `json:"error,omitempty"`
}

// stateUnknown is the JSON state when the PID file could not be examined
// at all (e.g. the guard lock was not obtained in time).
const stateUnknown = "unknown"

// WriteStatusJSON prints the outcome of a check of pidFile as one JSON
// object and a newline: state, pid, pid_file, guard_file, and when they
// apply since, uptime_seconds (measured to now), note and error.
func WriteStatusJSON(w io.Writer, pidFile, guardFile string, res control.Result, err error, now time.Time) error {
	info := res.After
	s := statusJSON{State: info.State.String(), PIDFile: pidFile, GuardFile: guardFile, Note: res.Note}
	if err != nil && info.Path == "" {
		s.State = stateUnknown
	}
	switch info.State {
	case lockfile.Running:
		pid := info.PID
		s.PID = &pid
		if !info.Since.IsZero() {
			s.Since = info.Since.Format(time.RFC3339)
			up := int64(max(now.Sub(info.Since), 0) / time.Second)
			s.UptimeSeconds = &up
		}
	case lockfile.Stale:
		if pid := stalePID(info); pid != 0 {
			s.PID = &pid
		}
	}
	if err != nil {
		s.Error = err.Error()
	}
	b, jerr := json.Marshal(s)
	if jerr != nil {
		return jerr
	}
	_, werr := w.Write(append(b, '\n'))
	return werr
}
