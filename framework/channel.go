package framework

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/daemonkit/daemonkit/internal/ctlsock"
	"github.com/daemonkit/daemonkit/internal/pidlock"
)

// channel is the daemon's end of the control channel (internal/ctlsock):
// when a controller pokes the daemon (or sends it a stop signal), the
// daemon connects to the controller, takes its request (status, reload,
// stop, upgrade) and sends back its verdict. The daemon keeps no
// descriptor for it between requests. Requests are handed to the serving
// loop, which owns the daemon's state; a stop's verdict is known only once
// the OnStop hooks ran, after the loop ended, so it is given through final.
type channel struct {
	key     ctlsock.Key
	log     *slog.Logger
	reqs    chan ctlRequest // to the serving loop
	looping chan struct{}   // closed when the serving loop has ended
	final   struct {
		once sync.Once
		done chan struct{} // closed when err is the daemon's final verdict
		err  error
	}
	ctx     context.Context // ends the answers still running at exit
	cancel  context.CancelFunc
	answers sync.WaitGroup
	slots   chan struct{} // bounds the answers running at once
}

// ctlRequest is a request on its way to the serving loop, which answers
// it on reply (buffered).
type ctlRequest struct {
	ctlsock.Request
	reply chan ctlsock.Reply
}

func (r ctlRequest) answer(rep ctlsock.Reply) { r.reply <- rep }

// errExiting answers requests that come when the daemon is past handling them.
var errExiting = errors.New("the daemon is exiting")

// answerGrace bounds how long an exiting daemon waits for its answers in
// progress: a controller waiting for the stop verdict gets it at once.
const answerGrace = 2 * time.Second

// openChannel returns the control channel of the daemon holding pf (nil
// when there is no PID file: no controller can find the daemon). Close it
// with [channel.close] once the daemon's final verdict is set.
func (d *Daemon) openChannel(pf *pidlock.File) *channel {
	c := &channel{reqs: make(chan ctlRequest), looping: make(chan struct{}), log: d.log, slots: make(chan struct{}, 16)}
	c.final.done = make(chan struct{})
	c.ctx, c.cancel = context.WithCancel(context.Background())
	if pf != nil {
		c.key = ctlsock.Key{Dev: pf.Dev(), Ino: pf.Ino()}
	}
	return c
}

// answer looks for a controller waiting for this daemon, after a poke or
// a stop signal, and serves its request in a goroutine of its own. A
// signal that no controller sent finds nobody: nothing happens. The
// connection is made at once, in the caller's goroutine, so that a daemon
// that dies right after (in an OnStop hook) is seen to by the controller.
func (c *channel) answer() {
	if c == nil || c.key == (ctlsock.Key{}) {
		return
	}
	caller, err := ctlsock.Dial(c.key)
	switch {
	case errors.Is(err, ctlsock.ErrNoCaller):
		return
	case errors.Is(err, ctlsock.ErrRefused):
		c.log.Warn("control request refused", "err", err)
		return
	case err != nil:
		c.log.Info("control request not answered", "err", err)
		return
	}
	c.answers.Go(func() {
		select {
		case c.slots <- struct{}{}:
			defer func() { <-c.slots }()
		case <-c.ctx.Done():
			caller.Close()
			return
		}
		if err := caller.Serve(c.ctx, c.handle); err != nil {
			c.log.Info("control request not answered", "err", err)
		}
	})
}

// handle runs in the channel's goroutine for one request.
func (c *channel) handle(ctx context.Context, r ctlsock.Request) ctlsock.Reply {
	req := ctlRequest{Request: r, reply: make(chan ctlsock.Reply, 1)}
	select {
	case c.reqs <- req:
	case <-c.looping:
		if r.Op == "stop" { // already stopping: the verdict is coming
			return c.verdict(ctx)
		}
		return ctlsock.Failed(fmt.Errorf("%s: the daemon is stopping", r.Op))
	case <-ctx.Done():
		return ctlsock.Failed(errExiting)
	}
	var rep ctlsock.Reply
	select {
	case rep = <-req.reply:
	case <-ctx.Done():
		return ctlsock.Failed(errExiting)
	}
	if r.Op == "stop" && rep.OK {
		return c.verdict(ctx)
	}
	return rep
}

// verdict waits for the daemon's final verdict.
func (c *channel) verdict(ctx context.Context) ctlsock.Reply {
	select {
	case <-c.final.done:
	case <-ctx.Done():
		return ctlsock.Failed(errExiting)
	}
	if c.final.err != nil {
		return ctlsock.Failed(fmt.Errorf("stopped with an error: %w", c.final.err))
	}
	return ctlsock.Reply{OK: true}
}

