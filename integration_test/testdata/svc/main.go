// Command svc is a test daemon for the framework: it takes a listener from
// a PreDetach hook, starts a child program from a PostDetach hook, records
// every hook it runs, and answers "pong" on the handed-over listener.
//
// Flags: --record FILE (hook names, one per line), --addr-file FILE (where
// the listener's address is written), --child-pid-file FILE (pid of the
// `sleep` it starts), --delay-ready D (sleep in PostDetach), --fail-file
// FILE (if FILE exists when the daemon starts, it fails as the file says:
// postdetach, ready, panic, exit, kill or hang; for upgrade tests, where the
// next generation runs with the same flags as the one that works).
package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/daemonkit/daemonkit/framework"
)

func main() {
	d := framework.New(framework.Config{Name: "svc"})
	record := d.Flags().String("record", "", "append hook names to this file")
	addrFile := d.Flags().String("addr-file", "", "write the listener address here")
	childPIDFile := d.Flags().String("child-pid-file", "", "write the child's pid here")
	delay := d.Flags().Duration("delay-ready", 0, "sleep this long in PostDetach")
	failReady := d.Flags().Bool("fail-ready", false, "fail in OnReady (after the child was started)")
	reloadFor := d.Flags().Duration("reload-takes", 0, "each OnReload hook takes this long (ignoring its context)")
	ignoreStop := d.Flags().Bool("ignore-stop", false, "the body never returns (ignores its context)")
	failFile := d.Flags().String("fail-file", "", "fail as this file says, if it exists when the daemon starts")
	failIn := func(stage string) bool {
		b, _ := os.ReadFile(*failFile)
		return *failFile != "" && string(b) == stage
	}
	var mu sync.Mutex
	rec := func(what string) {
		mu.Lock()
		defer mu.Unlock()
		if *record == "" {
			return
		}
		f, err := os.OpenFile(*record, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o666)
		if err == nil {
			fmt.Fprintf(f, "%s %d\n", what, os.Getpid())
			f.Close()
		}
	}
	var child *exec.Cmd
	d.PreDetach("listen", func(ctx context.Context, h *framework.Handoff) error {
		rec("pre-detach")
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		if *addrFile != "" {
			if err := os.WriteFile(*addrFile, []byte(ln.Addr().String()), 0o644); err != nil {
				return err
			}
		}
		return h.PassListener("pong", ln)
	})
	d.PostDetach("spawn-child", func(ctx context.Context) error {
		rec("post-detach")
		switch {
		case failIn("postdetach"):
			return fmt.Errorf("cannot open the store on purpose")
		case failIn("panic"):
			panic("store index corrupt on purpose")
		case failIn("exit"):
			fmt.Fprintln(os.Stderr, "fatal: giving up on purpose")
			os.Exit(3)
		case failIn("kill"):
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {}
		case failIn("hang"):
			select {} // ignores ctx: the ready timeout ends it
		}
		if *delay > 0 {
			time.Sleep(*delay)
		}
		if *childPIDFile == "" {
			return nil
		}
		child = exec.Command("sleep", "1000")
		if err := child.Start(); err != nil {
			return err
		}
		return os.WriteFile(*childPIDFile, []byte(strconv.Itoa(child.Process.Pid)), 0o644)
	})
	d.OnReady("ready", func(context.Context) error {
		rec("ready")
		if failIn("ready") {
			return fmt.Errorf("registry unreachable on purpose")
		}
		if *failReady {
			return fmt.Errorf("ready check failed on purpose")
		}
		return nil
	})
	d.OnReload("reload", func(context.Context) error {
		rec("reload")
		time.Sleep(*reloadFor)
		return nil
	})
	d.OnStop("stop-first-registered", func(context.Context) error { rec("stop-1"); return nil })
	d.OnStop("stop-child", func(context.Context) error {
		rec("stop-2")
		if child != nil {
			child.Process.Kill()
			child.Wait()
		}
		return nil
	})
	framework.Main(d, func(ctx context.Context) error {
		if *ignoreStop {
			select {}
		}
		ln, err := d.Listener("pong")
		if err != nil {
			return err
		}
		go func() { <-ctx.Done(); ln.Close() }()
		for {
			c, err := ln.Accept()
			if err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return err
			}
			fmt.Fprintln(c, "pong")
			c.Close()
		}
	})
}
