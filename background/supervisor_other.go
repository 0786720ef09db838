//go:build !linux

package background

import (
	"context"
	"fmt"
	"runtime"
)

// AskSupervisor is only implemented on Linux, where supervisors run.
func AskSupervisor(ctx context.Context, pidFile, guardFile string, pid int) (*Supervision, error) {
	return nil, fmt.Errorf("%w (GOOS=%s)", ErrUnsupported, runtime.GOOS)
}
