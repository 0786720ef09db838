package panics

import (
	"bytes"
	"log/slog"
	"runtime/debug"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestLogOneRecordPerFrame: each frame is a line of its own, with the
// function and its file:line unescaped, so that cat shows the stack.
func TestLogOneRecordPerFrame(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	Log(log, "hook panicked", "kaboom", debug.Stack())
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) < 3 {
		t.Fatalf("want the panic and one line per frame, got:\n%s", buf.String())
	}
	if !strings.Contains(lines[0], `msg="hook panicked" panic=kaboom`) {
		t.Errorf("first line %q: want the panic value", lines[0])
	}
	found := false
	for _, l := range lines[1:] {
		if strings.Contains(l, `\n`) || strings.Contains(l, `\t`) {
			t.Errorf("escaped newline or tab in %q", l)
		}
		if !strings.Contains(l, `msg="hook panicked: stack" func=`) {
			t.Errorf("line %q: want a frame record", l)
		}
		if strings.Contains(l, "TestLogOneRecordPerFrame") && strings.Contains(l, "panics_test.go:") {
			found = true
		}
	}
	if !found {
		t.Errorf("no frame names this test with its file:\n%s", buf.String())
	}
}
