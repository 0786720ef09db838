//go:build !linux

package background

import (
	"context"
	"fmt"
	"runtime"
)

// Launch is only implemented on Linux; elsewhere it returns
// [ErrUnsupported] after validating opts.
func Launch(ctx context.Context, opts Options) (int, error) {
	if err := opts.validate(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("%w (GOOS=%s)", ErrUnsupported, runtime.GOOS)
}
