//go:build linux

package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/daemonkit/daemonkit/internal/pidfile"
)

// errTimeout: an iteration waited longer than -timeout.
var errTimeout = errors.New("timed out")

// maxErrors abandons a row after this many failed iterations.
const maxErrors = 3

// rowState is what one row keeps across iterations: its directory, its
// NOTIFY_SOCKET and an inotify watch on the directory.
type rowState struct {
	res      *result
	start    []string
	stop     []string
	dir      string
	pidfile  string
	notify   int // bound unixgram socket, nonblocking; -1 if unused
	sockPath string
	inotify  int
}

func run(o options, out io.Writer) error {
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("becoming a child subreaper: %w", err)
	}
	rs, err := selected(o)
	if err != nil {
		return err
	}
	results, where, err := measure(o, rs)
	if err != nil {
		return err
	}
	// Everything is stopped and removed before anything is printed, so a
	// closed stdout cannot leave daemons or files behind.
	if o.label != "" {
		fmt.Fprintf(out, "%s\n\n", o.label)
	}
	fmt.Fprintf(out, "%d iterations per row after %d warm-up, rows interleaved; medians. PID files in %s.\n\n",
		o.n, o.warmup, where)
	writeTable(out, results)
	if o.raw != "" {
		f, err := os.Create(o.raw)
		if err != nil {
			return err
		}
		writeRaw(f, results)
		if err := f.Close(); err != nil {
			return err
		}
	}
	return nil
}

// measure runs the iterations of rs, interleaved, in a temporary directory
// it removes afterwards. SIGINT, SIGTERM or SIGHUP end it after the current
// iteration (whose processes are stopped or killed as usual). It returns
// the results and where the PID files were.
func measure(o options, rs []row) ([]*result, string, error) {
	work, err := os.MkdirTemp(o.dir, "daemonkit-bench-")
	if err != nil {
		return nil, "", err
	}
	defer os.RemoveAll(work)
	if err := os.Chmod(work, 0o755); err != nil {
		return nil, "", err
	}
	where := filepath.Dir(work) + " (" + fsType(work) + ")"

	interrupt := make(chan os.Signal, 1)
	signal.Notify(interrupt, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(interrupt)

	var states []*rowState
	var results []*result
	for _, r := range rs {
		res := &result{row: r}
		results = append(results, res)
		st, err := newRowState(res, o.bin, o.sbin, filepath.Join(work, r.key))
		if err != nil {
			res.skipped = err.Error()
			continue
		}
		defer st.close()
		states = append(states, st)
	}

	for i := range o.warmup + o.n {
		for _, st := range states {
			select {
			case sig := <-interrupt:
				fmt.Fprintf(os.Stderr, "driver: %v: stopping after %d iterations\n", sig, i)
				return results, where, nil
			default:
			}
			if st.res.errs >= maxErrors {
				continue
			}
			s, err := st.iterate(o.settle, o.timeout)
			if err != nil {
				st.res.errs++
				st.res.failed = err
				if errors.Is(err, errTimeout) {
					st.res.errs = maxErrors // a hung row would only cost time
				}
				fmt.Fprintf(os.Stderr, "driver: %s: iteration %d: %v\n", st.res.row.key, i, err)
				continue
			}
			if i >= o.warmup {
				st.res.samples = append(st.res.samples, s)
			}
		}
	}
	return results, where, nil
}

func newRowState(res *result, bin, sbin, dir string) (*rowState, error) {
	st := &rowState{res: res, dir: dir, pidfile: filepath.Join(dir, "d.pid"), notify: -1, inotify: -1}
	var err error
	if st.start, err = expand(res.row.start, bin, sbin, st.pidfile); err != nil {
		return nil, err
	}
	if st.stop, err = expand(res.row.stop, bin, sbin, st.pidfile); err != nil {
		return nil, err
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		return nil, err
	}
	st.inotify, err = unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("inotify: %w", err)
	}
	if _, err := unix.InotifyAddWatch(st.inotify, dir,
		unix.IN_CREATE|unix.IN_MODIFY|unix.IN_CLOSE_WRITE|unix.IN_MOVED_TO); err != nil {
		st.close()
		return nil, fmt.Errorf("inotify watch on %s: %w", dir, err)
	}
	if res.row.notify {
		st.sockPath = filepath.Join(dir, "notify.sock")
		st.notify, err = unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
		if err != nil {
			st.close()
			return nil, fmt.Errorf("notify socket: %w", err)
		}
		if err := unix.Bind(st.notify, &unix.SockaddrUnix{Name: st.sockPath}); err != nil {
			st.close()
			return nil, fmt.Errorf("bind %s: %w", st.sockPath, err)
		}
	}
	return st, nil
}

