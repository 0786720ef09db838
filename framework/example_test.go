package framework_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"

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

// A whole service: an HTTP server that binds its port before detaching (so
// that port 80 works when started as root with --user nobody, and a
// systemd .socket unit can pass the socket instead), reads its greeting as
// the daemon's user and again on SIGHUP, and drains on stop. Build it and
// run "svc start --pid-file /run/svc.pid --log-file /var/log/svc.log",
// "svc reload ...", "svc stop ...", or "svc run" in the foreground.
func Example_service() {
	d := framework.New(framework.Config{Name: "svc"})
	log := d.Logger() // may be taken at once: each line carries the stage it comes from
	addr := d.Flags().String("listen", ":8080", "TCP `address` to listen on")
	greetingFile := d.Flags().String("greeting", "", "`file` holding the greeting, re-read on SIGHUP")
	var greeting atomic.Value
	load := func(context.Context) error {
		if *greetingFile == "" {
			greeting.Store("hello")
			return nil
		}
		b, err := os.ReadFile(*greetingFile)
		if err != nil {
			return fmt.Errorf("greeting: %w (keeping the previous one)", err)
		}
		greeting.Store(strings.TrimSpace(string(b)))
		return nil
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, greeting.Load())
	})}

	// In the launcher, as the invoking user, on the terminal: a failure
	// here is printed there and nothing is left running.
	d.PreDetach("listen", func(ctx context.Context, h *framework.Handoff) error {
		a, err := h.Listen("http", "tcp", *addr) // or the socket systemd passed as "http"
		if err == nil {
			log.Info("listening", "addr", a.String())
		}
		return err
	})
	// In the daemon, as its user, before READY.
	d.PostDetach("greeting", load)
	d.OnReady("announce", func(context.Context) error {
		log.Info("ready")
		return nil
	})
	// On SIGHUP; a failure is logged and the daemon keeps running.
	d.OnReload("greeting", load)
	// On stop, after the body returned, in reverse order of registration.
	d.OnStop("drain", func(ctx context.Context) error {
		return srv.Shutdown(ctx) // bounded by --stop-timeout
	})

	// Main parses the command line (the verb, the standard flags and
	// those added above) and runs the verb; the body runs in the daemon.
	framework.Main(d, func(ctx context.Context) error {
		ln, err := d.Listener("http")
		if err != nil {
			return err
		}
		errc := make(chan error, 1)
		go func() { errc <- srv.Serve(ln) }()
		select {
		case <-ctx.Done(): // SIGTERM or SIGINT; the drain hook shuts down
			return nil
		case err := <-errc:
			if errors.Is(err, http.ErrServerClosed) {
				return nil
			}
			return err
		}
	})
}

// A service that may run as PID 1 of a container reaps orphaned processes
// there by itself; elsewhere Config.Reaper (or --reaper) asks for it. The
// children it starts stay its own, so their exit statuses are its to wait
// for. (Not run: it starts processes.)
func ExampleConfig_reaper() {
	d := framework.New(framework.Config{Name: "worker", Reaper: true})
	framework.Main(d, func(ctx context.Context) error {
		err := exec.CommandContext(ctx, "sh", "-c", "exit 3").Run()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			d.Logger().Info("child exited", "status", ee.ExitCode()) // 3, never stolen by the reaper
		}
		<-ctx.Done()
		return nil
	})
}
