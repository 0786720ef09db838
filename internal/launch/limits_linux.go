package launch

import (
	"fmt"
	"math"

	"golang.org/x/sys/unix"
)

const rlimInfinity = math.MaxUint64 // RLIM_INFINITY on Linux

// rlimitNames maps a limit's name to its resource number.
func rlimitNames() map[string]int {
	return map[string]int{
		"nofile": unix.RLIMIT_NOFILE, "nproc": unix.RLIMIT_NPROC, "core": unix.RLIMIT_CORE,
		"memlock": unix.RLIMIT_MEMLOCK, "as": unix.RLIMIT_AS, "stack": unix.RLIMIT_STACK,
		"cpu": unix.RLIMIT_CPU, "fsize": unix.RLIMIT_FSIZE, "data": unix.RLIMIT_DATA,
		"rss": unix.RLIMIT_RSS, "locks": unix.RLIMIT_LOCKS, "msgqueue": unix.RLIMIT_MSGQUEUE,
		"nice": unix.RLIMIT_NICE, "rtprio": unix.RLIMIT_RTPRIO, "sigpending": unix.RLIMIT_SIGPENDING,
	}
}

// rlimitResource returns the resource number of a limit's name.
func rlimitResource(name string) (int, error) {
	if r, ok := rlimitNames()[name]; ok {
		return r, nil
	}
	return 0, fmt.Errorf("rlimit %q: unknown name; use nofile, nproc, core, memlock, as, stack, cpu, fsize, data, rss, locks, msgqueue, nice, rtprio or sigpending", name)
}
