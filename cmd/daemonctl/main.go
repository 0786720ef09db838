// Command daemonctl starts, stops, checks and signals daemons through their
// PID files with libucw's race-free control protocol, and can daemonize a
// program that stays in the foreground (start --background).
//
// See docs/daemonctl.md or `daemonctl --help`.
package main

// The man pages under docs/man are generated from the cobra commands;
// TestManPages fails when they differ.
//go:generate go test -run ^TestManPages$ -update-man .

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	// SIGINT, SIGTERM and SIGHUP end the action in progress cleanly: a
	// start is aborted (the command it started is killed and the PID file
	// left not running), a wait ends. SIGHUP is among them so that closing
	// the terminal daemonctl runs in does not kill it midway and leave a
	// half-started daemon behind.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
