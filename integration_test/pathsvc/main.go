// Command pathsvc is a daemonkit service for the path-flag test: it
// declares --config with Daemon.PathVar and, in the daemon stage, copies
// the file it names into --copy-to.
package main

import (
	"context"
	"os"

	"github.com/daemonkit/daemonkit/framework"
)

func main() {
	d := framework.New(framework.Config{Name: "pathsvc"})
	var config, copyTo string
	d.PathVar(&config, "config", "default.conf", "the configuration file")
	d.PathVar(&copyTo, "copy-to", "", "where the daemon copies the configuration")
	d.PostDetach("read-config", func(context.Context) error {
		b, err := os.ReadFile(config)
		if err != nil {
			return err
		}
		return os.WriteFile(copyTo, append([]byte(config+"\n"), b...), 0o644)
	})
	os.Exit(d.Main(context.Background(), os.Args[1:], os.Stdout, os.Stderr, func(ctx context.Context) error {
		<-ctx.Done()
		return nil
	}))
}
