// Command driver measures daemon starters side by side: for each row it runs
// one start → ready → stop cycle again and again and prints a Markdown table
// of medians and ratios. bench/run.sh builds everything and runs it; see
// docs/performance.md.
//
// Per iteration it records, with monotonic timestamps taken by the driver:
//   - start→ret: the start command returned (from its fork);
//   - ready: the daemon is ready, as the driver sees it (from the same fork):
//     for rows whose start command returns only once the daemon is ready,
//     when it returned and the PID file named a live process; for the others,
//     when READY=1 arrived on the driver's own NOTIFY_SOCKET and the PID file
//     named a live process (PID file changes are watched with inotify, so no
//     polling granularity is added);
//   - stop→ret: the stop command returned (from its fork), or the signal was
//     sent, for rows without one;
//   - stop→gone: the daemon exited, as seen by poll(2) on a pidfd (from the
//     same fork).
//
// The driver is a child subreaper and reaps every daemon as soon as its pidfd
// says it has exited, so stop commands that check a PID for life do not see
// a zombie.
//
// Usage:
//
//	driver -bin DIR [-static-bin DIR] [-n 50] [-warmup 3] [-rows floor,hello,...]
//	       [-dir DIR] [-label TEXT] [-raw FILE] [-timeout 8s]
//
// DIR holds the binaries floor, tinyd, and when they exist hello and
// daemonctl; -static-bin holds hello and daemonctl built with
// CGO_ENABLED=0; start-stop-daemon and daemonize are taken from PATH. Rows
// whose programs are missing are listed as skipped. A row is abandoned
// after three failed iterations, or at once when one times out.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// row is one way of starting and stopping the benchmark daemon.
type row struct {
	key  string // short name, for -rows
	name string // what the table shows
	// start and stop are argv templates: {bin}/ is replaced by the binary
	// directory, {pidfile} by the row's PID file. A nil stop means SIGTERM
	// sent by the driver through the daemon's pidfd.
	start, stop []string
	// gated rows' start commands return only once the daemon is ready.
	gated bool
	// notify: the daemon's READY=1 reaches the driver's NOTIFY_SOCKET (only
	// for starters that do not consume it themselves).
	notify bool
	// processOnly rows start no daemon: they measure what running the
	// start command costs (start→ret only). okCodes are the exit statuses
	// that count as success besides 0.
	processOnly bool
	okCodes     []int
}

// Row keys that the ratios refer to.
const (
	keyFloor     = "floor"
	keyHello     = "hello"
	keyCtlHello  = "daemonctl-hello"
	keyCtlNotify = "daemonctl-bg-notify"
	// Static (CGO_ENABLED=0) builds of the same programs.
	keyHelloStatic     = "hello-static"
	keyCtlNotifyStatic = "daemonctl-bg-notify-static"
	keyCtlBg           = "daemonctl-bg"
	keyCtlFD           = "daemonctl-bg-readyfd"
	keySSDNotify       = "ssd-notify"
	keySSD             = "ssd"
	keyDaemonize       = "daemonize"
)

