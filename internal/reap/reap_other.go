//go:build !linux

package reap

import (
	"context"
	"errors"
	"fmt"
)

// Run fails with an error wrapping [errors.ErrUnsupported]: reaping
// orphans needs Linux (child subreapers).
func Run(context.Context, Spec) (Status, error) {
	return Status{}, fmt.Errorf("reaping orphaned processes needs Linux: %w", errors.ErrUnsupported)
}
