// Package panics logs a recovered panic so that its stack can be read with
// cat: one log record per stack frame, not one escaped line.
package panics

import (
	"fmt"
	"log/slog"
	"strings"
)

// Log logs msg with the panic value, then one record per frame of stack (as
// runtime/debug.Stack returns it): the function and where it is
// ("file:line"), in the order Go prints them, innermost first.
func Log(log *slog.Logger, msg string, value any, stack []byte) {
	log.Error(msg, "panic", fmt.Sprint(value))
	lines := strings.Split(strings.TrimRight(string(stack), "\n"), "\n")
	for i := 0; i < len(lines); i++ {
		fn := strings.TrimSpace(lines[i])
		if fn == "" || strings.HasPrefix(fn, "goroutine ") {
			continue // the header; the goroutine is the one that panicked
		}
		at := ""
		if i+1 < len(lines) && strings.HasPrefix(lines[i+1], "\t") {
			i++
			at = strings.TrimSpace(lines[i])
		}
		log.Error(msg+": stack", "func", fn, "at", at)
	}
}