func rows() []row {
	ctlStop := []string{"{bin}/daemonctl", "stop", "--pid-file", "{pidfile}"}
	ssdStop := []string{"start-stop-daemon", "--stop", "--retry", "TERM/5", "--pidfile", "{pidfile}"}
	ssdStart := []string{"start-stop-daemon", "--start", "--background", "--make-pidfile", "--pidfile", "{pidfile}", "--exec", "{bin}/tinyd"}
	return []row{
		{key: keyFloor, name: "floor (C: fork/setsid/exec, ready pipe; stop: pidfd)", gated: true,
			start: []string{"{bin}/floor", "{pidfile}", "{bin}/tinyd", "-ready-fd", "3"},
			stop:  []string{"{bin}/floor", "-s", "{pidfile}"}},
		{key: keyHello, name: "hello start / hello stop", gated: true,
			start: []string{"{bin}/hello", "start", "--pid-file", "{pidfile}"},
			stop:  []string{"{bin}/hello", "stop", "--pid-file", "{pidfile}"}},
		{key: keyCtlHello, name: "daemonctl start -- hello start", gated: true,
			start: []string{"{bin}/daemonctl", "start", "--pid-file", "{pidfile}", "--", "{bin}/hello", "start", "--pid-file", "{pidfile}"},
			stop:  ctlStop},
		{key: keyHelloStatic, name: "hello start / hello stop, static²", gated: true,
			start: []string{"{sbin}/hello", "start", "--pid-file", "{pidfile}"},
			stop:  []string{"{sbin}/hello", "stop", "--pid-file", "{pidfile}"}},
		{key: keyCtlNotify, name: "daemonctl start --background --notify", gated: true,
			start: []string{"{bin}/daemonctl", "start", "--pid-file", "{pidfile}", "--background", "--notify", "--", "{bin}/tinyd"},
			stop:  ctlStop},
		{key: keyCtlNotifyStatic, name: "daemonctl start --background --notify, static²", gated: true,
			start: []string{"{sbin}/daemonctl", "start", "--pid-file", "{pidfile}", "--background", "--notify", "--", "{bin}/tinyd"},
			stop:  []string{"{sbin}/daemonctl", "stop", "--pid-file", "{pidfile}"}},
		{key: keyCtlFD, name: "daemonctl start --background --ready-fd 4", gated: true,
			start: []string{"{bin}/daemonctl", "start", "--pid-file", "{pidfile}", "--background", "--ready-fd", "4", "--", "{bin}/tinyd", "-ready-fd", "4"},
			stop:  ctlStop},
		{key: keyCtlBg, name: "daemonctl start --background (ready = exec done)¹", gated: true,
			start: []string{"{bin}/daemonctl", "start", "--pid-file", "{pidfile}", "--background", "--", "{bin}/tinyd"},
			stop:  ctlStop},
		{key: keySSDNotify, name: "start-stop-daemon --notify-await", gated: true,
			start: insert(ssdStart, 3, "--notify-await"), stop: ssdStop},
		{key: keySSD, name: "start-stop-daemon --background", notify: true,
			start: ssdStart, stop: ssdStop},
		{key: keyDaemonize, name: "daemonize -p (stop: kill)", notify: true,
			start: []string{"daemonize", "-p", "{pidfile}", "{bin}/tinyd"}},
		// What the processes themselves cost: fork, exec, run, exit.
		{key: "true", name: "process cost: /bin/true (C)", processOnly: true,
			start: []string{"true"}},
		{key: "tinyd-exit", name: "process cost: tinyd -exit (Go)", processOnly: true,
			start: []string{"{bin}/tinyd", "-exit"}},
		{key: "daemonctl-status", name: "process cost: daemonctl status (not running)", processOnly: true,
			start: []string{"{bin}/daemonctl", "status", "--pid-file", "{pidfile}"}, okCodes: []int{101}},
		{key: "hello-status", name: "process cost: hello status (not running)", processOnly: true,
			start: []string{"{bin}/hello", "status", "--pid-file", "{pidfile}"}, okCodes: []int{101}},
		{key: "daemonctl-status-static", name: "process cost: daemonctl status, static²", processOnly: true,
			start: []string{"{sbin}/daemonctl", "status", "--pid-file", "{pidfile}"}, okCodes: []int{101}},
		{key: "hello-status-static", name: "process cost: hello status, static²", processOnly: true,
			start: []string{"{sbin}/hello", "status", "--pid-file", "{pidfile}"}, okCodes: []int{101}},
	}
}

func insert(s []string, i int, v string) []string {
	out := append([]string{}, s[:i]...)
	out = append(out, v)
	return append(out, s[i:]...)
}