// endLoop says the serving loop no longer takes requests.
func (c *channel) endLoop() { close(c.looping) }

// close sets the daemon's final verdict, lets the answers waiting for it
// go out (at most answerGrace), and ends the others.
func (c *channel) close(err error) {
	c.final.once.Do(func() {
		c.final.err = err
		close(c.final.done)
	})
	done := make(chan struct{})
	go func() { c.answers.Wait(); close(done) }()
	t := time.NewTimer(answerGrace)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		c.cancel()
		<-done
	}
	c.cancel()
}

// ctlStatus is what the "status" op returns in Reply.Data.
type ctlStatus struct {
	PID       int       `json:"pid"`
	State     string    `json:"state"` // running, reloading, stopping
	Since     time.Time `json:"since"`
	Reloading bool      `json:"reloading,omitempty"`
}

// request handles one control request in the serving loop.
func (s *serving) request(r ctlRequest) {
	switch r.Op {
	case "status":
		st := ctlStatus{PID: os.Getpid(), State: "running", Since: s.since, Reloading: s.reloading != nil}
		if s.stopTimer != nil {
			st.State = "stopping"
		}
		data, err := json.Marshal(st)
		if err != nil {
			r.answer(ctlsock.Failed(err))
			return
		}
		r.answer(ctlsock.Reply{OK: true, Data: data})
	case "reload":
		if s.stopTimer != nil {
			r.answer(ctlsock.Failed(errors.New("reload: the daemon is stopping")))
			return
		}
		s.nextReload = append(s.nextReload, r) // a reload running may predate what is asked
		s.startReload()
	case "stop":
		s.startStop(fmt.Errorf("stop requested by pid %d (uid %d)", r.Peer.PID, r.Peer.UID))
		r.answer(ctlsock.Reply{OK: true}) // the verdict follows the OnStop hooks
	case "upgrade":
		s.startUpgrade(r)
	default:
		r.answer(ctlsock.Failed(fmt.Errorf("unknown request %q: this daemon does not do it", r.Op)))
	}
}

// upgraded is the outcome of an upgrade: the next generation's PID, or why
// it failed.
type upgraded struct {
	pid int
	err error
}

// startUpgrade starts the next generation in a goroutine of its own; the
// serving loop goes on serving (and may stop, which cancels it).
func (s *serving) startUpgrade(r ctlRequest) {
	switch {
	case s.stopTimer != nil:
		r.answer(ctlsock.Failed(errors.New("upgrade: the daemon is stopping")))
		return
	case s.upgrading != nil:
		r.answer(ctlsock.Failed(errors.New("upgrade: an upgrade is already in progress")))
		return
	case s.pf == nil:
		r.answer(ctlsock.Failed(errors.New("upgrade: the daemon has no PID file to hand on")))
		return
	}
	done := make(chan upgraded, 1)
	s.upgrading, s.upgradeReq = done, r
	go func() {
		pid, err := s.d.nextGeneration(s.bodyCtx, s.pf)
		done <- upgraded{pid, err}
	}()
}

// upgradeDone answers the upgrade's request and, if the next generation
// took over, stops this one: it stops accepting and drains in its OnStop
// hooks, and leaves the PID file, which names the next generation, alone.
func (s *serving) upgradeDone(u upgraded) {
	s.upgrading = nil
	if u.err != nil {
		s.d.log.Error("upgrade failed; this generation keeps serving", "err", u.err)
		s.upgradeReq.answer(ctlsock.Failed(fmt.Errorf("upgrade failed, nothing changed: %w", u.err)))
		return
	}
	s.upgradedTo = u.pid
	s.upgradeReq.answer(ctlsock.Reply{OK: true, PID: u.pid, OldPID: os.Getpid()})
	s.startStop(fmt.Errorf("upgraded: pid %d took over", u.pid))
}

// reloaded answers the requests that waited for the reload that just
// ended.
func (s *serving) reloaded() {
	rep := ctlsock.Reply{OK: true}
	switch {
	case s.reloadErr != nil:
		rep = ctlsock.Failed(fmt.Errorf("reload failed: %w", s.reloadErr))
	case s.bodyCtx.Err() != nil:
		rep = ctlsock.Failed(errors.New("reload cut short: the daemon is stopping"))
	}
	for _, r := range s.thisReload {
		r.answer(rep)
	}
	s.thisReload = nil
}

// abandonReloads answers the requests for a reload that will not run.
func (s *serving) abandonReloads() {
	for _, r := range s.nextReload {
		r.answer(ctlsock.Failed(errors.New("not reloaded: the daemon is stopping")))
	}
	s.nextReload = nil
}
