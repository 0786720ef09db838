package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/daemonkit/daemonkit/lockfile"
)

// statusJSON is what `status --json` prints.
type statusJSON struct {
	State     string `json:"state"`      // not-running, stale, starting, running, stopping, invalid, unknown
	PID       *int   `json:"pid"`        // the daemon's PID (for stale: the dead one), else null
	PIDFile   string `json:"pid_file"`   // the PID file
	GuardFile string `json:"guard_file"` // the guard file
	// Since is when the PID file was written (RFC 3339), for running.
	Since string `json:"since,omitempty"`
	// UptimeSeconds is how long the daemon has been running, in whole
	// seconds, for running.
	UptimeSeconds *int64 `json:"uptime_seconds,omitempty"`
	// Error says why the state could not be read or is invalid.
	Error string `json:"error,omitempty"`
}

// stateUnknown is the JSON state when the PID file could not be examined
// at all (e.g. the guard lock was not obtained in time).
const stateUnknown = "unknown"

// writeStatusJSON prints info about pidFile as one JSON object and a
// newline. err is the error of the check, if any; now is the time uptime is
// measured to.
func writeStatusJSON(w io.Writer, pidFile string, info lockfile.Info, guardFile string, err error, now time.Time) error {
	s := statusJSON{State: info.State.String(), PIDFile: pidFile, GuardFile: guardFile}
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

// lineHandler is a slog.Handler that prints one line per record:
// "daemonctl: message key=value ...".
type lineHandler struct {
	mu    *sync.Mutex
	w     io.Writer
	level slog.Level
	attrs []slog.Attr
}

func newLineHandler(w io.Writer, level slog.Level) *lineHandler {
	return &lineHandler{mu: new(sync.Mutex), w: w, level: level}
}

func (h *lineHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level }

func (h *lineHandler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString("daemonctl: ")
	if r.Level >= slog.LevelWarn {
		b.WriteString(strings.ToLower(r.Level.String()) + ": ")
	}
	b.WriteString(r.Message)
	add := func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	}
	for _, a := range h.attrs {
		add(a)
	}
	r.Attrs(add)
	b.WriteByte('\n')
	h.mu.Lock()
	defer h.mu.Unlock()
	_, err := io.WriteString(h.w, b.String())
	return err
}

func (h *lineHandler) WithAttrs(as []slog.Attr) slog.Handler {
	n := *h
	n.attrs = append(append([]slog.Attr(nil), h.attrs...), as...)
	return &n
}

// WithGroup is not needed by daemonkit's records: groups are flattened.
func (h *lineHandler) WithGroup(string) slog.Handler { return h }
