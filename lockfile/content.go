package lockfile

import "github.com/daemonkit/daemonkit/internal/pidfile"

// ErrInvalidPID reports PID file content that is not a usable process ID.
var ErrInvalidPID = pidfile.ErrInvalidPID

// ParsePID parses PID file content strictly: decimal digits with one optional
// trailing newline, no sign, no spaces, no leading zeros, and a value with
// 1 < pid <= pidMax. A pidMax of 0 or less means 2^22, the kernel's upper
// limit. The error wraps [ErrInvalidPID].
func ParsePID(b []byte, pidMax int) (int, error) { return pidfile.ParsePID(b, pidMax) }
