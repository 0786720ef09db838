// Command tinyd is the smallest useful daemon body for the benchmarks in
// [github.com/daemonkit/daemonkit/bench]: it stays in the foreground, reports
// readiness, and exits 0 on SIGTERM or SIGINT. It uses no daemonkit package,
// so that every starter in bench/run.sh runs the same program and the
// framework's own cost can be measured against it (examples/hello is its
// framework twin).
//
// Readiness is reported in every way a starter may ask for:
//   - if NOTIFY_SOCKET is set, "READY=1" is sent to it (sd_notify, written
//     here in a few lines so that no library is linked in);
//   - with -ready-fd N, a newline is written to fd N, which is then closed
//     (the s6 convention, used by bench/floor and `daemonctl --ready-fd`).
//
// With -exit it exits 0 at once: the benchmarks use that to measure what
// starting and ending a minimal Go process costs.
//
// Usage:
//
//	tinyd [-ready-fd N] [-exit]
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	readyFD := flag.Int("ready-fd", -1, "write a newline to this inherited fd when ready, then close it")
	exit := flag.Bool("exit", false, "exit 0 at once (to measure a Go process's start and exit)")
	flag.Parse()
	if *exit {
		return
	}

	// Install the handler before reporting readiness, so that a stop right
	// after READY=1 is a clean exit.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)

	if err := notifyReady(os.Getenv("NOTIFY_SOCKET")); err != nil {
		fmt.Fprintln(os.Stderr, "tinyd:", err)
		os.Exit(1)
	}
	if *readyFD >= 0 {
		if err := writeReadyFD(*readyFD); err != nil {
			fmt.Fprintln(os.Stderr, "tinyd:", err)
			os.Exit(1)
		}
	}
	<-sigs
}

// notifyReady sends "READY=1" to the sd_notify socket at addr (a path, or an
// abstract name starting with '@'). An empty addr does nothing.
func notifyReady(addr string) error {
	if addr == "" {
		return nil
	}
	os.Unsetenv("NOTIFY_SOCKET")
	fd, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_DGRAM, 0)
	if err != nil {
		return fmt.Errorf("sd_notify socket: %w", err)
	}
	defer syscall.Close(fd)
	syscall.CloseOnExec(fd)
	sa := &syscall.SockaddrUnix{Name: addr} // on Linux a leading '@' is abstract
	if err := syscall.Sendto(fd, []byte("READY=1\n"), 0, sa); err != nil {
		return fmt.Errorf("sd_notify READY=1 to %s: %w", addr, err)
	}
	return nil
}

// writeReadyFD writes a newline to fd and closes it.
func writeReadyFD(fd int) error {
	f := os.NewFile(uintptr(fd), "ready-fd")
	if f == nil {
		return fmt.Errorf("ready fd %d is not valid", fd)
	}
	defer f.Close()
	if _, err := f.Write([]byte{'\n'}); err != nil {
		return fmt.Errorf("write to ready fd %d: %w", fd, err)
	}
	return nil
}
