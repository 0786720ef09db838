//go:build !linux

package launch

import (
	"errors"
	"fmt"
	"runtime"
)

// ParseCap refuses: ambient capabilities exist on Linux only.
func ParseCap(name string) (uintptr, error) {
	return 0, fmt.Errorf("capability %q: ambient capabilities are not supported on %s: %w", name, runtime.GOOS, errors.ErrUnsupported)
}
