//go:build unix

// Command testdaemon is a fake daemon for the control package's tests. Its
// launcher locks the PID file, writes "(starting)", re-executes itself as the
// daemon (new session, PID file inherited as fd 3, ready pipe as fd 4), writes
// the daemon's PID once it is ready and exits 0 (100 if the PID file is
// locked). The daemon truncates the PID file and exits on SIGTERM, and
// records each SIGHUP. With -ctl it runs a control action instead, for tests
// that need another user.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/daemonkit/daemonkit/control"
	"github.com/daemonkit/daemonkit/internal/ctlguard"
	"github.com/daemonkit/daemonkit/internal/pidlock"
	"github.com/daemonkit/daemonkit/lockfile"
)

func main() {
	var (
		pidFile    = flag.String("pidfile", "", "PID file (required)")
		daemon     = flag.Bool("daemon", false, "internal: run as the daemon stage")
		holder     = flag.Bool("holder", false, "only sleep until killed (lock holder, canary)")
		ignoreTerm = flag.Bool("ignore-term", false, "daemon ignores SIGTERM")
		hupFile    = flag.String("hup-file", "", "daemon appends a line here on each SIGHUP")
		fail       = flag.String("fail", "", "launcher prints this on stderr and exits 1 after writing (starting)")
		noDaemon   = flag.Bool("no-daemon", false, "launcher exits 0 after writing (starting), starting no daemon")
		exitCode   = flag.Int("exit", -1, "launcher exits at once with this status")
		holdChild  = flag.String("hold-child", "", "daemon starts a child inheriting the lock and writes its PID here")
		neverReady = flag.Bool("never-ready", false, "daemon never reports ready (its launcher aborts on SIGTERM: kills it and exits 1)")
		ctl        = flag.String("ctl", "", "run control action start, check, stop or signal on -pidfile (honouring a guard held by an ancestor), print the outcome, exit with its status; startedby: print what control.StartedByController says")
		setsid     = flag.Bool("setsid", false, "launcher calls setsid(2) first, as libucw's daemon_run does, and exits 1 if it fails")
	)
	flag.Parse()
	if *setsid && !*daemon {
		if _, err := syscall.Setsid(); err != nil {
			fmt.Fprintln(os.Stderr, "testdaemon: setsid:", err)
			os.Exit(1)
		}
	}
	switch {
	case *ctl != "":
		runControl(*ctl, *pidFile)
	case *holder:
		for {
			time.Sleep(time.Hour)
		}
	case *daemon:
		if *neverReady {
			for {
				time.Sleep(time.Hour)
			}
		}
		runDaemon(*pidFile, *ignoreTerm, *hupFile, *holdChild)
	}
	if *exitCode >= 0 {
		fmt.Fprintln(os.Stderr, "testdaemon: exiting with", *exitCode)
		os.Exit(*exitCode)
	}
	runLauncher(*pidFile, *fail, *noDaemon)
}

// runLauncher is the launcher stage: lock the PID file, write (starting),
// start the daemon stage and write its PID once it reports ready.
func runLauncher(pidFile, fail string, noDaemon bool) {
	f, err := pidlock.Acquire(pidFile)
	if errors.Is(err, lockfile.ErrLocked) {
		fmt.Fprintln(os.Stderr, "testdaemon:", err)
		os.Exit(100)
	}
	check(err)
	check(f.WriteStarting())
	if fail != "" {
		fmt.Fprintln(os.Stderr, fail)
		os.Exit(1)
	}
	if noDaemon {
		os.Exit(0)
	}
	// SIGTERM aborts the start, as a daemonkit launcher does: the daemon
	// is killed and the PID file left not running.
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM)
	r, w, err := os.Pipe()
	check(err)
	cmd := exec.Command(os.Args[0], append([]string{"-daemon"}, os.Args[1:]...)...)
	cmd.ExtraFiles = []*os.File{f.File(), w}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	check(cmd.Start())
	w.Close()
	ready := make(chan bool, 1)
	go func() {
		n, _ := r.Read(make([]byte, 1))
		ready <- n == 1
	}()
	select {
	case ok := <-ready:
		if !ok {
			fmt.Fprintln(os.Stderr, "testdaemon: daemon failed before ready")
			os.Exit(1)
		}
	case <-term:
		cmd.Process.Kill()
		cmd.Wait()
		f.Clear()
		fmt.Fprintln(os.Stderr, "testdaemon: start aborted by SIGTERM")
		os.Exit(1)
	}
	check(f.WritePID(cmd.Process.Pid))
	os.Exit(0)
}

func runDaemon(pidFile string, ignoreTerm bool, hupFile, holdChild string) {
	pf := os.NewFile(3, pidFile)
	ready := os.NewFile(4, "ready")
	syscall.CloseOnExec(4)
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGHUP)
	if ignoreTerm {
		signal.Ignore(syscall.SIGTERM)
	}
	if holdChild != "" {
		cmd := exec.Command(os.Args[0], "-holder")
		cmd.ExtraFiles = []*os.File{pf}
		check(cmd.Start())
		check(os.WriteFile(holdChild, []byte(strconv.Itoa(cmd.Process.Pid)), 0o644))
	}
	ready.Write([]byte{1})
	ready.Close()
	for s := range sigs {
		switch s {
		case syscall.SIGHUP:
			if hupFile != "" {
				f, err := os.OpenFile(hupFile, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
				check(err)
				fmt.Fprintln(f, "hup", os.Getpid())
				f.Close()
			}
		case syscall.SIGTERM:
			pf.Truncate(0)
			os.Exit(0)
		}
	}
}

func runControl(action, pidFile string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	o := control.Options{PIDFile: pidFile}
	if action == "startedby" {
		held, err := ctlguard.StartedByController(pidFile, "")
		fmt.Printf("held=%v err=%v\n", held, err)
		os.Exit(0)
	}
	var res control.Result
	var err error
	switch action {
	case "start":
		// A controller as start command: `-ctl start` run by Start.
		c := control.Command(os.Args[0], "-pidfile", pidFile)
		c.Stdin, c.Stdout = nil, nil
		res, err = control.Start(ctx, o, c)
	case "start-cmd":
		// Start with the command given after the flags.
		c := control.Command(flag.Arg(0), flag.Args()[1:]...)
		c.Stdin, c.Stdout = nil, nil
		res, err = control.Start(ctx, o, c)
	case "check":
		res, err = control.Check(ctx, o)
	case "stop":
		res, err = control.Stop(ctx, o)
	case "signal":
		res, err = control.Signal(ctx, o)
	default:
		fmt.Fprintln(os.Stderr, "testdaemon: unknown -ctl action", action)
		os.Exit(1)
	}
	fmt.Printf("%s pid=%d\n", res.Status, res.Before.PID)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
	os.Exit(int(res.Status))
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "testdaemon:", err)
		os.Exit(1)
	}
}
