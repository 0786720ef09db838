package control_test

import (
	"testing"

	"github.com/daemonkit/daemonkit/control"
)

// What an exit record says reaches a terminal only without its control
// characters: a record anyone could have written cannot retitle or
// rewrite root's terminal.
func TestPrintable(t *testing.T) {
	in := "boom\x1b]0;owned\x07\r\nnext line \xff ok é"
	if got, want := control.Printable(in), "boom?]0;owned???next line ? ok é"; got != want {
		t.Fatalf("Printable(%q) = %q, want %q", in, got, want)
	}
}
