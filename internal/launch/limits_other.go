//go:build !linux

package launch

import (
	"errors"
	"fmt"
	"math"
	"runtime"
)

const rlimInfinity = math.MaxUint64

// rlimitResource refuses: daemonkit applies resource limits on Linux only.
func rlimitResource(name string) (int, error) {
	return 0, fmt.Errorf("rlimit %q: resource limits are not supported on %s: %w", name, runtime.GOOS, errors.ErrUnsupported)
}
