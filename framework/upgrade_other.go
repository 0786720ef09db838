//go:build !linux

package framework

import (
	"context"
	"fmt"

	"github.com/daemonkit/daemonkit/internal/pidlock"
	"github.com/daemonkit/daemonkit/reexec"
)

func (d *Daemon) nextGeneration(context.Context, *pidlock.File) (int, error) {
	return 0, fmt.Errorf("upgrade: %w", reexec.ErrUnsupported)
}
