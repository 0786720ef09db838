// Package lifecycle runs a daemon's hooks of one stage: in order
// for the start stages, in reverse order for stop, each bounded by a context,
// with panics turned into errors and failures named after their hook.
//
// It knows nothing about processes; [github.com/daemonkit/daemonkit/framework]
// decides which stage runs in which process.
package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strings"
	"time"

	"github.com/hashicorp/go-multierror"

	"github.com/daemonkit/daemonkit/internal/panics"
)

// Stage names a point in a daemon's life at which hooks run.
type Stage string

// The stages, in the order a detached daemon passes them.
const (
	PreDetach  Stage = "pre-detach"  // in the launcher, on the terminal, as the invoking user
	PostDetach Stage = "post-detach" // in the daemon, before it is ready
	Ready      Stage = "ready"       // in the daemon, just before READY is reported
	Reload     Stage = "reload"      // in the daemon, on SIGHUP
	Stop       Stage = "stop"        // in the daemon, on SIGTERM/SIGINT or when the body returned, in reverse order
)

// Hook is a named hook function. Fn should return promptly once its
// context is done.
type Hook struct {
	Name string
	Fn   func(ctx context.Context) error
}

// HookError is the failure of one hook: it names the stage and the hook.
type HookError struct {
	Stage Stage
	Hook  string
	Err   error
}

// Error names the stage and the hook, then gives the hook's error.
func (e *HookError) Error() string {
	return fmt.Sprintf("%s hook %q: %v", e.Stage, e.Hook, e.Err)
}

// Unwrap returns the hook's own error.
func (e *HookError) Unwrap() error { return e.Err }

// PanicError is a panic recovered from a hook.
type PanicError struct {
	Value any    // what was passed to panic
	Stack []byte // the goroutine's stack at the panic
}

// Error gives the panic value.
func (e *PanicError) Error() string { return fmt.Sprintf("panic: %v", e.Value) }

// defaultGrace is how long a hook may take to return after its context
// ended before it is abandoned (see [Runner.Grace]).
const defaultGrace = 500 * time.Millisecond

// Runner runs hooks. The zero value logs nothing and gives hooks a grace of
// 500 ms.
type Runner struct {
	// Logger receives a line per hook run and, for a panic, one line per
	// stack frame. Nil discards.
	Logger *slog.Logger
	// Grace is how long a hook may still take to return once its context
	// ended: a hook that honours cancellation gets to report its own
	// result. Zero means 500 ms.
	Grace time.Duration
}

func (r Runner) logger() *slog.Logger {
	if r.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return r.Logger
}

// Run runs hooks in order and stops at the first failure, which it returns
// as a [*HookError]. A hook that has not returned once ctx is done and the
// [Runner.Grace] has passed is abandoned (its goroutine keeps running) and
// reported as failed; hooks after a done ctx are not run.
func (r Runner) Run(ctx context.Context, stage Stage, hooks []Hook) error {
	for _, h := range hooks {
		if ctx.Err() != nil {
			return &HookError{Stage: stage, Hook: h.Name, Err: fmt.Errorf("not run: %w", context.Cause(ctx))}
		}
		if err := r.call(ctx, stage, h); err != nil {
			return err
		}
	}
	return nil
}

// RunReverse runs every hook in reverse order, even after failures, and
// returns all failures aggregated in one error, whose message gives them on
// one line, separated by "; ". Each failure is a [*HookError]: get them
// all with [HookErrors]; [errors.Is] and [errors.As] look at each (the
// error has an Unwrap() []error method). A hook still running when ctx is
// done is abandoned and reported, and the hooks after it are reported as
// not run.
func (r Runner) RunReverse(ctx context.Context, stage Stage, hooks []Hook) error {
	errs := &multierror.Error{ErrorFormat: oneLine}
	for i := len(hooks) - 1; i >= 0; i-- {
		if ctx.Err() != nil {
			errs = multierror.Append(errs, &HookError{Stage: stage, Hook: hooks[i].Name,
				Err: fmt.Errorf("not run: %w", context.Cause(ctx))})
			continue
		}
		if err := r.call(ctx, stage, hooks[i]); err != nil {
			errs = multierror.Append(errs, err)
		}
	}
	if errs.ErrorOrNil() == nil {
		return nil
	}
	return &aggregate{errs}
}

// aggregate is the failures of the hooks of one [Runner.RunReverse],
// gathered with go-multierror, which stays out of the API.
type aggregate struct{ m *multierror.Error }

func (a *aggregate) Error() string   { return a.m.Error() }
func (a *aggregate) Unwrap() []error { return a.m.WrappedErrors() }

// HookErrors returns every [*HookError] in err's tree, in the order the
// hooks failed: the one of [Runner.Run], the several of
// [Runner.RunReverse], and those among errors joined with [errors.Join] (as
// [github.com/daemonkit/daemonkit/framework]'s Run returns the body's and
// the OnStop hooks' failures). It returns nil if there is none.
func HookErrors(err error) []*HookError {
	var out []*HookError
	var walk func(error)
	walk = func(err error) {
		switch e := err.(type) {
		case nil:
		case *HookError:
			out = append(out, e)
		case interface{ Unwrap() []error }:
			for _, inner := range e.Unwrap() {
				walk(inner)
			}
		case interface{ Unwrap() error }:
			walk(e.Unwrap())
		}
	}
	walk(err)
	return out
}

// oneLine formats aggregated hook errors on one line, for logs and for the
// one-line messages on stderr.
func oneLine(errs []error) string {
	msgs := make([]string, len(errs))
	for i, err := range errs {
		msgs[i] = err.Error()
	}
	return strings.Join(msgs, "; ")
}

// call runs one hook in its own goroutine so that a hook ignoring its
// context cannot hold the daemon past ctx's deadline.
func (r Runner) call(ctx context.Context, stage Stage, h Hook) error {
	log := r.logger().With("hook_stage", string(stage), "hook", h.Name)
	start := time.Now()
	done := make(chan error, 1)
	go func() {
		defer func() {
			if v := recover(); v != nil {
				pe := &PanicError{Value: v, Stack: debug.Stack()}
				panics.Log(log, "hook panicked", v, pe.Stack)
				done <- pe
			}
		}()
		done <- h.Fn(ctx)
	}()
	var err error
	select {
	case err = <-done:
	case <-ctx.Done():
		grace := r.Grace
		if grace <= 0 {
			grace = defaultGrace
		}
		t := time.NewTimer(grace)
		defer t.Stop()
		select {
		case err = <-done: // it honoured the cancellation
			if err != nil && ctx.Err() != nil && errors.Is(err, ctx.Err()) {
				if cause := context.Cause(ctx); cause != ctx.Err() {
					err = fmt.Errorf("%w (%v)", err, cause)
				}
			}
		case <-t.C:
			err = fmt.Errorf("did not return within its time limit: %w", context.Cause(ctx))
		}
	}
	if err != nil {
		log.Error("hook failed", "err", err, "duration", time.Since(start))
		return &HookError{Stage: stage, Hook: h.Name, Err: err}
	}
	log.Debug("hook done", "duration", time.Since(start))
	return nil
}
