package launch

import (
	"context"
	"errors"
	"fmt"

	"github.com/daemonkit/daemonkit/internal/pidlock"
)

// Readiness is a strategy for learning that a started daemon is ready: the
// framework's ready channel, or daemonctl's exec-settled, sd_notify and
// ready-fd waits.
type Readiness interface {
	// Wait waits until p is ready and returns the PID to write into the
	// PID file: p's, or that of a descendant it named. An error fails
	// the start.
	Wait(ctx context.Context, p *Proc) (int, error)
	// Written is called once pid is in the PID file, before the start is
	// reported (the ready channel's ACK, a last liveness check). An error
	// fails the start, unless it is a [Kept] error.
	Written(p *Proc, pid int) error
	// Failed is called once a failed start's daemon is gone, to add what
	// the strategy knows to f: the daemon's own message, its crash output,
	// its last STATUS=.
	Failed(f *Failure)
}

// Kept wraps an error after which the daemon is left running and its PID
// file as it is (the daemon writes its own PID when no ACK comes).
type Kept struct{ Err error }

func (k Kept) Error() string { return k.Err.Error() }
func (k Kept) Unwrap() error { return k.Err }

// Lock locks the PID file at path and writes "(starting)" into it (see
// [pidlock.Acquire]): the first step of every start.
func Lock(path string) (*pidlock.File, error) {
	pf, err := pidlock.Acquire(path)
	if err != nil {
		return nil, err
	}
	if err := pf.WriteStarting(); err != nil {
		return nil, errors.Join(err, Clear(pf, nil), pf.Close())
	}
	return pf, nil
}

// Clear empties the PID file after a failed start and returns err, with
// the clearing's own error if that failed too.
func Clear(pf *pidlock.File, err error) error {
	if cerr := pf.Clear(); cerr != nil {
		if err == nil {
			return cerr
		}
		return fmt.Errorf("%w (and %v)", err, cerr)
	}
	return err
}

// Run starts s as a daemon under its locked PID file (which says
// "(starting)", or names the running generation for an upgrade), waits
// until r says it is ready, writes its PID and returns it. On failure the
// daemon and its process group are killed and the daemon reaped
// ([Proc.Fail]), the PID file is cleared (unless [Spec.Upgrade]), and the
// error is a [*Failure] named after command, or says what failed before
// the start.
func Run(ctx context.Context, s Spec, command string, r Readiness) (int, error) {
	clear := func(err error) error {
		if s.Upgrade {
			return err
		}
		return Clear(s.PIDFile, err)
	}
	p, err := Start(s)
	if err != nil {
		return 0, clear(err)
	}
	pid, err := r.Wait(ctx, p)
	if err == nil {
		err = s.PIDFile.WritePID(pid)
	}
	if err == nil {
		err = r.Written(p, pid)
	}
	var kept Kept
	switch {
	case err == nil:
		p.Detach()
		return pid, nil
	case errors.As(err, &kept):
		p.Detach()
		return 0, kept.Err
	}
	f := p.Fail(command, err)
	r.Failed(f)
	return 0, clear(f)
}
