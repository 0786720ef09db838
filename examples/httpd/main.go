// Command httpd is a small HTTP server run by daemonkit. It shows what a
// real service needs from the framework:
//
//   - it binds its port in a PreDetach hook, as the invoking user, so that
//     port 80 works when started as root with --user nobody; under systemd
//     with a .socket unit it uses the socket systemd passes instead (same
//     name, "http", same code);
//   - it reads its config (a file of "key = value" lines; the key it knows
//     is greeting) as the daemon's user, and again on SIGHUP;
//   - it answers only once ready: the listener is served after READY, so
//     a request that arrives while the daemon starts waits in the backlog;
//   - on stop it drains: the listener closes (new connections are
//     refused), requests in flight finish, all within --stop-timeout;
//   - under systemd's watchdog (WatchdogSec=), a health check asks the
//     server's own /healthz before each ping.
//
// Endpoints: GET / answers the greeting, GET /healthz "ok" and the config
// generation, POST /echo writes "started", then echoes the request body as
// it arrives, then "done" (to watch a drain:
// `curl -sN -T - http://127.0.0.1:8080/echo`, type, stop the daemon, type
// more, ^D).
//
//	httpd start --pid-file /run/httpd.pid --log-file /var/log/httpd.log \
//	    --listen :80 --user nobody --config /etc/httpd.conf
//	httpd reload --pid-file /run/httpd.pid
//	httpd stop --pid-file /run/httpd.pid
//	httpd run --listen 127.0.0.1:8080     # foreground, or under systemd
//
// See examples/httpd/httpd.service and docs/systemd.md.
package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/daemonkit/daemonkit/framework"
)

// config is what the config file holds.
type config struct {
	Greeting string
}

func defaultConfig() config { return config{Greeting: "hello from daemonkit httpd"} }

// loadConfig reads "key = value" lines; # starts a comment. An empty path
// gives the defaults.
func loadConfig(path string) (config, error) {
	c := defaultConfig()
	if path == "" {
		return c, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return c, fmt.Errorf("config: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return c, fmt.Errorf("config %s:%d: want key = value, got %q", path, n, line)
		}
		switch k, v = strings.TrimSpace(k), strings.TrimSpace(v); k {
		case "greeting":
			c.Greeting = v
		default:
			return c, fmt.Errorf("config %s:%d: unknown key %q (known: greeting)", path, n, k)
		}
	}
	if err := sc.Err(); err != nil {
		return c, fmt.Errorf("config %s: %w", path, err)
	}
	return c, nil
}

// server holds the current config and the HTTP server.
type server struct {
	mu     sync.Mutex
	cfg    config
	gen    int
	srv    *http.Server
	ln     net.Listener
	served chan struct{} // closed when srv.Serve has returned
	addr   net.Addr
	busy   map[net.Conn]bool // connections that are new or serving a request
}

// track is the server's ConnState hook: it keeps the set of connections
// that have a request to answer (or may have: new ones).
func (s *server) track(c net.Conn, st http.ConnState) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.busy == nil {
		s.busy = make(map[net.Conn]bool)
	}
	if st == http.StateNew || st == http.StateActive {
		s.busy[c] = true
	} else {
		delete(s.busy, c)
	}
}

// drain stops accepting and lets every connection already accepted have
// its request answered before shutting the server down. http.Server's
// Shutdown alone is not enough while the listening socket lives on (in
// the next generation of an upgrade, or a service manager's socket): a
// connection it accepted but whose request it had not read yet would be
// closed unanswered. So: close the listener, wait for Serve to return
// (every accepted connection is then tracked), wait for the busy ones,
// then Shutdown, which closes the idle keep-alive ones (clients retry a
// request on a reused connection that was closed).
func (s *server) drain(ctx context.Context) error {
	s.mu.Lock()
	srv, ln, served := s.srv, s.ln, s.served
	s.mu.Unlock()
	if srv == nil {
		return nil
	}
	ln.Close()
	select {
	case <-served:
	case <-ctx.Done():
	}
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for s.busyCount() > 0 && ctx.Err() == nil {
		select {
		case <-tick.C:
		case <-ctx.Done():
		}
	}
	if err := srv.Shutdown(ctx); err != nil {
		srv.Close()
		return fmt.Errorf("draining: %w; cut the remaining connections", err)
	}
	return nil
}

