//go:build linux

package background

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/daemonkit/daemonkit/internal/launch"
	"github.com/daemonkit/daemonkit/internal/pidlock"
)

// The supervisor: see superviseEnv for how it is started, and
// docs/supervision.md for its states. It runs in this package's init,
// so on the main goroutine, which stays locked to the main thread: every
// program is started from that thread, whose end (the supervisor's) is
// what the program's parent-death signal follows.
func init() {
	if v, ok := os.LookupEnv(superviseEnv); ok {
		os.Exit(superviseMain(v))
	}
}

// stopSignals stop the supervisor and its program; forwardSignals are
// passed on to the program.
var (
	stopSignals    = []os.Signal{syscall.SIGTERM, syscall.SIGINT}
	forwardSignals = []os.Signal{syscall.SIGHUP, syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGQUIT, syscall.SIGWINCH}
)

// errControllerGone: the socket to Launch closed before the
// acknowledgement.
var errControllerGone = errors.New("the controller that started it is gone")

// stopRequest is the cause of the supervisor's stop context.
type stopRequest struct{ sig os.Signal }

func (s stopRequest) Error() string { return "stopped by " + signalName(s.sig) }

// supervisor is the supervisor process's state.
type supervisor struct {
	o   Options
	r   Respawn
	cfg supConfig
	pf  *pidlock.File
	out *os.File // the output file (our stdout), or nil

	mu sync.Mutex // guards st, read by the control channel
	st Supervision

	exits []time.Time // within the last Period

	stopCtx   context.Context // done once a stop signal came
	answers   sync.WaitGroup  // control requests being answered
	answering atomic.Bool     // one is
}

// superviseMain is the supervisor process; it returns the exit status.
func superviseMain(v string) int {
	os.Unsetenv(superviseEnv)
	runtime.LockOSThread() // already so during init; said for the reader
	stopc := make(chan os.Signal, 1)
	signal.Notify(stopc, stopSignals...)
	fwdc := make(chan os.Signal, 16)
	signal.Notify(fwdc, forwardSignals...)

	sv, ch, err := adoptSupervisor(v)
	if err != nil {
		fmt.Fprintf(os.Stderr, "daemonctl supervisor: %v\n", err)
		return 2
	}
	stopCtx, stop := context.WithCancelCause(context.Background())
	sv.stopCtx = stopCtx
	sv.startControl()
	go func() {
		sig := <-stopc
		sv.tryAnswer() // a stopping controller may wait for the verdict
		stop(stopRequest{sig})
	}()
	defer sv.drainAnswers()
	p, ok := sv.first(stopCtx, ch)
	if !ok {
		return 1
	}
	return sv.supervise(stopCtx, fwdc, p)
}

// adoptSupervisor reads the configuration from the socket and adopts the
// PID file whose "DEV:INO" is v.
func adoptSupervisor(v string) (*supervisor, *os.File, error) {
	devs, inos, ok := strings.Cut(v, ":")
	dev, err1 := strconv.ParseUint(devs, 10, 64)
	ino, err2 := strconv.ParseUint(inos, 10, 64)
	if !ok || err1 != nil || err2 != nil {
		return nil, nil, fmt.Errorf("%s=%q: want DEV:INO; it is internal to daemonkit", superviseEnv, v)
	}
	if link, _ := os.Readlink("/proc/self/fd/" + strconv.Itoa(supChanFD)); !strings.HasPrefix(link, "socket:") {
		return nil, nil, fmt.Errorf("fd %d is %q, not a socket; %s is internal to daemonkit", supChanFD, link, superviseEnv)
	}
	unix.SetNonblock(supChanFD, true)
	unix.CloseOnExec(supChanFD)
	ch := os.NewFile(supChanFD, "controller channel")
	var cfg supConfig
	ch.SetReadDeadline(time.Now().Add(supEndGrace))
	if err := json.NewDecoder(ch).Decode(&cfg); err != nil {
		return nil, nil, fmt.Errorf("reading the configuration: %w", err)
	}
	ch.SetReadDeadline(time.Time{})
	pf, err := pidlock.Adopt(supPIDFileFD, cfg.Options.PIDFile, dev, ino)
	if err != nil {
		return nil, nil, err
	}
	o := cfg.Options
	o.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	sv := &supervisor{o: o, r: o.Respawn.withDefaults(), cfg: cfg, pf: pf, st: Supervision{ProgramState: "starting"}}
	if o.Output != "" {
		sv.out = os.Stdout
	}
	return sv, ch, nil
}

// logf logs one line on our stderr (the output file, or /dev/null).
func (sv *supervisor) logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s daemonctl supervisor[%d]: %s: %s\n",
		time.Now().UTC().Format(time.RFC3339), os.Getpid(), sv.o.PIDFile, fmt.Sprintf(format, args...))
}

// update changes the state the control channel reports.
func (sv *supervisor) update(f func(st *Supervision)) {
	sv.mu.Lock()
	defer sv.mu.Unlock()
	f(&sv.st)
}

