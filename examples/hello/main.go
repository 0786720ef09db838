// Command hello is the smallest daemonkit service: once started it logs a
// line every second to its log file, and stops cleanly on SIGTERM.
//
//	hello start --pid-file /tmp/hello.pid --log-file /tmp/hello.log
//	hello status --pid-file /tmp/hello.pid
//	hello stop --pid-file /tmp/hello.pid
package main

import (
	"context"
	"time"

	"github.com/daemonkit/daemonkit/framework"
)

func main() {
	d := framework.New(framework.Config{Name: "hello"})
	interval := d.Flags().Duration("interval", time.Second, "how often to log a line")
	d.OnStop("goodbye", func(context.Context) error {
		d.Logger().Info("goodbye")
		return nil
	})
	framework.Main(d, func(ctx context.Context) error {
		tick := time.NewTicker(*interval)
		defer tick.Stop()
		for n := 1; ; n++ {
			select {
			case <-ctx.Done():
				return nil
			case <-tick.C:
				d.Logger().Info("hello", "n", n)
			}
		}
	})
}
