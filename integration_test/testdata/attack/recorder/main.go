// Command recorder is an innocent bystander for the adversarial tests: it
// opens the files named on its command line read-only, holding no lock on
// them (as tail -f or a monitoring agent would), catches every catchable
// signal and appends its name to a record file, so that a test can tell
// whether anything signalled it. SIGKILL and SIGSTOP cannot be caught:
// a test checks that the recorder is still alive and not stopped.
//
//	recorder RECORD [FILE...]
//
// The first line of RECORD is "ready PID" once the handlers are in place;
// each signal then adds a line "sig NAME".
package main

import (
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"syscall"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: recorder RECORD [FILE...]")
		os.Exit(2)
	}
	rec, err := os.OpenFile(os.Args[1], os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		fmt.Fprintln(os.Stderr, "recorder:", err)
		os.Exit(2)
	}
	var open []*os.File
	for _, p := range os.Args[2:] {
		f, err := os.Open(p)
		if err != nil {
			fmt.Fprintln(os.Stderr, "recorder:", err)
			os.Exit(2)
		}
		open = append(open, f)
	}
	c := make(chan os.Signal, 64)
	signal.Notify(c)
	fmt.Fprintf(rec, "ready %d\n", os.Getpid())
	for s := range c {
		// The Go runtime preempts goroutines with SIGURG sent to itself.
		if s == syscall.SIGURG {
			continue
		}
		fmt.Fprintf(rec, "sig %v\n", s)
	}
	runtime.KeepAlive(open)
}