// status returns a copy of the state.
func (sv *supervisor) status() Supervision {
	sv.mu.Lock()
	defer sv.mu.Unlock()
	return sv.st
}

// start starts the program once, as an unsupervised start would (the
// same launch core and readiness), and returns it once it is ready.
func (sv *supervisor) start(ctx context.Context, onStart func(pid int)) (*launch.Proc, error) {
	l := &job{o: sv.o.withDefaults(), supervised: true, out: sv.out, onStart: func(pid int) {
		sv.update(func(st *Supervision) { st.ProgramPID, st.ProgramState, st.NextStart = pid, "starting", nil })
		if onStart != nil {
			onStart(pid)
		}
	}}
	defer l.closeAll()
	spec, err := l.spec(sv.cfg.Path, sv.cfg.Identity, sv.cfg.Env)
	if err != nil {
		return nil, l.named(err)
	}
	p, _, err := launch.RunSupervised(ctx, spec, l.o.Command, l)
	if err != nil {
		return nil, l.named(err)
	}
	sv.update(func(st *Supervision) { st.ProgramState = "running" })
	return p, nil
}

// first runs the first start, which Launch waits for: it reports to
// Launch over ch and waits for the acknowledgement. It returns the
// program, or false when the supervisor is to exit (the PID file then
// emptied).
func (sv *supervisor) first(stopCtx context.Context, ch *os.File) (*launch.Proc, bool) {
	defer ch.Close()
	enc := json.NewEncoder(ch)
	ctx, gone := context.WithCancelCause(stopCtx)
	defer gone(nil)
	acked := make(chan struct{})
	go func() { // the only message after the configuration: the ack, or EOF
		var a supAck
		if err := json.NewDecoder(ch).Decode(&a); err == nil && a.Ack {
			close(acked)
			return
		}
		gone(errControllerGone)
	}()
	p, err := sv.start(ctx, func(pid int) { enc.Encode(supReport{Started: pid}) })
	if err != nil {
		enc.Encode(supReport{Failed: failureOf(err)})
		sv.pf.Clear()
		return nil, false
	}
	if err := enc.Encode(supReport{Ready: p.PID()}); err != nil {
		gone(errControllerGone)
	}
	select {
	case <-acked:
		return p, true
	case <-ctx.Done():
	}
	// Stopped, or the controller died, before the start completed: end
	// the program at once, and leave the PID file not running.
	p.Fail(sv.o.Command, context.Cause(ctx))
	sv.pf.Clear()
	return nil, false
}

// supervise runs the program p until a stop, starting it again after
// each exit, and returns the supervisor's exit status.
func (sv *supervisor) supervise(stopCtx context.Context, fwdc <-chan os.Signal, p *launch.Proc) int {
	delay := sv.r.Delay
	started := time.Now()
	sv.logf("supervising %s (pid %d)", sv.o.Command, p.PID())
	for {
		ex, stopped := sv.run(stopCtx, fwdc, p)
		if stopped {
			return sv.stopped()
		}
		ranFor := ex.Time.Sub(started)
		for { // after an exit, or a start that failed: wait, start again
			sv.update(func(st *Supervision) { st.ProgramPID, st.LastExit = 0, &ex })
			if n := sv.countExit(ex.Time); n >= sv.r.Limit {
				return sv.giveUp(n, ex)
			}
			if ranFor >= resetAfter(delay) {
				delay = sv.r.Delay
			}
			sv.logf("%s (pid %d) %s after %v; starting it again in %v", sv.o.Command, ex.PID, describeExit(ex), ranFor.Round(time.Millisecond), delay)
			if !sv.wait(stopCtx, fwdc, delay) {
				return sv.stopped()
			}
			delay = sv.r.nextDelay(delay)
			sv.update(func(st *Supervision) { st.Restarts++ })
			started = time.Now()
			var err error
			if p, err = sv.start(stopCtx, nil); err == nil {
				sv.logf("started %s again (pid %d, restart %d)", sv.o.Command, p.PID(), sv.status().Restarts)
				break
			}
			if stopCtx.Err() != nil {
				return sv.stopped()
			}
			ex = Exit{Time: time.Now(), Error: err.Error()}
			var f *Error
			if errors.As(err, &f) {
				ex = exitOf(f.ProcessState, f.PID, ex.Time)
				ex.Error = err.Error()
			}
			ranFor = ex.Time.Sub(started)
		}
	}
}

// run waits until p exits, passing on the forwarded signals, or until a
// stop, which it carries out. It reports how p ended, or that it was
// stopped.
func (sv *supervisor) run(stopCtx context.Context, fwdc <-chan os.Signal, p *launch.Proc) (Exit, bool) {
	exited := make(chan struct{})
	go func() {
		p.ExitedWithin(-1) // p's pidfd stays open until Fail, after this returned
		close(exited)
	}()
	for {
		select {
		case <-exited:
			f := p.Fail(sv.o.Command, ErrExited) // reaps it, kills what it left in its group
			return exitOf(f.ProcessState, f.PID, time.Now()), false
		case s := <-fwdc:
			if err := unix.PidfdSendSignal(p.Pidfd(), s.(syscall.Signal), nil, 0); err != nil {
				sv.logf("passing %s on to pid %d: %v", signalName(s), p.PID(), err)
			}
		case <-stopCtx.Done():
			sv.stopProgram(stopCtx, p, exited)
			return Exit{}, true
		}
	}
}

