//go:build linux

package launch

import (
	"math"
	"testing"

	"golang.org/x/sys/unix"
)

func TestParseRlimit(t *testing.T) {
	for _, tt := range []struct {
		in       string
		res      int
		cur, max uint64
		bad      bool
	}{
		{in: "nofile=256", res: unix.RLIMIT_NOFILE, cur: 256, max: 256},
		{in: "core=0:unlimited", res: unix.RLIMIT_CORE, cur: 0, max: math.MaxUint64},
		{in: "as=unlimited", res: unix.RLIMIT_AS, cur: math.MaxUint64, max: math.MaxUint64},
		{in: "nice=10:20", res: unix.RLIMIT_NICE, cur: 10, max: 20},
		{in: "sigpending=1", res: unix.RLIMIT_SIGPENDING, cur: 1, max: 1},
		{in: "bogus=1", bad: true},
		{in: "nofile", bad: true},
		{in: "nofile=", bad: true},
		{in: "nofile=-1", bad: true},
		{in: "nofile=10:5", bad: true},
		{in: "nofile=1:", bad: true},
		{in: "nofile=18446744073709551615", bad: true}, // RLIM_INFINITY: say unlimited
		{in: "NOFILE=1", bad: true},
	} {
		r, err := ParseRlimit(tt.in)
		if tt.bad {
			if err == nil {
				t.Errorf("ParseRlimit(%q) = %+v, want an error", tt.in, r)
			}
			continue
		}
		if err != nil || r.Resource != tt.res || r.Cur != tt.cur || r.Max != tt.max {
			t.Errorf("ParseRlimit(%q) = %+v, %v; want resource %d, %d:%d", tt.in, r, err, tt.res, tt.cur, tt.max)
		}
	}
}

func TestParseNice(t *testing.T) {
	for n, ok := range map[int]bool{-21: false, -20: true, 0: true, 19: true, 20: false} {
		if err := ParseNice(n); (err == nil) != ok {
			t.Errorf("ParseNice(%d) = %v", n, err)
		}
	}
}

func TestParseCap(t *testing.T) {
	for in, want := range map[string]uintptr{
		"NET_BIND_SERVICE": unix.CAP_NET_BIND_SERVICE, "cap_net_bind_service": unix.CAP_NET_BIND_SERVICE,
		"CAP_SYS_NICE": unix.CAP_SYS_NICE, "chown": unix.CAP_CHOWN,
	} {
		if got, err := ParseCap(in); err != nil || got != want {
			t.Errorf("ParseCap(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "CAP_", "NET_FROB", "NET_BIND_SERVICE,CHOWN"} {
		if got, err := ParseCap(in); err == nil {
			t.Errorf("ParseCap(%q) = %d, want an error", in, got)
		}
	}
}
