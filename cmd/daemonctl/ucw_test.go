package main

import (
	"errors"
	"slices"
	"strings"
	"testing"
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
		got, err := rewriteUCW(strings.Fields(tc.in))
		var ue *usageError
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
