//go:build !linux

package reexec

import (
	"context"
	"time"
)

// Child is a daemon stage started by [Spawn], seen from the launcher.
type Child struct{}

// Spawn returns [ErrUnsupported].
func Spawn(Spec) (*Child, error) { return nil, ErrUnsupported }

// PID returns 0.
func (*Child) PID() int { return 0 }

// WaitReady returns [ErrUnsupported].
func (*Child) WaitReady(context.Context) error { return ErrUnsupported }

// Ack returns [ErrUnsupported].
func (*Child) Ack() error { return ErrUnsupported }

// Abort does nothing.
func (*Child) Abort() {}

// Adopt returns [ErrUnsupported].
func Adopt() (*Stage, error) { return nil, ErrUnsupported }

// Fail returns [ErrUnsupported].
func (*Stage) Fail(string) error { return ErrUnsupported }

// Ready returns false.
func (*Stage) Ready(time.Duration) bool { return false }

// Close does nothing.
func (*Stage) Close() {}
