package pidfile

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
)

// MaxContent is the most bytes of a PID file that are ever read. A valid PID
// file is far shorter; anything longer is [Invalid].
const MaxContent = 32

// StartingContent is what a PID file holds while its daemon initialises.
const StartingContent = "(starting)\n"

// ErrInvalidPID reports PID file content that is not a usable process ID.
var ErrInvalidPID = errors.New("invalid pid")

// DefaultPIDMax is the largest PID assumed when /proc/sys/kernel/pid_max
// cannot be read (it is the kernel's upper limit, 2^22).
const DefaultPIDMax = 1 << 22

// ParsePID parses PID file content strictly: decimal digits with one optional
// trailing newline, no sign, no spaces, no leading zeros, and a value with
// 1 < pid <= pidMax. A pidMax of 0 or less means [DefaultPIDMax]. The error
// wraps [ErrInvalidPID].
func ParsePID(b []byte, pidMax int) (int, error) {
	if pidMax <= 0 {
		pidMax = DefaultPIDMax
	}
	digits := bytes.TrimSuffix(b, []byte{'\n'})
	if len(digits) == 0 {
		return 0, fmt.Errorf("%w: empty", ErrInvalidPID)
	}
	if len(digits) > 10 {
		return 0, fmt.Errorf("%w: %d bytes is too long for a pid", ErrInvalidPID, len(b))
	}
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("%w: %q is not a decimal number", ErrInvalidPID, b)
		}
	}
	if digits[0] == '0' {
		return 0, fmt.Errorf("%w: %q has a leading zero", ErrInvalidPID, b)
	}
	pid, err := strconv.Atoi(string(digits))
	if err != nil {
		return 0, fmt.Errorf("%w: %q: %v", ErrInvalidPID, b, err)
	}
	if pid <= 1 || pid > pidMax {
		return 0, fmt.Errorf("%w: %d is outside 2..%d", ErrInvalidPID, pid, pidMax)
	}
	return pid, nil
}

// Content is what a PID file says, independent of its lock.
type Content int

// The kinds of PID file content.
const (
	ContentEmpty    Content = iota // empty: never started, or stopped cleanly
	ContentStarting                // "(starting)\n"
	ContentPID                     // "<pid>\n"
	ContentInvalid                 // anything else
)

// ParseContent classifies PID file content. For [ContentPID] it returns the
// PID; for [ContentInvalid] an error wrapping [ErrInvalidPID] that says why.
// b should hold at most [MaxContent]+1 bytes; longer content is invalid.
func ParseContent(b []byte, pidMax int) (Content, int, error) {
	switch {
	case len(b) == 0:
		return ContentEmpty, 0, nil
	case string(b) == StartingContent:
		return ContentStarting, 0, nil
	case len(b) > MaxContent:
		return ContentInvalid, 0, fmt.Errorf("%w: more than %d bytes", ErrInvalidPID, MaxContent)
	}
	pid, err := ParsePID(b, pidMax)
	if err != nil {
		return ContentInvalid, 0, err
	}
	return ContentPID, pid, nil
}
