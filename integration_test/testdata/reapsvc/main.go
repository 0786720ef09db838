// Command reapsvc is a test service for reaping (framework.Config.Reaper,
// and PID 1): it runs child programs of its own with os/exec and checks
// each one's exit status, while orphans are reaped around it.
//
// Flags: --report FILE (lines "ready", "children N/M ok" or the first
// wrong status, "spawn: …", "reloaded", "stopped"), --children N (run `sh -c "exit
// $((i%256))"` N times, four at a time, and check every status),
// --spawn SCRIPT (run `sh -c SCRIPT` once ready; it must exit 0),
// --exit N (exit with status N at once once ready, skipping the stop).
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/daemonkit/daemonkit/framework"
)

func main() {
	d := framework.New(framework.Config{Name: "reapsvc"})
	report := d.Flags().String("report", "", "append progress lines to this file")
	children := d.Flags().Int("children", 0, "run this many children and check their exit statuses")
	spawn := d.Flags().String("spawn", "", "run sh -c SCRIPT once ready")
	exitCode := d.Flags().Int("exit", -1, "exit with this status once ready")
	var mu sync.Mutex
	say := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		f, err := os.OpenFile(*report, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
		if err == nil {
			fmt.Fprintf(f, format+"\n", args...)
			f.Close()
		}
	}
	d.OnReady("report", func(context.Context) error { say("ready"); return nil })
	d.OnReload("report", func(context.Context) error { say("reloaded"); return nil })
	d.OnStop("report", func(context.Context) error { say("stopped"); return nil })
	framework.Main(d, func(ctx context.Context) error {
		if *exitCode >= 0 {
			os.Exit(*exitCode)
		}
		if *spawn != "" {
			out, err := exec.Command("sh", "-c", *spawn).CombinedOutput()
			say("spawn: %v %q", err, out)
		}
		if *children > 0 {
			say("%s", runChildren(*children))
		}
		<-ctx.Done()
		return nil
	})
}

// runChildren runs n children, four at a time, child i exiting with i%256,
// and says whether every exit status came back right.
func runChildren(n int) string {
	var next, ok atomic.Int64
	var mu sync.Mutex
	var wrong []string
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1)) - 1; i < n; i = int(next.Add(1)) - 1 {
				want := i % 256
				err := exec.Command("sh", "-c", "exit "+strconv.Itoa(want)).Run()
				got := 0
				var ee *exec.ExitError
				if errors.As(err, &ee) {
					got = ee.ExitCode()
				} else if err != nil {
					got = -1
				}
				if got == want {
					ok.Add(1)
					continue
				}
				mu.Lock()
				wrong = append(wrong, fmt.Sprintf("child %d: %v, want exit status %d", i, err, want))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(wrong) > 0 {
		return fmt.Sprintf("children %d/%d ok; first wrong: %s", ok.Load(), n, wrong[0])
	}
	return fmt.Sprintf("children %d/%d ok", ok.Load(), n)
}
