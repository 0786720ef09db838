package launch

import (
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// Go cannot run code in a forked child before its exec, and resource
// limits, the nice value (per thread on Linux) and no_new_privs must be set
// in the daemon itself, not in the launching process. So a daemon with
// [Spec.Limits] is started as the launching binary again (/proc/self/exe,
// the same PID) with shimEnv set to a [shimSpec]: this package's init
// applies the limits on a locked thread and execs the program from that
// thread, so the daemon keeps the PID it was started with.
const shimEnv = "DAEMONKIT_LAUNCH_LIMITS"

// shimSpec is what the shim is told: the program and the limits.
type shimSpec struct {
	Path   string `json:"path"`
	Limits Limits `json:"limits"`
}

func init() {
	if v, ok := os.LookupEnv(shimEnv); ok {
		runShim(v) // returns only on failure
		os.Exit(127)
	}
}

// runShim applies the limits in v and execs the program; it returns only
// after printing why it could not.
func runShim(v string) {
	var sp shimSpec
	if err := json.Unmarshal([]byte(v), &sp); err != nil || sp.Path == "" {
		fmt.Fprintf(os.Stderr, "daemonkit: %s is set but not valid (%v); it is internal to daemonkit: unset it\n", shimEnv, err)
		return
	}
	runtime.LockOSThread() // the nice value and the exec belong to this thread
	if err := sp.Limits.apply(); err != nil {
		fmt.Fprintf(os.Stderr, "daemonkit: %s: %v\n", sp.Path, err)
		return
	}
	env := slices.DeleteFunc(os.Environ(), func(e string) bool { return strings.HasPrefix(e, shimEnv+"=") })
	err := unix.Exec(sp.Path, os.Args, env)
	fmt.Fprintf(os.Stderr, "daemonkit: exec %s: %v\n", sp.Path, err)
}

// apply sets l on the calling process and thread.
func (l Limits) apply() error {
	for _, r := range l.Rlimits {
		// syscall's Setrlimit, not prlimit: it also keeps Go's exec from
		// restoring its own original RLIMIT_NOFILE.
		if err := syscall.Setrlimit(r.Resource, &syscall.Rlimit{Cur: r.Cur, Max: r.Max}); err != nil {
			return fmt.Errorf("setrlimit %s=%d:%d: %w", r.Name, r.Cur, r.Max, err)
		}
	}
	if l.NiceSet {
		if err := unix.Setpriority(unix.PRIO_PROCESS, 0, l.Nice); err != nil {
			return fmt.Errorf("setpriority nice %d: %w", l.Nice, err)
		}
	}
	if l.NoNewPrivs {
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			return fmt.Errorf("prctl(PR_SET_NO_NEW_PRIVS): %w", err)
		}
	}
	return nil
}

// shimmed returns how to start the program of s: s's path and
// environment, or the shim's when s has limits.
func shimmed(s Spec) (path string, env []string, err error) {
	if s.Limits.IsZero() {
		return s.Path, s.Env, nil
	}
	b, err := json.Marshal(shimSpec{Path: s.Path, Limits: s.Limits})
	if err != nil {
		return "", nil, fmt.Errorf("launch: encoding the limits: %w", err)
	}
	env = append(slices.Clip(s.Env), shimEnv+"="+string(b))
	return "/proc/self/exe", env, nil
}
