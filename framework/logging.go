package framework

import (
	"context"
	"io"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"syscall"
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

// stderrIsJournal reports whether this process's stderr goes to systemd's
// journal, so that log lines should carry sd-daemon(3) priority prefixes:
// JOURNAL_STREAM names stderr's device and inode, or (for a stage that logs
// on stderr under a service manager that does not set JOURNAL_STREAM)
// NOTIFY_SOCKET is set.
func stderrIsJournal(stage string) bool {
	if js := os.Getenv("JOURNAL_STREAM"); js != "" {
		var st syscall.Stat_t
		if err := syscall.Fstat(2, &st); err != nil {
			return false
		}
		return js == strconv.FormatUint(uint64(st.Dev), 10)+":"+strconv.FormatUint(uint64(st.Ino), 10)
	}
	return stage != "daemon" && supervised()
}
