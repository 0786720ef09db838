//go:build unix

package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/daemonkit/daemonkit/internal/ctlsock"
	"github.com/daemonkit/daemonkit/lockfile"
)

// Errors of the verdicts a framework daemon gives over its control channel.
var (
	// ErrNoVerdict: the daemon did not answer on its control channel within
	// [Options.AnswerTimeout]: it is not a daemonkit framework daemon (or
	// one from before the channel existed), or it runs in another network
	// namespace; only SIGCHLD, which other programs ignore, was sent. Or
	// the channel's name was taken by another process: nothing was sent.
	ErrNoVerdict = errors.New("no verdict: the daemon did not answer on its control channel")
	// ErrFailedVerdict: the daemon reports that what was asked failed (a
	// hook's error, which the message carries). The error is a
	// [*VerdictError].
	ErrFailedVerdict = errors.New("the daemon reports a failure")
)

// VerdictError is a framework daemon's report that what it was asked
// failed: errors.Is(err, [ErrFailedVerdict]).
type VerdictError struct {
	PID int    // the daemon that reported it
	Op  string // what it was asked: reload, stop or upgrade
	Msg string // its own message: the failing hook and its error
}

func (e *VerdictError) Error() string { return fmt.Sprintf("pid %d: %s", e.PID, e.Msg) }

// Is makes errors.Is(e, [ErrFailedVerdict]) true.
func (e *VerdictError) Is(target error) bool { return target == ErrFailedVerdict }

// defaultAnswerTimeout is [Options.AnswerTimeout]'s default.
const defaultAnswerTimeout = 5 * time.Second

// Reload asks a framework daemon to reload (run its OnReload hooks) and
// waits for its verdict: [StatusOK]; [StatusNotRunning] if it is not
// running; [StatusFailed] with an error wrapping [ErrFailedVerdict] and
// naming the failing hook if the reload failed (the daemon keeps running),
// or wrapping [ErrNoVerdict] if the daemon does not answer (nothing but a
// SIGCHLD was sent to it: use [Signal] for programs that only know
// SIGHUP). The daemon is found and checked as [Signal] does.
func Reload(ctx context.Context, o Options) (Result, error) {
	res, _, err := request(ctx, o, "reload")
	return res, err
}

// Upgrade asks a framework daemon to replace itself with the binary now at
// its executable's path, handing its listeners and its locked PID file to
// the new generation, and waits for the verdict: [StatusOK] once the new
// generation is ready and the PID file names it (Result.Before names the
// old generation, which then drains and exits; Result.After the new one);
// [StatusNotRunning] if it is not running; [StatusFailed] with an error
// wrapping [ErrFailedVerdict] and carrying the new generation's own
// message if it failed (it was killed; the old generation keeps serving
// and the PID file is unchanged), or wrapping [ErrNoVerdict] if the
// daemon does not answer (it is not a framework daemon; nothing but a
// SIGCHLD was sent to it).
func Upgrade(ctx context.Context, o Options) (Result, error) {
	res, _, err := request(ctx, o, "upgrade")
	return res, err
}

// Details asks a running daemon over its control channel what it knows
// beyond its PID file's state (a `daemonctl start --respawn` supervisor:
// its program's PID, how often it restarted it, its last exit), and
// returns the JSON object it answered. The daemon is found and checked as
// [Signal] does; a daemon that is not running gives nil and no error, one
// that does not answer an error wrapping [ErrNoVerdict] (after
// [Options.AnswerTimeout]; it was sent nothing but SIGCHLD).
func Details(ctx context.Context, o Options) (json.RawMessage, error) {
	_, data, err := request(ctx, o, "status")
	return data, err
}

