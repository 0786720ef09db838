//go:build !linux

package reexec

import "time"

// Adopt returns [ErrUnsupported].
func Adopt() (*Stage, error) { return nil, ErrUnsupported }

// Fail returns [ErrUnsupported].
func (*Stage) Fail(string) error { return ErrUnsupported }

// Ready returns false.
func (*Stage) Ready(time.Duration) bool { return false }

// Close does nothing.
func (*Stage) Close() {}

// ClearUnlessUpgrade does nothing here.
func (*Stage) ClearUnlessUpgrade() {}

// SetComm does nothing: only Linux re-executes /proc/self/exe.
func SetComm() {}
