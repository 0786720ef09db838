//go:build linux

package background

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/daemonkit/daemonkit/internal/ctlsock"
)

// How a controller learns a supervisor's state: both ends of it are in
// this file, so that the channel they use can change in one place. Today
// the supervisor listens on the control channel of internal/ctlsock (an
// abstract socket named after the PID file and its PID, peers checked with
// SO_PEERCRED both ways) and answers "status" with its [Supervision].

// supStatus is the "status" reply's data: Supervisor tells a supervisor
// from a framework daemon, which answers "status" too.
type supStatus struct {
	Supervisor bool `json:"supervisor"`
	Supervision
}

// serveControl answers status requests for as long as the supervisor
// runs. Without a channel, status just shows less.
func (sv *supervisor) serveControl() {
	l, err := ctlsock.Listen(ctlsock.Key{Dev: sv.pf.Dev(), Ino: sv.pf.Ino()})
	if err != nil {
		sv.logf("no control channel, status will not show the program: %v", err)
		return
	}
	l.Serve(context.Background(), func(_ context.Context, r ctlsock.Request) ctlsock.Reply {
		if r.Op != "status" {
			return ctlsock.Failed(fmt.Errorf("%q: a supervisor takes signals, not requests, for this", r.Op))
		}
		data, err := json.Marshal(supStatus{Supervisor: true, Supervision: sv.status()})
		if err != nil {
			return ctlsock.Failed(err)
		}
		return ctlsock.Reply{OK: true, Data: data}
	})
}

// askTimeout bounds [AskSupervisor] whatever its context.
const askTimeout = 5 * time.Second

// AskSupervisor asks the process pid, which the caller found holding the
// PID file pidFile's lock, whether it is a supervisor, and if so for its
// [Supervision]. It returns nil and no error when pid is not a
// supervisor.
func AskSupervisor(ctx context.Context, pidFile string, pid int) (*Supervision, error) {
	fi, err := os.Stat(pidFile)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, askTimeout)
	defer cancel()
	rep, err := ctlsock.Call(ctx, ctlsock.KeyOf(fi), pid, ctlsock.Request{Op: "status"})
	switch {
	case errors.Is(err, ctlsock.ErrNoChannel):
		return nil, nil
	case err != nil:
		return nil, err
	case !rep.OK:
		return nil, fmt.Errorf("pid %d: status: %s", pid, rep.Error)
	}
	var st supStatus
	if err := json.Unmarshal(rep.Data, &st); err != nil {
		return nil, fmt.Errorf("pid %d: status: %w", pid, err)
	}
	if !st.Supervisor {
		return nil, nil
	}
	return &st.Supervision, nil
}
