package background

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Respawn asks [Launch] to supervise the command: instead of handing the
// command the PID file, Launch starts a supervisor (its own binary again,
// in a session of its own) that holds the PID file's lock, names itself
// in it, starts the command and starts it again whenever it exits, until
// it is stopped or gives up. See docs/supervision.md for the design.
//
// The delays between exits and new starts grow: Delay after the first
// exit, doubled after each further one, at most MaxDelay. A command that
// ran for at least 10 × max(the current delay, 1 s) before it exited is
// started again after Delay (the back-off starts over). When Limit exits
// fall within Period, the supervisor gives up: it logs why, leaves the PID
// file naming itself (stale, once it has exited) and exits.
//
// SIGTERM or SIGINT to the supervisor stops it: the signal goes on to the
// command's process group, SIGKILL follows after StopTimeout, and the
// supervisor empties the PID file and exits; nothing is started again.
// SIGHUP, SIGUSR1, SIGUSR2, SIGQUIT and SIGWINCH go on to the command.
//
// Zero fields take their defaults.
type Respawn struct {
	Delay       time.Duration // first delay; default 1 s
	MaxDelay    time.Duration // largest delay; default 1 min
	Limit       int           // exits within Period that make it give up; default 5
	Period      time.Duration // default 1 min
	StopTimeout time.Duration // from the stop signal to SIGKILL; default 30 s
}

// Defaults of [Respawn].
const (
	DefaultRespawnDelay       = time.Second
	DefaultRespawnMaxDelay    = time.Minute
	DefaultRespawnLimit       = 5
	DefaultRespawnPeriod      = time.Minute
	DefaultRespawnStopTimeout = 30 * time.Second
)

// resetFactor: a command that ran for resetFactor × max(delay, 1 s) gets
// the first delay again.
const resetFactor = 10

// withDefaults returns r with zero fields set to their defaults.
func (r Respawn) withDefaults() Respawn {
	if r.Delay == 0 {
		r.Delay = DefaultRespawnDelay
	}
	if r.MaxDelay == 0 {
		r.MaxDelay = max(DefaultRespawnMaxDelay, r.Delay)
	}
	if r.Limit == 0 {
		r.Limit = DefaultRespawnLimit
	}
	if r.Period == 0 {
		r.Period = DefaultRespawnPeriod
	}
	if r.StopTimeout == 0 {
		r.StopTimeout = DefaultRespawnStopTimeout
	}
	return r
}

// validate reports a Respawn that cannot work.
func (r Respawn) validate() error {
	switch {
	case r.Delay < 0, r.MaxDelay < 0, r.Period < 0, r.StopTimeout < 0:
		return errors.New("background: respawn durations must not be negative")
	case r.Limit < 0:
		return fmt.Errorf("background: respawn limit %d: must be positive", r.Limit)
	}
	if d := r.withDefaults(); d.MaxDelay < d.Delay {
		return fmt.Errorf("background: respawn max delay %v is shorter than the first delay %v", d.MaxDelay, d.Delay)
	}
	return nil
}

// nextDelay returns the delay after cur: doubled, at most max.
func (r Respawn) nextDelay(cur time.Duration) time.Duration {
	if cur > r.MaxDelay/2 {
		return r.MaxDelay
	}
	return 2 * cur
}

// resetAfter is how long a command must have run for the delay to start
// over at Delay, when the current delay is cur.
func resetAfter(cur time.Duration) time.Duration {
	return resetFactor * max(cur, time.Second)
}

// ParseRespawnLimit parses N/PERIOD, as daemonctl's --respawn-limit takes
// it: N a positive decimal number (digits only), PERIOD a positive Go
// duration ("30s", "1m", "1h30m").
func ParseRespawnLimit(s string) (n int, period time.Duration, err error) {
	ns, ps, ok := strings.Cut(s, "/")
	if !ok {
		return 0, 0, fmt.Errorf("respawn limit %q: want N/PERIOD, e.g. 5/1m", s)
	}
	if ns == "" || strings.TrimLeft(ns, "0123456789") != "" {
		return 0, 0, fmt.Errorf("respawn limit %q: N %q is not a positive number", s, ns)
	}
	n, err = strconv.Atoi(ns)
	if err != nil || n <= 0 {
		return 0, 0, fmt.Errorf("respawn limit %q: N %q is not a positive number", s, ns)
	}
	period, err = time.ParseDuration(ps)
	if err != nil {
		return 0, 0, fmt.Errorf("respawn limit %q: PERIOD: %w (a Go duration such as 30s, 1m or 1h)", s, err)
	}
	if period <= 0 {
		return 0, 0, fmt.Errorf("respawn limit %q: PERIOD %v must be positive", s, period)
	}
	return n, period, nil
}

// Supervision is what a supervisor reports about its command: see
// [AskSupervisor].
type Supervision struct {
	// ProgramPID is the command's PID while one runs or starts, else 0.
	ProgramPID int `json:"program_pid,omitempty"`
	// ProgramState is "starting", "running", "waiting" (for the next
	// start, after an exit) or "stopping".
	ProgramState string `json:"program_state"`
	// Restarts counts the starts after the first.
	Restarts int `json:"restarts"`
	// LastExit is how the command last ended, if it did.
	LastExit *Exit `json:"last_exit,omitempty"`
	// NextStart is when the next start is due, while waiting.
	NextStart *time.Time `json:"next_start,omitempty"`
}

// Exit is how a supervised command ended.
type Exit struct {
	Time time.Time `json:"time"`
	PID  int       `json:"pid"`
	// ExitStatus is its exit status, if it exited; Signal the signal that
	// ended it ("SIGKILL"), if one did.
	ExitStatus *int   `json:"exit_status,omitempty"`
	Signal     string `json:"signal,omitempty"`
	// Error says why a start failed before the command was ready.
	Error string `json:"error,omitempty"`
}
