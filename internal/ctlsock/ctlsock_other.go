//go:build !linux

package ctlsock

import (
	"context"
	"errors"
	"fmt"
)

// Peer is the process at the other end of a connection.
type Peer struct{ PID, UID int }

// Listener is a daemon's end of the channel. Abstract unix sockets are
// Linux's: elsewhere [Listen] fails with errors.ErrUnsupported.
type Listener struct{}

// Listen is not supported here.
func Listen(Key) (*Listener, error) {
	return nil, fmt.Errorf("control channel: %w", errors.ErrUnsupported)
}

// Close does nothing.
func (*Listener) Close() error { return nil }

// Serve is not supported here.
func (*Listener) Serve(context.Context, func(context.Context, Request) Reply) error {
	return fmt.Errorf("control channel: %w", errors.ErrUnsupported)
}

// Call finds no channel here: controllers fall back to signals.
func Call(_ context.Context, _ Key, pid int, _ Request) (Reply, error) {
	return Reply{}, fmt.Errorf("pid %d: %w: %w", pid, ErrNoChannel, errors.ErrUnsupported)
}
