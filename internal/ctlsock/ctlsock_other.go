//go:build !linux

package ctlsock

import (
	"context"
	"errors"
	"fmt"
)

// Peer is the process at the other end of a connection.
type Peer struct{ PID, UID int }

// Listener is a controller's end of the channel. Abstract unix sockets
// are Linux's: elsewhere [Listen] fails with errors.ErrUnsupported, and
// controllers fall back to signals.
type Listener struct{}

// Listen is not supported here.
func Listen(Key, int) (*Listener, error) {
	return nil, fmt.Errorf("control channel: %w", errors.ErrUnsupported)
}

// Close does nothing.
func (*Listener) Close() error { return nil }

// Conn is a controller's connection to the daemon.
type Conn struct{}

// Accept is not supported here.
func (*Listener) Accept(context.Context) (*Conn, error) {
	return nil, fmt.Errorf("control channel: %w", errors.ErrUnsupported)
}

// AcceptQueued is not supported here.
func (*Listener) AcceptQueued() (*Conn, error) {
	return nil, fmt.Errorf("control channel: %w", errors.ErrUnsupported)
}

// Call is not supported here.
func (*Conn) Call(context.Context, Request) (Reply, error) {
	return Reply{}, fmt.Errorf("control channel: %w", errors.ErrUnsupported)
}

// Caller is a daemon's connection to a controller.
type Caller struct{}

// Dial finds no controller here.
func Dial(Key) (*Caller, error) {
	return nil, fmt.Errorf("%w: %w", ErrNoCaller, errors.ErrUnsupported)
}

// Serve is not supported here.
func (*Caller) Serve(context.Context, func(context.Context, Request) Reply) error {
	return fmt.Errorf("control channel: %w", errors.ErrUnsupported)
}

// Close does nothing.
func (*Caller) Close() error { return nil }