func (st *rowState) close() {
	if st.inotify >= 0 {
		unix.Close(st.inotify)
		st.inotify = -1
	}
	if st.notify >= 0 {
		unix.Close(st.notify)
		st.notify = -1
	}
}

// env is the driver's environment without anything that would change how a
// daemon starts, plus NOTIFY_SOCKET for rows that report to the driver.
func (st *rowState) env() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "NOTIFY_SOCKET", "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES", "WATCHDOG_USEC", "WATCHDOG_PID":
			continue
		}
		if strings.HasPrefix(k, "DAEMONKIT") {
			continue
		}
		env = append(env, kv)
	}
	if st.notify >= 0 {
		env = append(env, "NOTIFY_SOCKET="+st.sockPath)
	}
	return env
}

// proc is a process the driver started, with its pidfd and output file.
type proc struct {
	pid, pidfd int
	out        string
}

// spawn starts argv with stdin from /dev/null and stdout and stderr into
// outPath, and returns its pidfd.
func spawn(argv, env []string, outPath string) (*proc, error) {
	null, err := os.Open(os.DevNull)
	if err != nil {
		return nil, err
	}
	defer null.Close()
	out, err := os.Create(outPath)
	if err != nil {
		return nil, err
	}
	defer out.Close()
	pidfd := -1
	attr := &syscall.ProcAttr{
		Env:   env,
		Files: []uintptr{null.Fd(), out.Fd(), out.Fd()},
		// Its own process group, so that a failed iteration can kill
		// whatever it started (daemons leave it with setsid).
		Sys: &syscall.SysProcAttr{PidFD: &pidfd, Setpgid: true},
	}
	pid, err := syscall.ForkExec(argv[0], argv, attr)
	if err != nil {
		return nil, fmt.Errorf("starting %s: %w", strings.Join(argv, " "), err)
	}
	return &proc{pid: pid, pidfd: pidfd, out: outPath}, nil
}

// success reports whether a start command's exit status is a success.
func (r row) success(ws unix.WaitStatus) bool {
	if ws.Exited() && ws.ExitStatus() == 0 {
		return true
	}
	for _, c := range r.okCodes {
		if ws.Exited() && ws.ExitStatus() == c {
			return true
		}
	}
	return false
}

// reap collects p's exit status and closes its pidfd. It is called once
// the pidfd is readable (p has exited), so it does not block; the unreaped
// zombie keeps the PID from being reused until then.
func (p *proc) reap() (unix.WaitStatus, error) {
	if p.pidfd >= 0 {
		unix.Close(p.pidfd)
		p.pidfd = -1
	}
	var ws unix.WaitStatus
	for {
		_, err := unix.Wait4(p.pid, &ws, 0, nil)
		if err == unix.EINTR {
			continue
		}
		return ws, err
	}
}

// kill sends SIGKILL through the pidfd and reaps, for cleanup after errors.
func (p *proc) kill() {
	if p == nil || p.pidfd < 0 {
		return
	}
	unix.PidfdSendSignal(p.pidfd, unix.SIGKILL, nil, 0)
	unix.Poll([]unix.PollFd{{Fd: int32(p.pidfd), Events: unix.POLLIN}}, 5000)
	p.reap()
}

func (p *proc) failure(what string, ws unix.WaitStatus) error {
	b, _ := os.ReadFile(p.out)
	how := fmt.Sprintf("exit status %d", ws.ExitStatus())
	if ws.Signaled() {
		how = "killed by " + ws.Signal().String()
	}
	return fmt.Errorf("%s failed (%s): %s", what, how, oneLine(string(b)))
}

// poll waits until one of fds is readable or the deadline passes; it
// returns the readable flags and the time poll returned.
func poll(fds []int, deadline time.Time) ([]bool, time.Time, error) {
	pfds := make([]unix.PollFd, len(fds))
	for i, fd := range fds {
		pfds[i] = unix.PollFd{Fd: int32(fd), Events: unix.POLLIN}
	}
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return nil, time.Now(), errTimeout
		}
		n, err := unix.Poll(pfds, int(left/time.Millisecond)+1)
		now := time.Now()
		if err == unix.EINTR || n == 0 {
			continue
		}
		if err != nil {
			return nil, now, fmt.Errorf("poll: %w", err)
		}
		ready := make([]bool, len(fds))
		for i, p := range pfds {
			ready[i] = p.Fd >= 0 && p.Revents != 0
		}
		return ready, now, nil
	}
}

