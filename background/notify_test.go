package background

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestParseNotify(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Notify
		bad  bool
	}{
		{in: "READY=1", want: Notify{Ready: true}},
		{in: "READY=1\n", want: Notify{Ready: true}},
		{in: "STATUS=loading a=b\nREADY=1\nMAINPID=42", want: Notify{Ready: true, Status: "loading a=b", MainPID: 42}},
		{in: "ERRNO=98\nSTATUS=bind failed", want: Notify{Errno: 98, HasErrno: true, Status: "bind failed"}},
		{in: "EXTEND_TIMEOUT_USEC=5000000", want: Notify{ExtendTimeout: 5 * time.Second, HasExtendTimeout: true}},
		{in: "WATCHDOG=1\nFDSTORE=1\nX_CUSTOM=anything", want: Notify{}},
		{in: "", want: Notify{}},
		{in: "\n\n", want: Notify{}},
		{in: "READY=0", bad: true},
		{in: "READY=true", bad: true},
		{in: "READY", bad: true},
		{in: "=1", bad: true},
		{in: "ERRNO=-1", bad: true},
		{in: "ERRNO=+5", bad: true},
		{in: "ERRNO=", bad: true},
		{in: "MAINPID=1", bad: true},
		{in: "MAINPID=0", bad: true},
		{in: "MAINPID=-5", bad: true},
		{in: "EXTEND_TIMEOUT_USEC=1_000", bad: true},
		{in: "READY=1\x00", bad: true},
		{in: "READY=1\n" + strings.Repeat("x", MaxNotifySize), bad: true},
	} {
		got, err := ParseNotify([]byte(tc.in))
		if tc.bad {
			if !errors.Is(err, ErrBadNotify) || got != (Notify{}) {
				t.Errorf("ParseNotify(%q) = %+v, %v; want ErrBadNotify and nothing", tc.in, got, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseNotify(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
}

func TestParseNotifyHugeExtendClamped(t *testing.T) {
	n, err := ParseNotify([]byte("EXTEND_TIMEOUT_USEC=18446744073709551615"))
	if err != nil || n.ExtendTimeout <= 0 {
		t.Fatalf("got %+v, %v; want a positive, clamped duration", n, err)
	}
}

// FuzzParseNotify checks that ParseNotify never panics, that READY only comes
// from an exact READY=1 line, that a MAINPID is always a usable PID, and that
// what it parsed survives a round trip through String.
func FuzzParseNotify(f *testing.F) {
	for _, s := range []string{"READY=1", "STATUS=x\nREADY=1\n", "ERRNO=5", "MAINPID=1234\nREADY=1",
		"EXTEND_TIMEOUT_USEC=99999999999999999", "READY=1\x00", "=", "\n=\n", "STATUS=a=b=c"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		n, err := ParseNotify(b)
		if err != nil {
			if !errors.Is(err, ErrBadNotify) || n != (Notify{}) {
				t.Fatalf("error %v with result %+v", err, n)
			}
			return
		}
		if n.Ready && !strings.Contains("\n"+string(b)+"\n", "\nREADY=1\n") {
			t.Fatalf("Ready from %q", b)
		}
		if n.MainPID != 0 && n.MainPID <= 1 {
			t.Fatalf("MAINPID %d from %q", n.MainPID, b)
		}
		if n.ExtendTimeout < 0 || n.Errno < 0 {
			t.Fatalf("negative value in %+v from %q", n, b)
		}
		again, err := ParseNotify([]byte(n.String()))
		if err != nil || again != n {
			t.Fatalf("round trip of %+v through %q gave %+v, %v", n, n.String(), again, err)
		}
	})
}
