package lifecycle_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/daemonkit/daemonkit/lifecycle"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func record(log *[]string, name string, err error) lifecycle.Hook {
	return lifecycle.Hook{Name: name, Fn: func(context.Context) error {
		*log = append(*log, name)
		return err
	}}
}

func TestRunInOrderStopsAtFirstFailure(t *testing.T) {
	var ran []string
	boom := errors.New("boom")
	hooks := []lifecycle.Hook{record(&ran, "a", nil), record(&ran, "b", boom), record(&ran, "c", nil)}
	err := lifecycle.Runner{}.Run(context.Background(), lifecycle.PostDetach, hooks)
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
	var ran []string
	aFailed, cFailed := errors.New("a failed"), errors.New("c failed")
	hooks := []lifecycle.Hook{record(&ran, "a", aFailed), record(&ran, "b", nil), record(&ran, "c", cFailed)}
	err := lifecycle.Runner{}.RunReverse(context.Background(), lifecycle.Stop, hooks)
	if got := strings.Join(ran, ","); got != "c,b,a" {
		t.Errorf("ran %s, want c,b,a", got)
	}
	// Each failure is reachable, without knowing how they are aggregated.
	hes := lifecycle.HookErrors(err)
	if len(hes) != 2 || hes[0].Hook != "c" || hes[1].Hook != "a" || hes[0].Stage != lifecycle.Stop {
		t.Fatalf("HookErrors(%v) = %v, want the failures of c then a", err, hes)
	}
	if !errors.Is(err, aFailed) || !errors.Is(err, cFailed) {
		t.Errorf("errors.Is does not find each hook's error in %v", err)
	}
	var he *lifecycle.HookError
	if !errors.As(err, &he) || he.Hook != "c" {
		t.Errorf("errors.As: %v, want the first failure (c)", he)
	}
	// Joined with other errors, as framework's Run returns them.
	joined := errors.Join(errors.New("body failed"), err)
	if got := lifecycle.HookErrors(joined); len(got) != 2 {
		t.Errorf("HookErrors of a joined error: %v, want 2", got)
	}
	if lifecycle.HookErrors(errors.New("other")) != nil || lifecycle.HookErrors(nil) != nil {
		t.Error("HookErrors of an error without hook errors: want nil")
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

// TestPanicStackIsLines: the stack of a hook's panic is logged one frame a
// line, readable with cat, not one line with escaped newlines.
func TestPanicStackIsLines(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	hooks := []lifecycle.Hook{{Name: "p", Fn: func(context.Context) error { panic("kaboom") }}}
	if err := (lifecycle.Runner{Logger: log}).Run(context.Background(), lifecycle.Ready, hooks); err == nil {
		t.Fatal("no error from a panicking hook")
	}
	out := buf.String()
	if strings.Contains(out, `\n`) || strings.Contains(out, `\t`) {
		t.Errorf("escaped newlines in the log:\n%s", out)
	}
	frames := 0
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "msg=\"hook panicked: stack\"") && strings.Contains(line, "hook=p") {
			frames++
		}
	}
	if frames < 2 || !strings.Contains(out, "TestPanicStackIsLines.func1") {
		t.Errorf("want one line per frame, naming the panicking hook:\n%s", out)
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
	hooks := []lifecycle.Hook{
		{Name: "close-db", Fn: func(context.Context) error { fmt.Println("close db"); return nil }},
		{Name: "stop-http", Fn: func(context.Context) error { fmt.Println("stop http"); return nil }},
	}
	_ = lifecycle.Runner{}.RunReverse(context.Background(), lifecycle.Stop, hooks)
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
