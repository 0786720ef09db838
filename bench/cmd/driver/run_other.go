//go:build !linux

package main

import (
	"errors"
	"io"
)

// run needs pidfds, inotify and a child subreaper, which only Linux has.
func run(o options, out io.Writer) error {
	return errors.New("the benchmark driver needs Linux (pidfd, inotify, PR_SET_CHILD_SUBREAPER)")
}
