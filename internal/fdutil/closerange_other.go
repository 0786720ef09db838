//go:build unix && !linux

package fdutil

import "errors"

func closeRangeCloexec(int) error { return errors.ErrUnsupported }