// drain empties the inotify queue and the notify socket; it reports whether
// a READY=1 datagram was among them.
func (st *rowState) drain() (readyMsg bool) {
	buf := make([]byte, 4096)
	for {
		n, err := unix.Read(st.inotify, buf)
		if n <= 0 || err != nil {
			break
		}
	}
	if st.notify < 0 {
		return false
	}
	for {
		n, _, err := unix.Recvfrom(st.notify, buf, 0)
		if err != nil || n < 0 {
			break
		}
		for _, line := range bytes.Split(buf[:n], []byte{'\n'}) {
			if string(line) == "READY=1" {
				readyMsg = true
			}
		}
	}
	return readyMsg
}

// pidFromFile returns the PID the PID file names, if it names a live process.
func (st *rowState) pidFromFile() int {
	f, err := os.Open(st.pidfile)
	if err != nil {
		return 0
	}
	defer f.Close()
	buf := make([]byte, pidfile.MaxContent+1)
	n, _ := f.ReadAt(buf, 0)
	c, pid, _ := pidfile.ParseContent(buf[:n], pidfile.PIDMax())
	if c != pidfile.ContentPID || !alive(pid) {
		return 0
	}
	return pid
}

// fsType names the file system holding path (tmpfs, ext4, ...).
func fsType(path string) string {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return "unknown file system"
	}
	switch st.Type {
	case unix.TMPFS_MAGIC:
		return "tmpfs"
	case unix.EXT4_SUPER_MAGIC:
		return "ext4"
	case unix.BTRFS_SUPER_MAGIC:
		return "btrfs"
	case unix.XFS_SUPER_MAGIC:
		return "xfs"
	case unix.OVERLAYFS_SUPER_MAGIC:
		return "overlayfs"
	}
	return fmt.Sprintf("file system type %#x", st.Type)
}

// alive reports whether pid exists and is not a zombie.
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 >= len(b) {
		return false
	}
	return b[i+2] != 'Z' && b[i+2] != 'X'
}

// rssKiB reads VmRSS (all resident pages) and RssAnon (the private,
// anonymous part: heap, stacks, runtime data) of pid.
func rssKiB(pid int) (rss, anon int64) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		switch k {
		case "VmRSS":
			rss = n
		case "RssAnon":
			anon = n
		}
	}
	return rss, anon
}

