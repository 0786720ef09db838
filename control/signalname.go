//go:build unix

package control

import (
	"fmt"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// ParseSignal parses a signal given as a name with or without the SIG
// prefix, in any case (SIGTERM, TERM, term), or as a number (15). On Linux
// it also accepts real-time signals as RTMIN, RTMIN+n, RTMAX and RTMAX-n
// (with SIGRTMIN being 34, as in kill(1) on glibc systems). Signal 0 is
// refused: it sends nothing. The error wraps [ErrBadSignal].
func ParseSignal(s string) (syscall.Signal, error) {
	t := strings.TrimSpace(s)
	bad := func(why string) (syscall.Signal, error) {
		return 0, fmt.Errorf("%w %q: %s; use a name like SIGTERM, TERM or term, or a number like 15", ErrBadSignal, s, why)
	}
	if t == "" {
		return bad("empty")
	}
	if t[0] >= '0' && t[0] <= '9' {
		n, err := strconv.Atoi(t)
		if err != nil {
			return bad("not a number")
		}
		if n < 1 || n > maxSignal {
			return bad(fmt.Sprintf("outside 1..%d", maxSignal))
		}
		return syscall.Signal(n), nil
	}
	u := strings.ToUpper(t)
	if !strings.HasPrefix(u, "SIG") {
		u = "SIG" + u
	}
	if sig := unix.SignalNum(u); sig != 0 {
		return sig, nil
	}
	if sig, ok := parseRealtime(u); ok {
		return sig, nil
	}
	return bad("unknown signal name")
}

// parseRealtime parses SIGRTMIN[+n] and SIGRTMAX[-n].
func parseRealtime(u string) (syscall.Signal, bool) {
	if rtMin == 0 {
		return 0, false
	}
	base, sign, rest := 0, 1, ""
	switch {
	case strings.HasPrefix(u, "SIGRTMIN"):
		base, rest = rtMin, strings.TrimPrefix(u, "SIGRTMIN")
	case strings.HasPrefix(u, "SIGRTMAX"):
		base, sign, rest = rtMax, -1, strings.TrimPrefix(u, "SIGRTMAX")
	default:
		return 0, false
	}
	n := 0
	if rest != "" {
		want := byte('+')
		if sign < 0 {
			want = '-'
		}
		digits := rest[1:]
		if rest[0] != want || digits == "" || strings.Trim(digits, "0123456789") != "" || len(digits) > 2 {
			return 0, false
		}
		n, _ = strconv.Atoi(digits)
	}
	sig := base + sign*n
	if sig < rtMin || sig > rtMax {
		return 0, false
	}
	return syscall.Signal(sig), true
}

// signalName returns the name of sig for messages ("SIGTERM"), or its
// number.
func SignalName(sig syscall.Signal) string {
	if n := unix.SignalName(sig); n != "" {
		return n
	}
	if rtMin != 0 && int(sig) >= rtMin && int(sig) <= rtMax {
		return fmt.Sprintf("SIGRTMIN+%d", int(sig)-rtMin)
	}
	return "signal " + strconv.Itoa(int(sig))
}
