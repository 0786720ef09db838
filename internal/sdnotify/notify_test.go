package sdnotify

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Message
		bad  bool
	}{
		{in: "READY=1", want: Message{Ready: true}},
		{in: "READY=1\n", want: Message{Ready: true}},
		{in: "STATUS=loading a=b\nREADY=1\nMAINPID=42", want: Message{Ready: true, Status: "loading a=b", MainPID: 42}},
		{in: "ERRNO=98\nSTATUS=bind failed", want: Message{Errno: 98, HasErrno: true, Status: "bind failed"}},
		{in: "EXTEND_TIMEOUT_USEC=5000000", want: Message{ExtendTimeout: 5 * time.Second, HasExtendTimeout: true}},
		{in: "WATCHDOG=1\nFDSTORE=1\nX_CUSTOM=anything", want: Message{}},
		{in: "", want: Message{}},
		{in: "\n\n", want: Message{}},
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
		{in: "READY=1\n" + strings.Repeat("x", MaxSize), bad: true},
	} {
		got, err := Parse([]byte(tc.in))
		if tc.bad {
			if !errors.Is(err, ErrMalformed) || got != (Message{}) {
				t.Errorf("Parse(%q) = %+v, %v; want ErrMalformed and nothing", tc.in, got, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("Parse(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
}

func TestParseHugeExtendClamped(t *testing.T) {
	n, err := Parse([]byte("EXTEND_TIMEOUT_USEC=18446744073709551615"))
	if err != nil || n.ExtendTimeout <= 0 {
		t.Fatalf("got %+v, %v; want a positive, clamped duration", n, err)
	}
}

// FuzzParse checks that Parse never panics, that READY only comes
// from an exact READY=1 line, that a MAINPID is always a usable PID, and that
// what it parsed survives a round trip through String.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"READY=1", "STATUS=x\nREADY=1\n", "ERRNO=5", "MAINPID=1234\nREADY=1",
		"EXTEND_TIMEOUT_USEC=99999999999999999", "READY=1\x00", "=", "\n=\n", "STATUS=a=b=c"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		n, err := Parse(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) || n != (Message{}) {
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
		again, err := Parse([]byte(n.String()))
		if err != nil || again != n {
			t.Fatalf("round trip of %+v through %q gave %+v, %v", n, n.String(), again, err)
		}
	})
}