// reapOrphans collects any zombie children left over (intermediate
// processes of double-forking starters re-parented to the driver). With
// wait, it waits until the driver has no children left (after a failed
// iteration killed everything), for at most 5 s; this is cleanup, not
// measurement, so it simply polls.
func reapOrphans(wait bool) {
	deadline := time.Now().Add(5 * time.Second)
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		switch {
		case pid > 0:
			continue
		case err != nil || !wait || time.Now().After(deadline):
			return // ECHILD: none left
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// killAll ends whatever a failed iteration may have left running: the
// process groups of the start and stop commands and the process the PID
// file names (started by them, in the driver's own directory).
func killAll(pgids []int, pid int) {
	for _, g := range pgids {
		if g > 1 && g != os.Getpid() {
			unix.Kill(-g, unix.SIGKILL)
		}
	}
	if pid > 1 && pid != os.Getpid() {
		unix.Kill(pid, unix.SIGKILL)
	}
}

// iterate runs one start → ready → stop cycle.
func (st *rowState) iterate(settle, timeout time.Duration) (s sample, err error) {
	os.Remove(st.pidfile)
	st.drain()

	var c cycle
	defer func() {
		if err != nil {
			if c.daemon != nil {
				c.daemon.kill()
			}
			killAll(c.pgids, st.pidFromFile())
		}
		reapOrphans(err != nil)
	}()

	// Start phase.
	t0 := time.Now()
	starter, err := spawn(st.start, st.env(), filepath.Join(st.dir, "start.out"))
	if err != nil {
		return s, err
	}
	c.pgids = append(c.pgids, starter.pid)
	defer func() {
		if err != nil {
			starter.kill()
		}
	}()
	deadline := t0.Add(timeout)
	if st.res.row.processOnly {
		s.startRet, err = st.waitProcessOnly(starter, t0, deadline)
		return s, err
	}
	pid, err := st.waitReady(starter, &s, t0, deadline)
	if err != nil {
		return s, err
	}

	pidfd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return s, fmt.Errorf("pidfd_open(%d) for the daemon: %w", pid, err)
	}
	c.daemon = &proc{pid: pid, pidfd: pidfd}
	if !alive(pid) {
		return s, fmt.Errorf("daemon %d died after it was ready", pid)
	}
	time.Sleep(settle)
	s.rssKiB, s.anonKiB = rssKiB(pid)
	return s, st.stopPhase(&c, &s, timeout)
}

// cycle is what [rowState.iterate] must clean up after a failure: the
// daemon, and the process groups of the commands it ran.
type cycle struct {
	daemon *proc
	pgids  []int
}

// waitProcessOnly waits for a start command that is the whole measured
// process, and returns when it returned.
func (st *rowState) waitProcessOnly(starter *proc, t0, deadline time.Time) (time.Duration, error) {
	_, now, err := poll([]int{starter.pidfd}, deadline)
	if err != nil {
		return 0, fmt.Errorf("waiting for %s: %w", st.start[0], err)
	}
	ws, err := starter.reap()
	if err != nil {
		return 0, fmt.Errorf("reaping %s: %w", st.start[0], err)
	}
	if !st.res.row.success(ws) {
		return 0, starter.failure(filepath.Base(st.start[0]), ws)
	}
	return now.Sub(t0), nil
}

// waitReady waits until the start command returned (if the row is gated
// on it) and the daemon is ready, sets s's start times and returns the
// daemon's PID.
func (st *rowState) waitReady(starter *proc, s *sample, t0, deadline time.Time) (int, error) {
	r := st.res.row
	var (
		started, notified bool
		pid               int
		tStarted, tReady  time.Time
	)
	for {
		fds := []int{starter.pidfd, st.inotify, st.notify}
		if started {
			fds[0] = -1
		}
		ready, now, perr := poll(fds, deadline)
		if perr != nil {
			return 0, fmt.Errorf("waiting for readiness (start returned: %v, READY=1: %v, pid file: %d): %w", started, notified, pid, perr)
		}
		if ready[0] {
			started, tStarted = true, now
			ws, err := starter.reap()
			if err != nil {
				return 0, fmt.Errorf("reaping the start command: %w", err)
			}
			if !r.success(ws) {
				return 0, starter.failure("start", ws)
			}
		}
		if st.drain() {
			notified = true
		}
		if pid == 0 {
			pid = st.pidFromFile()
		}
		if pid != 0 && (started || !r.gated) && (notified || !r.notify) && tReady.IsZero() {
			tReady = now
		}
		if started && r.gated && pid == 0 {
			return 0, fmt.Errorf("start returned but %s does not name a live process", st.pidfile)
		}
		if started && !tReady.IsZero() {
			break
		}
	}
	s.startRet, s.ready = tStarted.Sub(t0), tReady.Sub(t0)
	return pid, nil
}

// stopPhase stops c's daemon (SIGTERM, or the row's stop command), waits
// until both it is gone and the stop command returned, and sets s's stop
// times.
func (st *rowState) stopPhase(c *cycle, s *sample, timeout time.Duration) (err error) {
	t1 := time.Now()
	var stopper *proc
	stopped := false
	var tStopped, tGone time.Time
	if st.stop == nil {
		if err := unix.PidfdSendSignal(c.daemon.pidfd, unix.SIGTERM, nil, 0); err != nil {
			return fmt.Errorf("SIGTERM to %d: %w", c.daemon.pid, err)
		}
		stopped, tStopped = true, time.Now()
	} else {
		stopper, err = spawn(st.stop, st.env(), filepath.Join(st.dir, "stop.out"))
		if err != nil {
			return err
		}
		c.pgids = append(c.pgids, stopper.pid)
		defer func() {
			if err != nil {
				stopper.kill()
			}
		}()
	}
	deadline := t1.Add(timeout)
	gone := false
	for !stopped || !gone {
		fds := []int{-1, -1}
		if !gone {
			fds[0] = c.daemon.pidfd
		}
		if !stopped {
			fds[1] = stopper.pidfd
		}
		ready, now, perr := poll(fds, deadline)
		if perr != nil {
			return fmt.Errorf("waiting for the stop (returned: %v, daemon gone: %v): %w", stopped, gone, perr)
		}
		if ready[0] {
			gone, tGone = true, now
			c.daemon.reap() // we are its subreaper; if not, ECHILD is fine
			c.daemon = nil
		}
		if ready[1] {
			stopped, tStopped = true, now
			ws, err := stopper.reap()
			if err != nil {
				return fmt.Errorf("reaping the stop command: %w", err)
			}
			if ws != 0 {
				return stopper.failure("stop", ws)
			}
		}
	}
	s.stopRet, s.gone = tStopped.Sub(t1), tGone.Sub(t1)
	return nil
}
