// Command failing is a daemonkit service that fails on purpose in a chosen
// stage, to show (and test) how each failure is reported:
//
//	failing start --pid-file F --fail-in predetach|postdetach|ready|panic|exit|kill|hang|stop|reload|body
//
//	predetach   a PreDetach hook returns an error (in the launcher)
//	postdetach  a PostDetach hook returns an error (in the daemon)
//	ready       an OnReady hook returns an error
//	panic       a PostDetach hook panics
//	crash       a goroutine panics outside any hook (the runtime's own crash)
//	exit        a PostDetach hook calls os.Exit(3)
//	kill        the daemon kills itself with SIGKILL in a PostDetach hook
//	hang        a PostDetach hook never returns (the ready timeout fires)
//	stop        starts fine; an OnStop hook fails when it is stopped
//	ignoreterm  starts fine; ignores SIGTERM (the body never returns)
//	reload      starts fine; an OnReload hook fails on every reload
//	body        starts fine; the body returns an error right after READY
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"

	"github.com/daemonkit/daemonkit/framework"
)

func main() {
	d := framework.New(framework.Config{Name: "failing"})
	failIn := d.Flags().String("fail-in", "", "the stage to fail in (see the package doc)")
	d.PreDetach("check-config", func(context.Context, *framework.Handoff) error {
		if *failIn == "predetach" {
			return errors.New("config invalid: port missing")
		}
		return nil
	})
	d.PostDetach("open-store", func(ctx context.Context) error {
		switch *failIn {
		case "postdetach":
			return errors.New("cannot open store: permission denied")
		case "panic":
			panic("store index corrupt")
		case "crash":
			done := make(chan struct{})
			go func() { defer close(done); panic("crash outside any hook") }()
			<-done
		case "exit":
			fmt.Fprintln(os.Stderr, "fatal: giving up")
			os.Exit(3)
		case "kill":
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {}
		case "hang":
			select {} // ignores ctx on purpose
		}
		return nil
	})
	d.OnReady("announce", func(context.Context) error {
		if *failIn == "ready" {
			return errors.New("announce: registry unreachable")
		}
		return nil
	})
	d.OnReload("reread-config", func(context.Context) error {
		if *failIn == "reload" {
			return errors.New("config line 3: unknown key \"colour\"")
		}
		return nil
	})
	d.OnStop("flush", func(context.Context) error {
		if *failIn == "stop" {
			return errors.New("flush: disk full")
		}
		return nil
	})
	framework.Main(d, func(ctx context.Context) error {
		switch *failIn {
		case "ignoreterm":
			select {}
		case "body":
			return errors.New("upstream connection lost")
		}
		<-ctx.Done()
		return nil
	})
}