// request sends op to the running framework daemon of o's PID file and
// turns its reply into the action's outcome, with the data it carries. A
// reply given after the time limit (the controller asked to cancel) is an
// upgrade's final outcome, but for the other requests only says that
// they go on without a verdict: a time-out.
func request(ctx context.Context, o Options, op string) (Result, json.RawMessage, error) {
	a, err := newAction(o)
	if err != nil {
		return Result{Status: StatusFailed}, nil, err
	}
	var data json.RawMessage
	res, err := a.run(ctx, func() (Result, error) {
		return a.onRunning(ctx, func(info lockfile.Info) error {
			rep, err := a.ask(ctx, info, op)
			if errors.Is(err, ctlsock.ErrLate) {
				if !rep.OK && op != "upgrade" {
					return a.timeout(ctx, fmt.Errorf("pid %d gave no verdict within the time limit: %s", info.PID, rep.Error))
				}
				a.log.Warn("the verdict came after the time limit", "op", op, "error", err)
				err = nil
			}
			if err != nil {
				return err
			}
			data = rep.Data
			return a.verdict(info, op, rep)
		})
	})
	return res, data, err
}

// onRunning waits for the daemon to settle, then runs act on it if it is
// running: [StatusOK] if act succeeds, [StatusNotRunning] if it is not
// running, stale or gone. act returns an error wrapping errChanged (it is
// run again on the new state) or errGone.
func (a *action) onRunning(ctx context.Context, act func(info lockfile.Info) error) (Result, error) {
	before, err := a.inspect()
	res := Result{Before: before, After: before}
	if err != nil {
		return fail(res, err)
	}
	info := before
	for changes := 0; ; changes++ {
		if info, err = a.settle(ctx, info); err != nil {
			res.After = info
			return fail(res, err)
		}
		res.After = info
		if err := a.refuse(info); err != nil {
			return fail(res, err)
		}
		if info.State == lockfile.NotRunning || info.State == lockfile.Stale {
			res.Status = StatusNotRunning
			return res, nil
		}
		err := act(info)
		if errors.Is(err, errChanged) && changes < maxChanges {
			if info, err = a.inspect(); err != nil {
				return fail(res, err)
			}
			continue
		}
		if errors.Is(err, errGone) {
			return a.signalGone(info, res)
		}
		if err != nil {
			return fail(res, err)
		}
		res.After, _ = lockfile.Inspect(a.o.PIDFile)
		res.Status = StatusOK
		return res, nil
	}
}

// ask sends a request to the running daemon named by info over its
// control channel: it binds the controller's end, pokes the daemon the
// way [Signal] signals it (through a pidfd, once the process is shown to
// hold the lock and the PID file is unchanged), waits at most
// AnswerTimeout for the daemon to connect, then for its reply until ctx
// ends.
func (a *action) ask(ctx context.Context, info lockfile.Info, op string) (ctlsock.Reply, error) {
	l, err := a.listen(info)
	if err != nil {
		return ctlsock.Reply{}, err
	}
	defer l.Close()
	p, err := a.signal(info, ctlsock.Poke)
	if err != nil {
		if p != nil {
			p.close()
		}
		return ctlsock.Reply{}, err
	}
	defer p.close()
	actx, cancel := context.WithTimeout(ctx, a.answerTimeout())
	c, err := l.Accept(actx)
	cancel()
	if errors.Is(err, ctlsock.ErrNoAnswer) && ctx.Err() == nil {
		return ctlsock.Reply{}, fmt.Errorf("%w: pid %d did not answer within %v: it is not a daemonkit framework daemon, or one that does not know this PID file (run without --pid-file, e.g. under daemonctl start --background), or it runs in another network namespace; %s",
			ErrNoVerdict, info.PID, a.answerTimeout(), noVerdictHint(op))
	}
	if err != nil {
		return ctlsock.Reply{}, a.timeout(ctx, fmt.Errorf("pid file %s: %w", a.o.PIDFile, err))
	}
	a.log.Debug("control request", "pid", info.PID, "op", op)
	rep, err := c.Call(ctx, ctlsock.Request{Op: op})
	if errors.Is(err, ctlsock.ErrLate) {
		return rep, err
	}
	if err != nil {
		return rep, a.timeout(ctx, fmt.Errorf("pid file %s: %w", a.o.PIDFile, err))
	}
	return rep, nil
}

