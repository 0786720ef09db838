// Command fakedaemon is a configurable foreground program for daemonctl's
// tests: it stays in the foreground until killed and can report readiness
// (sd_notify or a ready fd), record SIGHUPs, ignore SIGTERM, or fail.
//
//	fakedaemon [flags]
//
// Flags are applied in this order: -say, -exit, -pidout, -lock, -env-file,
// -extend, -delay, -marker, then the readiness report (-notify, -ready-fd),
// then it waits for signals.
package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	say := flag.String("say", "", "print these lines (separated by '|') on stdout and stderr first")
	exit := flag.Int("exit", -1, "exit with this status right after -say")
	envFile := flag.String("env-file", "", "write NOTIFY_SOCKET's value into this file")
	delay := flag.Duration("delay", 0, "wait this long before -marker and the readiness report")
	marker := flag.String("marker", "", "create this file just before reporting readiness")
	notify := flag.Bool("notify", false, "send READY=1 to $NOTIFY_SOCKET")
	status := flag.String("status", "", "send STATUS=text first (with -notify)")
	errno := flag.Int("errno", 0, "send ERRNO=n instead of READY=1 (with -notify)")
	extend := flag.Duration("extend", 0, "send EXTEND_TIMEOUT_USEC=d at once, before -delay")
	never := flag.Bool("never-ready", false, "never report readiness")
	readyFD := flag.Int("ready-fd", 0, "write a newline to this descriptor")
	closeFD := flag.Bool("close-fd", false, "close the -ready-fd descriptor without writing")
	hupFile := flag.String("hup-file", "", "append \"HUP n\" to this file on the nth SIGHUP")
	ignoreTerm := flag.Bool("ignore-term", false, "ignore SIGTERM")
	pidOut := flag.String("pidout", "", "write our PID into this file at once")
	mainChild := flag.Bool("main-child", false, "with -notify: start `sleep 1000` as a child (it inherits our descriptors) and send MAINPID=<its pid> with READY=1")
	lock := flag.String("lock", "", "lock this file (flock LOCK_EX) and write -content into it, like a daemon holding its PID file")
	content := flag.String("content", "", "what to write into the -lock file (\\n stands for a newline)")
	flag.Parse()

	if *say != "" {
		for _, l := range strings.Split(*say, "|") {
			fmt.Println(l)
		}
	}
	if *exit >= 0 {
		os.Exit(*exit)
	}
	if *pidOut != "" {
		write(*pidOut, strconv.Itoa(os.Getpid())+"\n")
	}
	if *lock != "" {
		f, err := os.OpenFile(*lock, os.O_RDWR|os.O_CREATE, 0o644)
		if err != nil {
			fail(err)
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			fail(fmt.Errorf("lock %s: %w", *lock, err))
		}
		f.Truncate(0)
		f.WriteString(strings.ReplaceAll(*content, `\n`, "\n"))
		defer f.Close() // held until we are killed
	}
	if *ignoreTerm {
		signal.Ignore(syscall.SIGTERM)
	}
	hup := make(chan os.Signal, 1)
	if *hupFile != "" {
		signal.Notify(hup, syscall.SIGHUP)
	}
	if *envFile != "" {
		write(*envFile, os.Getenv("NOTIFY_SOCKET"))
	}
	if *extend > 0 {
		send("EXTEND_TIMEOUT_USEC=" + strconv.FormatInt(extend.Microseconds(), 10))
	}
	time.Sleep(*delay)

	if !*never {
		if *marker != "" {
			write(*marker, strconv.Itoa(os.Getpid())+"\n")
		}
		if *notify {
			if *status != "" {
				send("STATUS=" + *status)
			}
			switch {
			case *errno > 0:
				send("ERRNO=" + strconv.Itoa(*errno))
			case *mainChild:
				child := exec.Command("sleep", "1000")
				if err := child.Start(); err != nil {
					fail(err)
				}
				send("MAINPID=" + strconv.Itoa(child.Process.Pid) + "\nREADY=1")
			default:
				send("READY=1")
			}
		}
		if *readyFD > 0 {
			f := os.NewFile(uintptr(*readyFD), "ready")
			if !*closeFD {
				if _, err := f.Write([]byte("\n")); err != nil {
					fail(err)
				}
			}
			f.Close()
		}
	}

	if *hupFile == "" {
		for {
			time.Sleep(time.Hour) // a sleeping timer: no deadlock report
		}
	}
	for n := 1; ; n++ {
		<-hup
		f, err := os.OpenFile(*hupFile, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
		if err != nil {
			fail(err)
		}
		fmt.Fprintf(f, "HUP %d\n", n)
		f.Close()
	}
}

func send(msg string) {
	addr := os.Getenv("NOTIFY_SOCKET")
	if addr == "" {
		fail(fmt.Errorf("NOTIFY_SOCKET is not set"))
	}
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: addr, Net: "unixgram"})
	if err != nil {
		fail(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte(msg)); err != nil {
		fail(err)
	}
}

func write(path, s string) {
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "fakedaemon:", err)
	os.Exit(2)
}
