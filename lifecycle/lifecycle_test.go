package lifecycle_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-multierror"
	"go.uber.org/goleak"

	"github.com/daemonkit/daemonkit/lifecycle"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func record(log *[]string, name string, err error) lifecycle.Func {
	return func(context.Context) error {
		*log = append(*log, name)
		return err
	}
}

func TestRunInOrderStopsAtFirstFailure(t *testing.T) {
	var r lifecycle.Registry
	var ran []string
	boom := errors.New("boom")
	r.Add(lifecycle.PostDetach, "a", record(&ran, "a", nil))
	r.Add(lifecycle.PostDetach, "b", record(&ran, "b", boom))
	r.Add(lifecycle.PostDetach, "c", record(&ran, "c", nil))
	err := lifecycle.Runner{}.Run(context.Background(), lifecycle.PostDetach, r.Hooks(lifecycle.PostDetach))
	if got := strings.Join(ran, ","); got != "a,b" {
		t.Errorf("ran %s, want a,b", got)
	}
	var he *lifecycle.HookError
	if !errors.As(err, &he) || he.Hook != "b" || he.Stage != lifecycle.PostDetach || !errors.Is(err, boom) {
		t.Fatalf("err = %v, want HookError for b wrapping boom", err)
	}
	if want := `post-detach hook "b": boom`; err.Error() != want {
		t.Errorf("message %q, want %q", err.Error(), want)
	}
}

func TestRunReverseRunsAllAndAggregates(t *testing.T) {
	var r lifecycle.Registry
	var ran []string
	r.Add(lifecycle.Stop, "a", record(&ran, "a", errors.New("a failed")))
	r.Add(lifecycle.Stop, "b", record(&ran, "b", nil))
	r.Add(lifecycle.Stop, "c", record(&ran, "c", errors.New("c failed")))
	err := lifecycle.Runner{}.RunReverse(context.Background(), lifecycle.Stop, r.Hooks(lifecycle.Stop))
	if got := strings.Join(ran, ","); got != "c,b,a" {
		t.Errorf("ran %s, want c,b,a", got)
	}
	var me *multierror.Error
	if !errors.As(err, &me) || len(me.Errors) != 2 {
		t.Fatalf("err = %v, want 2 aggregated errors", err)
	}
	for _, name := range []string{`"c"`, `"a"`} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("%q does not name hook %s", err, name)
		}
	}
}

func TestPanicBecomesError(t *testing.T) {
	hooks := []lifecycle.Hook{{Name: "p", Fn: func(context.Context) error { panic("kaboom") }}}
	err := lifecycle.Runner{}.Run(context.Background(), lifecycle.Ready, hooks)
	var pe *lifecycle.PanicError
	if !errors.As(err, &pe) || pe.Value != "kaboom" || !strings.Contains(string(pe.Stack), "lifecycle_test") {
		t.Fatalf("err = %v, want PanicError with value and stack", err)
	}
	if !strings.Contains(err.Error(), `ready hook "p": panic: kaboom`) {
		t.Errorf("message %q", err)
	}
}

func TestStopHookIgnoringContextIsAbandoned(t *testing.T) {
	release := make(chan struct{})
	finished := make(chan struct{})
	defer func() { close(release); <-finished }()
	hooks := []lifecycle.Hook{
		{Name: "after", Fn: func(context.Context) error { t.Error("hook after a stuck one ran"); return nil }},
		{Name: "stuck", Fn: func(context.Context) error { <-release; close(finished); return nil }},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := lifecycle.Runner{}.RunReverse(ctx, lifecycle.Stop, hooks)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), `"stuck": did not return`) ||
		!strings.Contains(err.Error(), `"after": not run`) {
		t.Fatalf("err = %v, want the stuck hook abandoned and the next one not run", err)
	}
}

func Example() {
	var r lifecycle.Registry
	r.Add(lifecycle.Stop, "close-db", func(context.Context) error { fmt.Println("close db"); return nil })
	r.Add(lifecycle.Stop, "stop-http", func(context.Context) error { fmt.Println("stop http"); return nil })
	_ = lifecycle.Runner{}.RunReverse(context.Background(), lifecycle.Stop, r.Hooks(lifecycle.Stop))
	// Output:
	// stop http
	// close db
}

// TestHookHonouringCancellationReportsItsOwnResult: a hook that returns as
// soon as its context ends is not reported as hung; its own error names the
// cause.
func TestHookHonouringCancellationReportsItsOwnResult(t *testing.T) {
	ctx, cancel := context.WithCancelCause(context.Background())
	started := make(chan struct{})
	go func() { <-started; cancel(errors.New("stopped by SIGTERM")) }()
	hooks := []lifecycle.Hook{{Name: "wait", Fn: func(ctx context.Context) error {
		close(started)
		<-ctx.Done()
		return ctx.Err()
	}}}
	err := lifecycle.Runner{}.Run(ctx, lifecycle.PostDetach, hooks)
	if !errors.Is(err, context.Canceled) || strings.Contains(err.Error(), "did not return") ||
		!strings.Contains(err.Error(), "stopped by SIGTERM") {
		t.Fatalf("err = %v; want the hook's own context.Canceled naming the cause", err)
	}
}

func TestAggregatedErrorsAreOneLine(t *testing.T) {
	fail := func(context.Context) error { return errors.New("no") }
	err := lifecycle.Runner{}.RunReverse(context.Background(), lifecycle.Stop,
		[]lifecycle.Hook{{Name: "a", Fn: fail}, {Name: "b", Fn: fail}})
	if want := `stop hook "b": no; stop hook "a": no`; err == nil || err.Error() != want {
		t.Fatalf("err = %q, want %q", err, want)
	}
}