// noVerdictHint says what to do instead of op with a program that gives
// no verdict.
func noVerdictHint(op string) string {
	switch op {
	case "reload":
		return "reload without --wait sends it SIGHUP; nothing but SIGCHLD, which programs ignore, was sent"
	case "upgrade":
		return "only framework daemons upgrade themselves: restart it instead; nothing but SIGCHLD, which programs ignore, was sent"
	}
	return "nothing but SIGCHLD, which programs ignore, was sent"
}

// listen binds the controller's end of the channel to the daemon named by
// info.
func (a *action) listen(info lockfile.Info) (*ctlsock.Listener, error) {
	l, err := ctlsock.Listen(ctlsock.Key{Dev: info.Dev, Ino: info.Ino}, info.PID)
	if err != nil {
		return nil, fmt.Errorf("%w: pid file %s: %w: another controller that does not lock guard file %s is talking to the daemon (try again), or a process squats on the name", ErrNoVerdict, a.o.PIDFile, err, a.o.GuardFile)
	}
	return l, nil
}

// verdict turns a daemon's reply to op into an error.
func (a *action) verdict(info lockfile.Info, op string, rep ctlsock.Reply) error {
	if rep.OK {
		return nil
	}
	return &VerdictError{PID: info.PID, Op: op, Msg: rep.Error}
}

func (a *action) answerTimeout() time.Duration {
	if a.o.AnswerTimeout > 0 {
		return a.o.AnswerTimeout
	}
	return defaultAnswerTimeout
}

// awaitVerdict listens for the verdict of a framework daemon on op, which
// the caller is about to ask for with a signal (a framework daemon
// connects when it gets its stop signal). The returned function, called
// once the action is over (the daemon gone), returns the daemon's
// failure, if it connected and reported one, or connected and died before
// it could. Without a channel (the name is taken, the platform has none)
// the action goes on without a verdict.
func (a *action) awaitVerdict(ctx context.Context, info lockfile.Info, op string) func() error {
	l, err := a.listen(info)
	if err != nil {
		a.log.Info("no control channel: the daemon's verdict will not be known", "error", err)
		return func() error { return nil }
	}
	type outcome struct {
		err      error
		accepted bool
	}
	actx, cancel := context.WithCancel(ctx)
	done := make(chan outcome, 1)
	go func() {
		c, err := l.Accept(actx)
		if err != nil {
			done <- outcome{} // no framework daemon, or it has not connected yet
			return
		}
		done <- outcome{a.exchangeVerdict(ctx, info, op, c), true}
	}()
	return func() error {
		cancel()
		o := <-done
		if !o.accepted {
			// A daemon that died at once may have connected without
			// this end having taken the connection yet.
			if c, err := l.AcceptQueued(); err == nil {
				o.err = a.exchangeVerdict(ctx, info, op, c)
			}
		}
		l.Close()
		return o.err
	}
}

// exchangeVerdict asks the daemon connected on c for its verdict on op.
func (a *action) exchangeVerdict(ctx context.Context, info lockfile.Info, op string, c *ctlsock.Conn) error {
	rep, err := c.Call(ctx, ctlsock.Request{Op: op})
	switch {
	case errors.Is(err, ctlsock.ErrNoReply) && a.killed.Load():
		return nil // SIGKILL, sent by this stop: no verdict to expect
	case errors.Is(err, ctlsock.ErrNoReply):
		return &VerdictError{PID: info.PID, Op: op, Msg: "it died during its " + op + ", before it could report how it went; look at its log"}
	case err != nil:
		a.log.Info("no verdict from the daemon", "pid", info.PID, "error", err)
		return nil
	}
	return a.verdict(info, op, rep)
}
