//go:build linux

package control_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/daemonkit/daemonkit/control"
	"github.com/daemonkit/daemonkit/internal/proctest"
)

func TestCommandMessage(t *testing.T) {
	var stderr bytes.Buffer
	c := control.Command("/bin/sh", "-c", `i=0; while [ $i -lt 500 ]; do echo "line $i of noise"; i=$((i+1)); done >&2; echo "the real reason" >&2; exit 3`)
	c.Stdin, c.Stdout, c.Stderr = nil, nil, &stderr
	err := c.Start(ctxFor(t, long))
	var xe *control.ExitError
	if !errors.As(err, &xe) || xe.Code != 3 || xe.Signal != 0 {
		t.Fatalf("error %v: want exit status 3", err)
	}
	if !strings.HasPrefix(xe.Message, "...line ") || !strings.HasSuffix(xe.Message, "the real reason") || len(xe.Message) > control.DefaultMessageLimit+3 {
		t.Errorf("message %q: want the tail, cut at a line", xe.Message)
	}
	if !strings.Contains(stderr.String(), "line 0 of noise\n") || !strings.HasSuffix(stderr.String(), "the real reason\n") {
		t.Errorf("stderr not passed through in full (%d bytes)", stderr.Len())
	}
	if !strings.Contains(err.Error(), "exited with status 3: ...") {
		t.Errorf("error text %q", err)
	}
}

// TestCommandPipeHeld: a command that exits 0 while a child it left behind
// keeps its standard error open does not block the start.
func TestCommandPipeHeld(t *testing.T) {
	var out bytes.Buffer
	c := control.Command("/bin/sh", "-c", `sleep 1000 >/dev/null & echo $!`)
	c.Stdin, c.Stdout, c.Stderr = nil, &out, nil
	c.WaitDelay = 100 * time.Millisecond
	err := c.Start(ctxFor(t, long))
	if pid, perr := strconv.Atoi(strings.TrimSpace(out.String())); perr == nil {
		proctest.Cleanup(t, pid)
	} else {
		t.Errorf("no pid printed: %q", out.String())
	}
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
}

func TestStarterFunc(t *testing.T) {
	called := false
	var s control.Starter = control.StarterFunc(func(context.Context) error { called = true; return nil })
	if err := s.Start(t.Context()); err != nil || !called {
		t.Errorf("StarterFunc: %v, called %v", err, called)
	}
}

// TestCommandStdoutHeld: a buffer as standard output (a pipe) held open by
// a child the command left behind does not block the start either.
func TestCommandStdoutHeld(t *testing.T) {
	var out bytes.Buffer
	dir := t.TempDir()
	c := control.Command("/bin/sh", "-c", `sleep 1000 & echo $! > "$0"`, dir+"/pid")
	c.Stdin, c.Stdout, c.Stderr, c.MessageLimit = nil, &out, nil, 0
	c.WaitDelay = 100 * time.Millisecond
	err := c.Start(ctxFor(t, long))
	b, rerr := os.ReadFile(dir + "/pid")
	if pid, perr := strconv.Atoi(strings.TrimSpace(string(b))); rerr == nil && perr == nil {
		proctest.Cleanup(t, pid)
	} else {
		t.Errorf("no pid written: %v %q", rerr, b)
	}
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
}
