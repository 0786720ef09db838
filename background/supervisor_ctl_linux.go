//go:build linux

package background

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"time"

	"github.com/daemonkit/daemonkit/control"
	"github.com/daemonkit/daemonkit/internal/ctlsock"
)

// How a controller learns a supervisor's state: both ends are in this
// file, so that the channel can change in one place. They use the control
// channel of internal/ctlsock: the controller, holding the guard file,
// binds an abstract socket named after the PID file and the supervisor's
// PID and pokes the supervisor (ctlsock.Poke, SIGCHLD); the supervisor
// connects back and answers "status" with its [Supervision]; SO_PEERCRED
// is checked both ways. The supervisor keeps no descriptor for it.

// supStatus is the "status" reply's data: Supervisor tells a supervisor
// from a framework daemon, which answers "status" too.
type supStatus struct {
	Supervisor bool `json:"supervisor"`
	Supervision
}

// startControl answers control requests for as long as the supervisor
// runs: on each poke it connects to the controller waiting for it, if any
// (a SIGCHLD from its own program finds none, which costs a failed
// connect). It answers "status" with its [Supervision], and "stop" (the
// verdict a stopping controller waits for) once it is stopping.
func (sv *supervisor) startControl() {
	pokes := make(chan os.Signal, 1)
	signal.Notify(pokes, ctlsock.Poke)
	go func() {
		for range pokes {
			sv.tryAnswer()
		}
	}()
}

// tryAnswer connects to the controller waiting for us, if any, and
// answers its request in a goroutine of its own. It does nothing while an
// answer is in progress, or once the supervisor is stopping: a controller
// accepts one connection, and one that is not accepted would wait for a
// request until that controller ends — which, for a stop, is after we
// exited (drainAnswers would wait in vain). The stop signal's own call
// comes before the supervisor counts as stopping.
func (sv *supervisor) tryAnswer() {
	if sv.stopCtx.Err() != nil || !sv.answering.CompareAndSwap(false, true) {
		return
	}
	c, err := ctlsock.Dial(ctlsock.Key{Dev: sv.pf.Dev(), Ino: sv.pf.Ino()})
	if err != nil {
		sv.answering.Store(false)
		if errors.Is(err, ctlsock.ErrRefused) {
			sv.logf("control request refused: %v", err)
		}
		return
	}
	sv.answers.Go(func() {
		defer sv.answering.Store(false)
		c.Serve(context.Background(), sv.answer)
	})
}

// answerGrace bounds how long an exiting supervisor waits for the answers
// in progress: a stopping controller gets its verdict.
const answerGrace = 2 * time.Second

// drainAnswers waits for the answers in progress, at most answerGrace.
func (sv *supervisor) drainAnswers() {
	done := make(chan struct{})
	go func() { sv.answers.Wait(); close(done) }()
	t := time.NewTimer(answerGrace)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
	}
}

// answer answers one control request.
func (sv *supervisor) answer(ctx context.Context, r ctlsock.Request) ctlsock.Reply {
	switch r.Op {
	case "status":
		data, err := json.Marshal(supStatus{Supervisor: true, Supervision: sv.status()})
		if err != nil {
			return ctlsock.Failed(err)
		}
		return ctlsock.Reply{OK: true, Data: data}
	case "stop":
		// The controller binds its end before it signals us: a poke (a
		// SIGCHLD from our program) may bring its request first.
		t := time.NewTimer(stopSignalWait)
		defer t.Stop()
		select {
		case <-sv.stopCtx.Done():
			return ctlsock.Reply{OK: true} // the program is stopped, and nothing started again
		case <-ctx.Done():
			return ctlsock.Failed(ctx.Err())
		case <-t.C:
			return ctlsock.Failed(fmt.Errorf("stop: no stop signal came within %v (SIGTERM and SIGINT stop the supervisor; others go to its program)", stopSignalWait))
		}
	}
	return ctlsock.Failed(fmt.Errorf("%q: a supervisor does not do this; it passes SIGHUP, SIGUSR1, SIGUSR2, SIGQUIT and SIGWINCH on to its program (daemonctl signal, reload without --wait)", r.Op))
}

// Bounds of [AskSupervisor], whatever its context: the whole call, and
// the wait for the supervisor to connect.
const (
	askTimeout    = 5 * time.Second
	answerTimeout = 2 * time.Second
)

// stopSignalWait bounds how long a "stop" request waits for the stop
// signal that follows it.
const stopSignalWait = 5 * time.Second

// supervisorArgv0 is the supervisor's argv[0] (see startSupervisor).
const supervisorArgv0 = "daemonctl-supervisor"

// AskSupervisor asks the process pid, which the caller found holding the
// lock of the PID file pidFile (guarded by guardFile), for its
// [Supervision] if it is a supervisor, with [control.Details]. It returns
// nil and no error when pid is not one (its command line does not say so,
// and nothing is sent to it; a program that pretends is asked and found
// out).
func AskSupervisor(ctx context.Context, pidFile, guardFile string, pid int) (*Supervision, error) {
	if b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline"); err != nil || !bytes.HasPrefix(b, []byte(supervisorArgv0+"\x00")) {
		return nil, nil
	}
	ctx, cancel := context.WithTimeout(ctx, askTimeout)
	defer cancel()
	data, err := control.Details(ctx, control.Options{PIDFile: pidFile, GuardFile: guardFile, AnswerTimeout: answerTimeout})
	if err != nil || data == nil {
		return nil, err
	}
	var st supStatus
	if err := json.Unmarshal(data, &st); err != nil {
		return nil, fmt.Errorf("pid %d: status: %w", pid, err)
	}
	if !st.Supervisor {
		return nil, nil
	}
	return &st.Supervision, nil
}
