package pidfile

import (
	"os"
	"strconv"
	"strings"
	"sync"
)

// PIDMax returns the system's largest PID (/proc/sys/kernel/pid_max), or
// [DefaultPIDMax] if it cannot be read. It is read once per process: every
// PID file inspection needs it, and reading it costs about half of an
// [Inspect].
func PIDMax() int { return pidMax() }

var pidMax = sync.OnceValue(func() int {
	b, err := os.ReadFile("/proc/sys/kernel/pid_max")
	if err != nil {
		return DefaultPIDMax
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || n < 2 {
		return DefaultPIDMax
	}
	return n
})
