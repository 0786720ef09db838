package lockfile

import (
	"os"
	"strconv"
	"strings"
)

// PIDMax returns the system's largest PID (/proc/sys/kernel/pid_max), or
// [DefaultPIDMax] if it cannot be read.
func PIDMax() int {
	b, err := os.ReadFile("/proc/sys/kernel/pid_max")
	if err != nil {
		return DefaultPIDMax
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || n < 2 {
		return DefaultPIDMax
	}
	return n
}
