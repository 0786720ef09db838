// Command upgradebench measures what a client of examples/httpd sees while
// the daemon is replaced: under a closed-loop loopback HTTP load, steady
// state, then repeated `httpd upgrade`, then repeated `httpd stop` +
// `httpd start` (what a restart does), side by side in one table:
// requests, failures, p50 and p99 latency, and for each replacement the
// time from the command to the daemon serving again.
//
//	upgradebench -httpd PATH [-rounds 10] [-phase 5s] [-workers 4]
//
// It starts and stops its own daemon in a temporary directory, on a free
// loopback port; nothing here asserts a timing.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	httpd := flag.String("httpd", "", "path of the examples/httpd binary")
	rounds := flag.Int("rounds", 10, "upgrades, then stop+start cycles")
	phase := flag.Duration("phase", 5*time.Second, "length of the steady-state phase")
	workers := flag.Int("workers", 4, "closed-loop clients (half keep-alive, half a connection per request)")
	flag.Parse()
	if *httpd == "" {
		fmt.Fprintln(os.Stderr, "upgradebench: -httpd is required")
		os.Exit(1)
	}
	if err := run(*httpd, *rounds, *phase, *workers); err != nil {
		fmt.Fprintln(os.Stderr, "upgradebench:", err)
		os.Exit(1)
	}
}

// daemon is the httpd under test.
type daemon struct {
	bin, pidFile, addr string
	args               []string
}

func (d *daemon) verb(verb string) error {
	args := append([]string{verb, "--pid-file", d.pidFile}, d.args...)
	if verb != "start" {
		args = []string{verb, "--pid-file", d.pidFile}
	}
	out, err := exec.Command(d.bin, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("httpd %s: %w: %s", verb, err, out)
	}
	return nil
}

func run(bin string, rounds int, phase time.Duration, workers int) error {
	dir, err := os.MkdirTemp("", "upgradebench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	addr, err := freeAddr()
	if err != nil {
		return err
	}
	d := &daemon{bin: bin, pidFile: filepath.Join(dir, "httpd.pid"), addr: addr,
		args: []string{"--log-file", filepath.Join(dir, "httpd.log"), "--listen", addr}}
	if err := d.verb("start"); err != nil {
		return err
	}
	defer d.verb("stop")

	steady := measure(addr, workers, func() ([]time.Duration, error) { time.Sleep(phase); return nil, nil })
	upgrades := measure(addr, workers, func() ([]time.Duration, error) {
		return replace(d, rounds, func() error { return d.verb("upgrade") })
	})
	restarts := measure(addr, workers, func() ([]time.Duration, error) {
		return replace(d, rounds, func() error {
			if err := d.verb("stop"); err != nil {
				return err
			}
			return d.verb("start")
		})
	})
	for _, p := range []*phaseResult{steady, upgrades, restarts} {
		if p.err != nil {
			return p.err
		}
	}
	fmt.Printf("Closed-loop load: %d clients on %s (half keep-alive, half a new connection per request); %d replacements per row.\n\n", workers, addr, rounds)
	fmt.Println("| phase | requests | failed | p50 | p99 | max | replacement → serving (median, max) |")
	fmt.Println("|---|---|---|---|---|---|---|")
	steady.row("steady state")
	upgrades.row("`httpd upgrade` ×" + fmt.Sprint(rounds))
	restarts.row("`httpd stop` + `httpd start` ×" + fmt.Sprint(rounds))
	return nil
}

// replace runs do rounds times, pausing between rounds, and returns how
// long each took until the daemon served a request again.
func replace(d *daemon, rounds int, do func() error) ([]time.Duration, error) {
	var gaps []time.Duration
	for range rounds {
		time.Sleep(200 * time.Millisecond)
		t0 := time.Now()
		if err := do(); err != nil {
			return gaps, err
		}
		if err := waitServing(d.addr); err != nil {
			return gaps, err
		}
		gaps = append(gaps, time.Since(t0))
	}
	time.Sleep(200 * time.Millisecond)
	return gaps, nil
}

func waitServing(addr string) error {
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: time.Second}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := c.Get("http://" + addr + "/healthz"); err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(time.Millisecond)
	}
	return errors.New("the daemon did not serve again within 30s")
}

type phaseResult struct {
	requests, failed int64
	lat              []time.Duration
	gaps             []time.Duration
	err              error
}

// measure runs the load while during runs, and returns what it saw.
func measure(addr string, workers int, during func() ([]time.Duration, error)) *phaseResult {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var requests, failed atomic.Int64
	lats := make([][]time.Duration, workers)
	for i := range workers {
		tr := &http.Transport{DisableKeepAlives: i%2 == 1}
		c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
		wg.Go(func() {
			defer tr.CloseIdleConnections()
			for ctx.Err() == nil {
				t0 := time.Now()
				requests.Add(1)
				resp, err := c.Get("http://" + addr + "/")
				if err == nil {
					_, err = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				if err != nil || resp.StatusCode != http.StatusOK {
					failed.Add(1)
					time.Sleep(time.Millisecond) // a refused connection fails at once
					continue
				}
				lats[i] = append(lats[i], time.Since(t0))
			}
		})
	}
	gaps, err := during()
	cancel()
	wg.Wait()
	return &phaseResult{requests: requests.Load(), failed: failed.Load(), lat: slices.Concat(lats...), gaps: gaps, err: err}
}

func (p *phaseResult) row(name string) {
	slices.Sort(p.lat)
	slices.Sort(p.gaps)
	gap := "—"
	if len(p.gaps) > 0 {
		gap = fmt.Sprintf("%s, %s", ms(pct(p.gaps, 50)), ms(p.gaps[len(p.gaps)-1]))
	}
	fmt.Printf("| %s | %d | %d | %s | %s | %s | %s |\n", name, p.requests, p.failed,
		ms(pct(p.lat, 50)), ms(pct(p.lat, 99)), ms(pct(p.lat, 100)), gap)
}

func pct(v []time.Duration, p int) time.Duration {
	if len(v) == 0 {
		return 0
	}
	i := (len(v)*p + 99) / 100
	return v[max(0, min(i, len(v))-1)]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond)) }

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}
