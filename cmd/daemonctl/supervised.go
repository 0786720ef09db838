package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/daemonkit/daemonkit/background"
	"github.com/daemonkit/daemonkit/control"
	"github.com/daemonkit/daemonkit/lockfile"
)

// supervisedJSON are the fields status --json adds for a daemon started
// with --respawn, whose PID file names its supervisor.
type supervisedJSON struct {
	Supervised   bool             `json:"supervised"`
	ProgramPID   *int             `json:"program_pid"`
	ProgramState string           `json:"program_state"`
	Restarts     int              `json:"restarts"`
	LastExit     *background.Exit `json:"last_exit"`
	NextStart    *time.Time       `json:"next_start,omitempty"`
}

// supervision asks a running daemon whether it is a supervisor, and for
// its state; nil if it is not one, or cannot be asked (a user other than
// root and the supervisor's, or another network namespace: status then
// shows the supervisor alone).
func (c *cli) supervision(ctx context.Context, guard string, res control.Result, err error) *background.Supervision {
	if err != nil || res.After.State != lockfile.Running {
		return nil
	}
	sup, aerr := background.AskSupervisor(ctx, c.pidFile, guard, res.After.PID)
	if aerr != nil {
		c.logger().Debug("cannot ask whether the daemon is a supervisor", "pid", res.After.PID, "err", aerr)
	}
	return sup
}

// writeSupervisedJSON writes the object status --json printed into obj
// with sup's fields added at its end.
func writeSupervisedJSON(w io.Writer, obj []byte, sup *background.Supervision) error {
	if sup == nil {
		_, err := w.Write(obj)
		return err
	}
	s := supervisedJSON{Supervised: true, ProgramState: sup.ProgramState, Restarts: sup.Restarts, LastExit: sup.LastExit, NextStart: sup.NextStart}
	if sup.ProgramPID != 0 {
		s.ProgramPID = &sup.ProgramPID
	}
	extra, err := json.Marshal(s)
	if err != nil {
		return err
	}
	base := bytes.TrimRight(obj, "\n")
	if !bytes.HasSuffix(base, []byte("}")) || len(extra) < 2 {
		_, err := w.Write(obj)
		return err
	}
	out := append(append(append(base[:len(base)-1:len(base)-1], ','), extra[1:]...), '\n')
	_, err = w.Write(out)
	return err
}

// describeSupervision is the line status prints for a supervisor.
func describeSupervision(sup *background.Supervision) string {
	var b strings.Builder
	b.WriteString("supervisor: program ")
	if sup.ProgramPID != 0 {
		fmt.Fprintf(&b, "pid %d ", sup.ProgramPID)
	}
	fmt.Fprintf(&b, "%s, %d restarts", sup.ProgramState, sup.Restarts)
	if e := sup.LastExit; e != nil {
		b.WriteString("; last exit: ")
		switch {
		case e.Error != "":
			b.WriteString("failed to start")
		case e.ExitStatus != nil:
			fmt.Fprintf(&b, "status %d", *e.ExitStatus)
		case e.Signal != "":
			b.WriteString(e.Signal)
		}
		fmt.Fprintf(&b, " at %s", e.Time.Format(time.RFC3339))
	}
	if sup.NextStart != nil {
		fmt.Fprintf(&b, "; next start at %s", sup.NextStart.Format(time.RFC3339))
	}
	return b.String()
}
