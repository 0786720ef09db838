// Command daemonctl starts, stops, checks and signals daemons through their
// PID files with libucw's race-free control protocol, and can daemonize a
// program that stays in the foreground (start --background).
//
// See docs/daemonctl.md or `daemonctl --help`.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
