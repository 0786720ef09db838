package framework

import (
	"context"
	"io"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/daemonkit/daemonkit/reexec"
)

// Priorities of sd-daemon(3) for the levels of log/slog.
const (
	sdErr     = 3 // <3> SD_ERR
	sdWarning = 4 // <4> SD_WARNING
	sdInfo    = 6 // <6> SD_INFO
	sdDebug   = 7 // <7> SD_DEBUG
)

func sdPriority(l slog.Level) int {
	switch {
	case l >= slog.LevelError:
		return sdErr
	case l >= slog.LevelWarn:
		return sdWarning
	case l >= slog.LevelInfo:
		return sdInfo
	}
	return sdDebug
}

// NewJournalHandler returns a [slog.Handler] that writes text lines to w,
// each prefixed with its sd-daemon(3) priority ("<3>" for errors, "<4>"
// warnings, "<6>" info, "<7>" debug) and without a time (the journal
// records it). It is what the framework logs with on stderr when stderr is
// connected to the journal. opts may be nil.
func NewJournalHandler(w io.Writer, opts *slog.HandlerOptions) slog.Handler {
	o := slog.HandlerOptions{}
	if opts != nil {
		o = *opts
	}
	replace := o.ReplaceAttr
	o.ReplaceAttr = func(groups []string, a slog.Attr) slog.Attr {
		if len(groups) == 0 && a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		if replace != nil {
			return replace(groups, a)
		}
		return a
	}
	mu := new(sync.Mutex)
	h := &journalHandler{}
	for i, p := range []int{sdErr, sdWarning, sdInfo, sdDebug} {
		h.by[i] = slog.NewTextHandler(&prefixWriter{w: w, mu: mu, prefix: []byte("<" + strconv.Itoa(p) + ">")}, &o)
	}
	return h
}

// journalHandler keeps one text handler per priority, each writing through
// its own prefix, so that records logged concurrently never mix prefixes.
type journalHandler struct {
	by [4]slog.Handler // err, warning, info, debug
}

func (h *journalHandler) pick(l slog.Level) slog.Handler {
	switch sdPriority(l) {
	case sdErr:
		return h.by[0]
	case sdWarning:
		return h.by[1]
	case sdInfo:
		return h.by[2]
	}
	return h.by[3]
}

func (h *journalHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.pick(l).Enabled(ctx, l)
}

func (h *journalHandler) Handle(ctx context.Context, r slog.Record) error {
	return h.pick(r.Level).Handle(ctx, r)
}

func (h *journalHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	n := &journalHandler{}
	for i, s := range h.by {
		n.by[i] = s.WithAttrs(attrs)
	}
	return n
}

func (h *journalHandler) WithGroup(name string) slog.Handler {
	n := &journalHandler{}
	for i, s := range h.by {
		n.by[i] = s.WithGroup(name)
	}
	return n
}

// prefixWriter writes each line (a slog text handler writes one record
// per Write) with a prefix, in one write.
type prefixWriter struct {
	w      io.Writer
	mu     *sync.Mutex
	prefix []byte
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	line := make([]byte, 0, len(p.prefix)+len(b))
	line = append(append(line, p.prefix...), b...)
	if _, err := p.w.Write(line); err != nil {
		return 0, err
	}
	return len(b), nil
}

// stderrIsJournal reports whether this process's stderr is systemd's
// journal, so that log lines should carry sd-daemon(3) priority prefixes
// and no time: JOURNAL_STREAM names stderr's device and inode, as
// systemd.exec(5) says to check. NOTIFY_SOCKET alone says nothing about
// stderr (daemonctl --notify sets it and sends stderr to a file).
func stderrIsJournal() bool {
	js := os.Getenv("JOURNAL_STREAM")
	if js == "" {
		return false
	}
	var st syscall.Stat_t
	if err := syscall.Fstat(2, &st); err != nil {
		return false
	}
	return js == strconv.FormatUint(uint64(st.Dev), 10)+":"+strconv.FormatUint(uint64(st.Ino), 10)
}

// stageLog is the handler of one stage: the base handler with the service
// name, the stage and the PID.
type stageLog struct {
	h slog.Handler
}

// initialStage is the stage a logger taken before [Daemon.Run] starts with.
func initialStage() string {
	if reexec.Marked() {
		return "daemon"
	}
	return "launcher"
}

// setStage makes every logger of d (taken before or after) label records
// with stage, and picks the format for what stderr is now.
func (d *Daemon) setStage(stage string) {
	base := d.cfg.Logger
	switch {
	case base != nil:
	case stderrIsJournal():
		base = slog.New(NewJournalHandler(os.Stderr, nil))
	default:
		base = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	l := base.With("service", d.cfg.Name, "stage", stage, "pid", os.Getpid())
	d.stage.Store(&stageLog{h: l.Handler()})
}

// newLogger sets the stage this process is in and returns d's logger.
func (d *Daemon) newLogger(stage string) *slog.Logger {
	d.setStage(stage)
	return d.log
}

// stageHandler is the handler of [Daemon.Logger]: it hands each record to
// the handler of the stage the daemon is in when the record is logged,
// with the attributes and groups added to this logger since.
type stageHandler struct {
	d     *Daemon
	ops   []func(slog.Handler) slog.Handler // WithAttrs and WithGroup, in order
	cache atomic.Pointer[stageCache]
}

// stageCache is the handler derived for one stage.
type stageCache struct {
	stage *stageLog
	h     slog.Handler
}

func (s *stageHandler) current() slog.Handler {
	st := s.d.stage.Load()
	if c := s.cache.Load(); c != nil && c.stage == st {
		return c.h
	}
	h := st.h
	for _, op := range s.ops {
		h = op(h)
	}
	s.cache.Store(&stageCache{stage: st, h: h})
	return h
}

func (s *stageHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return s.current().Enabled(ctx, l)
}

func (s *stageHandler) Handle(ctx context.Context, r slog.Record) error {
	return s.current().Handle(ctx, r)
}

func (s *stageHandler) with(op func(slog.Handler) slog.Handler) slog.Handler {
	return &stageHandler{d: s.d, ops: append(s.ops[:len(s.ops):len(s.ops)], op)}
}

func (s *stageHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return s.with(func(h slog.Handler) slog.Handler { return h.WithAttrs(attrs) })
}

func (s *stageHandler) WithGroup(name string) slog.Handler {
	return s.with(func(h slog.Handler) slog.Handler { return h.WithGroup(name) })
}
