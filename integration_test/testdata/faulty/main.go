// Command faulty is a framework daemon for the fault-matrix tests. Build it
// with -tags daemonkit_faults, so that the framework's own fault points
// (DAEMONKIT_FAULT, see framework/faults.go) work too. Its hooks fail on
// demand:
//
//	FAULTY="STAGE=ACTION[,STAGE=ACTION...]"  FAULTY_DIR=/dir
//
// STAGE is one of before-lock (in main, in the launcher, before the
// framework runs), predetach, postdetach, ready (OnReady), running (the
// body, when it gets SIGUSR1; it creates FAULTY_DIR/running.armed once
// it handles SIGUSR1) and stop (OnStop). ACTION is one of error,
// panic, exit:N, kill (SIGKILL of this process) or pause: write
// "PID PPID\n" into FAULTY_DIR/STAGE.paused, then wait until
// FAULTY_DIR/release exists (at most a minute).
//
//	faulty start --pid-file F [framework flags]
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/daemonkit/daemonkit/framework"
)

func main() {
	// A goroutine asleep on a timer keeps the runtime from declaring a
	// deadlock when a framework fault point hangs.
	go func() {
		for {
			time.Sleep(time.Hour)
		}
	}()
	if os.Getenv("DAEMONKIT_STAGE") == "" {
		if err := inject(context.Background(), "before-lock"); err != nil {
			fmt.Fprintln(os.Stderr, "faulty:", err)
			os.Exit(1)
		}
	}
	d := framework.New(framework.Config{Name: "faulty"})
	d.PreDetach("faulty", func(ctx context.Context, _ *framework.Handoff) error { return inject(ctx, "predetach") })
	d.PostDetach("faulty", func(ctx context.Context) error { return inject(ctx, "postdetach") })
	d.OnReady("faulty", func(ctx context.Context) error { return inject(ctx, "ready") })
	d.OnStop("faulty", func(ctx context.Context) error { return inject(ctx, "stop") })
	framework.Main(d, func(ctx context.Context) error {
		usr1 := make(chan os.Signal, 1)
		signal.Notify(usr1, syscall.SIGUSR1)
		defer signal.Stop(usr1)
		if dir := os.Getenv("FAULTY_DIR"); dir != "" {
			// Tell the test that SIGUSR1 is now handled.
			os.WriteFile(filepath.Join(dir, "running.armed"), []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-usr1:
			return inject(ctx, "running")
		}
	})
}

// inject does what FAULTY asks for at stage.
func inject(ctx context.Context, stage string) error {
	for _, spec := range strings.Split(os.Getenv("FAULTY"), ",") {
		s, action, ok := strings.Cut(spec, "=")
		if !ok || s != stage {
			continue
		}
		switch {
		case action == "error":
			return errors.New("injected error in " + stage)
		case action == "panic":
			panic("injected panic in " + stage)
		case strings.HasPrefix(action, "exit:"):
			n, _ := strconv.Atoi(strings.TrimPrefix(action, "exit:"))
			fmt.Fprintf(os.Stderr, "faulty: exiting with %d in %s\n", n, stage)
			os.Exit(n)
		case action == "kill":
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {}
		case action == "pause":
			return pause(ctx, stage)
		default:
			return fmt.Errorf("FAULTY: unknown action %q", action)
		}
	}
	return nil
}

// pause announces that this process reached stage and waits for the
// release file.
func pause(ctx context.Context, stage string) error {
	dir := os.Getenv("FAULTY_DIR")
	if dir == "" {
		return errors.New("FAULTY_DIR is not set")
	}
	msg := fmt.Sprintf("%d %d\n", os.Getpid(), os.Getppid())
	if err := os.WriteFile(filepath.Join(dir, stage+".paused"), []byte(msg), 0o644); err != nil {
		return err
	}
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		if _, err := os.Stat(filepath.Join(dir, "release")); err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-time.After(5 * time.Millisecond):
		}
	}
	return errors.New("paused for a minute without release")
}
