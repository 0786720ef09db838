package main

import (
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/daemonkit/daemonkit/internal/verbs"
)

func TestRewriteUCW(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		bad      bool
	}{
		// subcommand spelling is left alone
		{in: "start --pid-file p -- sleep 1", want: "start --pid-file p -- sleep 1"},
		{in: "--pid-file p stop --signal KILL", want: "--pid-file p stop --signal KILL"},
		{in: "stop --signal INT -p p", want: "stop --signal INT -p p"},
		{in: "signal -p p --signal USR1", want: "signal -p p --signal USR1"},
		{in: "", want: ""},
		{in: "--help", want: "--help"},
		{in: "start -p p -- x --stop --signal 9", want: "start -p p -- x --stop --signal 9"},
		// libucw spelling
		{in: "--start --pid-file p -- sleep 1", want: "start --pid-file p -- sleep 1"},
		{in: "--pid-file p --guard-file g --start -- sleep 1 --stop", want: "start --pid-file p --guard-file g -- sleep 1 --stop"},
		{in: "--stop --pid-file p", want: "stop --pid-file p"},
		{in: "--stop --signal INT --pid-file p", want: "stop --pid-file p --signal INT"},
		{in: "--stop --signal=9 --pid-file p", want: "stop --pid-file p --signal 9"},
		{in: "--check --pid-file p", want: "status --pid-file p"},
		{in: "--reload --pid-file p", want: "reload --pid-file p"},
		{in: "--reload --signal USR1 --pid-file p", want: "signal --pid-file p USR1"},
		{in: "--signal USR2 --pid-file p", want: "signal --pid-file p USR2"},
		{in: "--check --check --pid-file p", want: "status --pid-file p"},
		// option values that look like verbs or actions are values
		{in: "--check --pid-file stop", want: "status --pid-file stop"},
		{in: "--stop -p start --guard-file status", want: "stop -p start --guard-file status"},
		{in: "--start --pid-file p --guard-file restart -- x", want: "start --pid-file p --guard-file restart -- x"},
		{in: "status --pid-file --stop", want: "status --pid-file --stop"},
		{in: "--stop --pid-file --start", want: "stop --pid-file --start"},
		// mistakes
		{in: "--start --stop --pid-file p", bad: true},
		{in: "--check --reload --pid-file p", bad: true},
		{in: "--start --signal HUP --pid-file p -- x", bad: true},
		{in: "--check --signal HUP --pid-file p", bad: true},
		{in: "--stop --pid-file p -- x", bad: true},
		{in: "--stop --pid-file p --signal", bad: true},
		{in: "--stop --signal 1 --signal 2 -p p", bad: true},
		{in: "--stop stop -p p", bad: true},
	} {
		got, err := rewriteUCW(spellingOf(new(cli).commands()), strings.Fields(tc.in))
		var ue *verbs.UsageError
		if tc.bad {
			if !errors.As(err, &ue) {
				t.Errorf("rewriteUCW(%q) = %q, %v; want a usage error", tc.in, got, err)
			}
			continue
		}
		if err != nil || !slices.Equal(got, strings.Fields(tc.want)) {
			t.Errorf("rewriteUCW(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

// TestUCWSpellingFromFlags: every option of daemonctl that takes a value
// is known to the libucw rewriting as taking one (its value is never taken
// for an action or a verb), read from the cobra flag set itself.
func TestUCWSpellingFromFlags(t *testing.T) {
	root := new(cli).commands()
	sp := spellingOf(root)
	for _, cmd := range append(root.Commands(), root) {
		cmd.Flags().VisitAll(func(f *pflag.Flag) {
			if f.NoOptDefVal == "" && !sp.valued["--"+f.Name] {
				t.Errorf("%s --%s takes a value but the libucw spelling does not know it", cmd.Name(), f.Name)
			}
		})
		if cmd != root && !sp.verbs[cmd.Name()] {
			t.Errorf("verb %s unknown to the libucw spelling", cmd.Name())
		}
	}
	got, err := rewriteUCW(sp, []string{"--start", "-p", "p", "--output", "stop", "--", "x"})
	if want := []string{"start", "-p", "p", "--output", "stop", "--", "x"}; err != nil || !slices.Equal(got, want) {
		t.Errorf("--output stop: %q, %v; want %q", got, err, want)
	}
}

// TestBackgroundOnlyDeterministic: several options that need --background
// are all named, always in the same order.
func TestBackgroundOnlyDeterministic(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "d.pid")
	for range 20 {
		code, _, stderr := daemonctl(t, "start", "-p", pidFile, "--user", "nobody", "--notify", "--chdir", "/", "--", "true")
		if want := "--chdir, --notify, --user only apply with --background"; code != 1 || !strings.Contains(stderr, want) {
			t.Fatalf("exit %d, %q; want 1 and %q", code, stderr, want)
		}
	}
}
