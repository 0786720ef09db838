package launch

import (
	"fmt"
	"strconv"
	"strings"
)

// Limits are resource limits and privileges a daemon gets before its
// program runs: see [Spec.Limits]. The zero value changes nothing.
type Limits struct {
	Rlimits    []Rlimit // setrlimit(2), in order
	Nice       int      // the nice value, if NiceSet
	NiceSet    bool
	NoNewPrivs bool // prctl(PR_SET_NO_NEW_PRIVS)
}

// Rlimit is one resource limit: setrlimit(2)'s resource number and its
// soft (Cur) and hard (Max) values.
type Rlimit struct {
	Name     string // as given: nofile, nproc, …
	Resource int
	Cur, Max uint64
}

// IsZero reports whether l changes nothing.
func (l Limits) IsZero() bool { return len(l.Rlimits) == 0 && !l.NiceSet && !l.NoNewPrivs }

// ParseRlimit parses NAME=SOFT[:HARD], a value being a number or
// "unlimited"; without HARD, the hard limit is SOFT too. The names are
// setrlimit(2)'s without RLIMIT_, in lower case: nofile, nproc, core,
// memlock, as, stack, cpu, fsize, data, rss, locks, msgqueue, nice,
// rtprio, sigpending. Where resource limits cannot be applied, the error
// wraps [errors.ErrUnsupported].
func ParseRlimit(s string) (Rlimit, error) {
	name, vals, ok := strings.Cut(s, "=")
	if !ok {
		return Rlimit{}, fmt.Errorf("rlimit %q: want NAME=SOFT[:HARD]", s)
	}
	res, err := rlimitResource(name)
	if err != nil {
		return Rlimit{}, err
	}
	soft, hard, hasHard := strings.Cut(vals, ":")
	r := Rlimit{Name: name, Resource: res}
	if r.Cur, err = rlimitValue(soft); err != nil {
		return Rlimit{}, fmt.Errorf("rlimit %q: soft limit: %w", s, err)
	}
	r.Max = r.Cur
	if hasHard {
		if r.Max, err = rlimitValue(hard); err != nil {
			return Rlimit{}, fmt.Errorf("rlimit %q: hard limit: %w", s, err)
		}
	}
	if r.Cur > r.Max {
		return Rlimit{}, fmt.Errorf("rlimit %q: the soft limit exceeds the hard limit", s)
	}
	return r, nil
}

// rlimitValue parses a limit: a number, or "unlimited".
func rlimitValue(s string) (uint64, error) {
	if s == "unlimited" || s == "infinity" {
		return rlimInfinity, nil
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil || v >= rlimInfinity {
		return 0, fmt.Errorf("%q is not a number or \"unlimited\"", s)
	}
	return v, nil
}

// ParseNice checks a nice value: -20 to 19.
func ParseNice(n int) error {
	if n < -20 || n > 19 {
		return fmt.Errorf("nice %d: want -20 to 19", n)
	}
	return nil
}
