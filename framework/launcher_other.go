//go:build !linux

package framework

import (
	"context"
	"fmt"

	"github.com/daemonkit/daemonkit/reexec"
)

func (d *Daemon) launch(context.Context) error {
	return fmt.Errorf("%s: %w", d.cfg.Name, reexec.ErrUnsupported)
}

func (d *Daemon) runDaemon(context.Context, Body) error {
	return fmt.Errorf("%s: %w", d.cfg.Name, reexec.ErrUnsupported)
}