// stopProgram passes the stop signal on to p's process group, sends
// SIGKILL after StopTimeout, and reaps p once it has exited.
func (sv *supervisor) stopProgram(stopCtx context.Context, p *launch.Proc, exited <-chan struct{}) {
	sig := syscall.SIGTERM
	var req stopRequest
	if errors.As(context.Cause(stopCtx), &req) {
		sig = req.sig.(syscall.Signal)
	}
	pid := p.PID()
	sv.update(func(st *Supervision) { st.ProgramState = "stopping" })
	sv.logf("stopping %s (pid %d): %s to its process group", sv.o.Command, pid, signalName(sig))
	// Our unreaped child leads its process group (a new session): the
	// group ID cannot be reused while we have not reaped it.
	unix.Kill(-pid, sig)
	t := time.NewTimer(sv.r.StopTimeout)
	defer t.Stop()
	select {
	case <-exited:
	case <-t.C:
		sv.logf("%s (pid %d) still runs %v after %s: sending SIGKILL", sv.o.Command, pid, sv.r.StopTimeout, signalName(sig))
		unix.Kill(-pid, unix.SIGKILL)
		unix.PidfdSendSignal(p.Pidfd(), unix.SIGKILL, nil, 0)
		<-exited
	}
	f := p.Fail(sv.o.Command, ErrExited)
	sv.logf("%s (pid %d) %s", sv.o.Command, pid, describeExit(exitOf(f.ProcessState, pid, time.Now())))
}

// wait waits d before the next start; it reports false on a stop.
// Signals to pass on meanwhile have no program to go to.
func (sv *supervisor) wait(stopCtx context.Context, fwdc <-chan os.Signal, d time.Duration) bool {
	next := time.Now().Add(d)
	sv.update(func(st *Supervision) { st.ProgramState, st.NextStart = "waiting", &next })
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			return true
		case <-stopCtx.Done():
			return false
		case s := <-fwdc:
			sv.logf("%s not passed on: %s is not running (next start at %s)", signalName(s), sv.o.Command, next.UTC().Format(time.RFC3339Nano))
		}
	}
}

// countExit records an exit at t and returns how many fell within the
// last Period.
func (sv *supervisor) countExit(t time.Time) int {
	keep := sv.exits[:0]
	for _, e := range sv.exits {
		if t.Sub(e) < sv.r.Period {
			keep = append(keep, e)
		}
	}
	sv.exits = append(keep, t)
	return len(sv.exits)
}

// giveUp ends supervision after n exits within Period, the last ex: it
// says why and leaves the PID file naming us, so that once we have
// exited it reads stale.
func (sv *supervisor) giveUp(n int, ex Exit) int {
	sv.update(func(st *Supervision) { st.ProgramState, st.NextStart = "given-up", nil })
	sv.logf("giving up: %s ended %d times within %v (--respawn-limit %d/%v), last %s; the PID file is left naming this supervisor (pid %d), stale once it has exited",
		sv.o.Command, n, sv.r.Period, sv.r.Limit, sv.r.Period, describeExit(ex), os.Getpid())
	return 1
}

// stopped empties the PID file after a stop: not running, once we exit.
func (sv *supervisor) stopped() int {
	if err := sv.pf.Clear(); err != nil {
		sv.logf("stopped, but the PID file could not be emptied: %v", err)
		return 1
	}
	sv.logf("stopped")
	return 0
}

// exitOf describes how a process ended.
func exitOf(ps *os.ProcessState, pid int, t time.Time) Exit {
	ex := Exit{Time: t.UTC(), PID: pid}
	if ps == nil {
		return ex
	}
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok {
		switch {
		case ws.Exited():
			code := ws.ExitStatus()
			ex.ExitStatus = &code
		case ws.Signaled():
			ex.Signal = signalName(ws.Signal())
		}
	}
	return ex
}

// describeExit says how ex ended, for the log.
func describeExit(ex Exit) string {
	switch {
	case ex.Error != "":
		return "failed to start: " + ex.Error
	case ex.ExitStatus != nil:
		return fmt.Sprintf("exited with status %d", *ex.ExitStatus)
	case ex.Signal != "":
		return "was killed by " + ex.Signal
	}
	return "ended"
}

// signalName returns "SIGTERM" for syscall.SIGTERM.
func signalName(s os.Signal) string {
	if sig, ok := s.(syscall.Signal); ok {
		if n := unix.SignalName(sig); n != "" {
			return n
		}
	}
	return s.String()
}