// expand fills in an argv template and resolves its program to a path.
// {bin} is the binary directory, {sbin} the one of static builds (rows
// using it are skipped when there is none), {pidfile} the PID file.
func expand(tmpl []string, bin, sbin, pidfile string) ([]string, error) {
	if tmpl == nil {
		return nil, nil
	}
	argv := make([]string, len(tmpl))
	for i, a := range tmpl {
		if sbin == "" && strings.Contains(a, "{sbin}") {
			return nil, errors.New("no static builds given (-static-bin)")
		}
		a = strings.ReplaceAll(a, "{bin}", bin)
		a = strings.ReplaceAll(a, "{sbin}", sbin)
		argv[i] = strings.ReplaceAll(a, "{pidfile}", pidfile)
	}
	p, err := exec.LookPath(argv[0])
	if err != nil {
		return nil, fmt.Errorf("%s is not built or installed", filepath.Base(argv[0]))
	}
	argv[0] = p
	return argv, nil
}

type options struct {
	bin     string
	sbin    string
	dir     string
	n       int
	warmup  int
	settle  time.Duration
	rows    []string
	label   string
	raw     string
	timeout time.Duration
}

func main() {
	var o options
	var rowList string
	flag.StringVar(&o.bin, "bin", "", "directory holding floor, tinyd, hello and daemonctl (required)")
	flag.StringVar(&o.sbin, "static-bin", "", "directory holding static (CGO_ENABLED=0) builds of hello and daemonctl, for the rows marked static")
	flag.StringVar(&o.dir, "dir", "", "directory for the rows' PID files and sockets (default: $TMPDIR or /tmp)")
	flag.IntVar(&o.n, "n", 50, "measured iterations per row")
	flag.IntVar(&o.warmup, "warmup", 3, "unmeasured iterations per row first")
	flag.DurationVar(&o.settle, "settle", 5*time.Millisecond, "pause between ready and stop (not measured)")
	flag.StringVar(&rowList, "rows", "", "comma-separated row keys to run (default all)")
	flag.StringVar(&o.label, "label", "", "text printed above the table (e.g. the RLIMIT_NOFILE)")
	flag.StringVar(&o.raw, "raw", "", "also write every sample to this CSV file")
	flag.DurationVar(&o.timeout, "timeout", 8*time.Second, "limit of each phase of one iteration (start→ready, stop→gone)")
	flag.Parse()
	if o.bin == "" || o.n < 1 || flag.NArg() > 0 {
		flag.Usage()
		os.Exit(1)
	}
	if rowList != "" {
		o.rows = strings.Split(rowList, ",")
	}
	abs, err := filepath.Abs(o.bin)
	if err != nil {
		fmt.Fprintln(os.Stderr, "driver:", err)
		os.Exit(1)
	}
	o.bin = abs
	if o.sbin != "" {
		if o.sbin, err = filepath.Abs(o.sbin); err != nil {
			fmt.Fprintln(os.Stderr, "driver:", err)
			os.Exit(1)
		}
	}
	if err := run(o, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "driver:", err)
		os.Exit(1)
	}
}

// selected returns the rows chosen by -rows, in table order.
func selected(o options) ([]row, error) {
	all := rows()
	if len(o.rows) == 0 {
		return all, nil
	}
	want := map[string]bool{}
	for _, k := range o.rows {
		want[strings.TrimSpace(k)] = true
	}
	var out []row
	for _, r := range all {
		if want[r.key] {
			out = append(out, r)
			delete(want, r.key)
		}
	}
	for k := range want {
		return nil, fmt.Errorf("unknown row %q (known: %s)", k, keys(all))
	}
	return out, nil
}

func keys(rs []row) string {
	var ks []string
	for _, r := range rs {
		ks = append(ks, r.key)
	}
	return strings.Join(ks, ",")
}

// writeRaw writes every sample as CSV, durations in microseconds.
func writeRaw(w io.Writer, results []*result) {
	fmt.Fprintln(w, "row,iteration,start_ret_us,ready_us,stop_ret_us,gone_us,rss_kib")
	for _, r := range results {
		for i, s := range r.samples {
			fmt.Fprintf(w, "%s,%d,%d,%d,%d,%d,%d\n", r.row.key, i,
				s.startRet.Microseconds(), s.ready.Microseconds(),
				s.stopRet.Microseconds(), s.gone.Microseconds(), s.rssKiB)
		}
	}
}
