//go:build unix && !linux

package control

import (
	"syscall"
	"time"
)

// treeAttr returns no attributes: without pidfds and /proc a command's
// tree cannot be followed, and only the command itself is signalled.
func treeAttr() (*syscall.SysProcAttr, *int) { return nil, nil }

// tree is never built on this system.
type tree struct{}

// newTree returns nil: only the command itself is signalled.
func newTree(pid int, pidfd *int) *tree { return nil }

func (t *tree) signal(sig syscall.Signal)   {}
func (t *tree) kill(by time.Time)           {}
func (t *tree) waitExit(deadline time.Time) {}
func (t *tree) close()                      {}