func (s *server) busyCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.busy)
}

func (s *server) setConfig(c config) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cfg = c
	s.gen++
	return s.gen
}

func (s *server) config() (config, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cfg, s.gen
}

func (s *server) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		_, gen := s.config()
		fmt.Fprintf(w, "ok generation=%d\n", gen)
	})
	mux.HandleFunc("POST /echo", func(w http.ResponseWriter, r *http.Request) {
		// Full duplex: "started" goes out at once, then the body as it
		// arrives, then "done" at its end. A drain waits for it.
		rc := http.NewResponseController(w)
		rc.EnableFullDuplex()
		io.WriteString(w, "started\n")
		rc.Flush()
		buf := make([]byte, 4096)
		for {
			n, err := r.Body.Read(buf)
			if n > 0 {
				w.Write(buf[:n])
				rc.Flush()
			}
			if err == io.EOF {
				io.WriteString(w, "done\n")
				return
			}
			if err != nil {
				return
			}
		}
	})
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		c, _ := s.config()
		fmt.Fprintln(w, c.Greeting)
	})
	return mux
}

// check asks the server's own /healthz, for the watchdog.
func (s *server) check(ctx context.Context) error {
	s.mu.Lock()
	addr := s.addr
	s.mu.Unlock()
	if addr == nil {
		return errors.New("not serving")
	}
	host := addr.String()
	if ta, ok := addr.(*net.TCPAddr); ok && ta.IP.IsUnspecified() {
		loop := "127.0.0.1"
		if ta.IP.To4() == nil {
			loop = "::1"
		}
		host = net.JoinHostPort(loop, fmt.Sprint(ta.Port))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+host+"/healthz", nil)
	if err != nil {
		return err
	}
	// Never through a proxy from the environment; no idle connections.
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("GET /healthz: %w", err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET /healthz: %s", resp.Status)
	}
	return nil
}

func main() {
	d := framework.New(framework.Config{Name: "httpd"})
	listen := d.Flags().String("listen", ":8080", "TCP `address` to listen on, bound before detaching (ignored when systemd passes a socket named http)")
	configPath := new(string) // made absolute before the daemon changes directory
	d.PathVar(configPath, "config", "", "config `file` of key = value lines (greeting = ...), re-read on SIGHUP")
	s := &server{}

	d.PreDetach("listen", func(ctx context.Context, h *framework.Handoff) error {
		// Fail early, on the terminal, if the config is unusable.
		if _, err := loadConfig(*configPath); err != nil {
			return err
		}
		// The socket systemd passed (FileDescriptorName=http), or a new one.
		_, err := h.Listen("http", "tcp", *listen)
		return err
	})
	d.PostDetach("config", func(context.Context) error {
		c, err := loadConfig(*configPath)
		if err != nil {
			return err
		}
		s.setConfig(c)
		return nil
	})
	d.OnReload("config", func(context.Context) error {
		c, err := loadConfig(*configPath)
		if err != nil {
			return fmt.Errorf("%w (keeping the previous config)", err)
		}
		gen := s.setConfig(c)
		d.Logger().Info("config reloaded", "generation", gen)
		return nil
	})
	d.HealthCheck("http", s.check)
	d.OnStop("drain", func(ctx context.Context) error {
		d.Logger().Info("draining connections")
		return s.drain(ctx)
	})

	framework.Main(d, func(ctx context.Context) error {
		ln, err := d.Listener("http")
		if err != nil {
			return err
		}
		srv := &http.Server{Handler: s.handler(), ReadHeaderTimeout: 10 * time.Second, ConnState: s.track}
		served := make(chan struct{})
		s.mu.Lock()
		s.srv, s.ln, s.served, s.addr = srv, ln, served, ln.Addr()
		s.mu.Unlock()
		d.Logger().Info("listening", "addr", ln.Addr().String())
		errc := make(chan error, 1)
		go func() { defer close(served); errc <- srv.Serve(ln) }()
		select {
		case <-ctx.Done():
			return nil // the drain hook shuts the server down
		case err := <-errc:
			return fmt.Errorf("serving on %s: %w", ln.Addr(), err)
		}
	})
}
