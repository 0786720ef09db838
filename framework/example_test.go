package framework_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/daemonkit/daemonkit/framework"
)

// A service checks its status through the verbs Main provides. Here the
// daemon was never started, so status reports it as not running (101).
func ExampleDaemon_Main() {
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	d := framework.New(framework.Config{Name: "hello", PIDFile: filepath.Join(dir, "hello.pid")})
	var out bytes.Buffer
	code := d.Main(context.Background(), []string{"status"}, &out, &out, func(ctx context.Context) error {
		<-ctx.Done()
		return nil
	})
	fmt.Print(strings.ReplaceAll(strings.TrimSpace(out.String()), dir, "DIR"), "; exit ", code)
	// Output: hello: DIR/hello.pid: not running; exit 101
}

// Under systemd, log lines on stderr carry their sd-daemon(3) priority so
// that the journal can filter them (journalctl -p warning).
func ExampleNewJournalHandler() {
	log := slog.New(framework.NewJournalHandler(os.Stdout, nil)).With("stage", "foreground")
	log.Info("listening", "addr", "127.0.0.1:8080")
	log.Warn("slow request", "path", "/")
	log.Error("reload failed", "err", "config: no such file")
	// Output:
	// <6>level=INFO msg=listening stage=foreground addr=127.0.0.1:8080
	// <4>level=WARN msg="slow request" stage=foreground path=/
	// <3>level=ERROR msg="reload failed" stage=foreground err="config: no such file"
}
