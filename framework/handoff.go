package framework

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/daemonkit/daemonkit/lifecycle"
)

// ErrNoSuchFile: no file or listener is there to take under that name: none
// was handed over under it, or an earlier [Daemon.File] or
// [Daemon.Listener] call took it.
var ErrNoSuchFile = errors.New("no file handed over under that name")

// takeError is a failed [Daemon.File] or [Daemon.Listener]: it says why
// and, for a name that was never handed over, which names there are.
type takeError struct {
	what, name string // "file" or "listener", and the name asked for
	taken      bool   // an earlier call took it
	names      []string
}

func (e *takeError) Error() string {
	if e.taken {
		return fmt.Sprintf("%s %q: already taken by an earlier File or Listener call (each handed-over file is given out once)", e.what, e.name)
	}
	if len(e.names) == 0 {
		return fmt.Sprintf("%s %q: %v; none was handed over (pass one from a PreDetach hook with Handoff.Listen, PassListener or PassFile, or name it with FileDescriptorName= in a systemd .socket unit)", e.what, e.name, ErrNoSuchFile)
	}
	quoted := make([]string, len(e.names))
	for i, n := range e.names {
		quoted[i] = fmt.Sprintf("%q", n)
	}
	return fmt.Sprintf("%s %q: %v; the names handed over are %s", e.what, e.name, ErrNoSuchFile, strings.Join(quoted, ", "))
}

func (e *takeError) Is(target error) bool { return target == ErrNoSuchFile }

// File returns, once, the file handed over under name by a PreDetach hook
// ([Handoff.PassFile]) or passed by systemd socket activation under that
// name (LISTEN_FDNAMES, the FileDescriptorName= of a .socket unit). The
// caller owns it. A name that is not there is an error that wraps
// [ErrNoSuchFile] and lists the names there are.
func (d *Daemon) File(name string) (*os.File, error) { return d.take("file", name) }

func (d *Daemon) take(what, name string) (*os.File, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	f, ok := d.files[name]
	if !ok {
		e := &takeError{what: what, name: name, taken: d.taken[name]}
		for n := range d.files {
			e.names = append(e.names, n)
		}
		slices.Sort(e.names)
		return nil, e
	}
	delete(d.files, name)
	d.taken[name] = true
	d.keep(name, f)
	return f, nil
}

// keep keeps a duplicate of f, given out under name, for the next
// generation of an upgrade: the service may close its own (a listener
// closed to stop accepting) while the socket must live on.
func (d *Daemon) keep(name string, f *os.File) {
	fd, err := unix.FcntlInt(f.Fd(), unix.F_DUPFD_CLOEXEC, 3)
	if err != nil {
		d.log.Warn("cannot keep a copy of a handed-over file: an upgrade will not hand it on", "name", name, "err", err)
		return
	}
	if d.given == nil {
		d.given = make(map[string]*os.File)
	}
	d.given[name] = os.NewFile(uintptr(fd), name)
}

// dropKept closes the copies kept for an upgrade: once the daemon stops,
// a listening socket must close when the service closes its listener, so
// that new connections are refused rather than left waiting.
func (d *Daemon) dropKept() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, f := range d.given {
		f.Close()
	}
	d.given = nil
}

// handedOn returns the files the next generation gets: those given out
// (their kept copies) and those not taken yet, by name.
func (d *Daemon) handedOn() map[string]*os.File {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make(map[string]*os.File, len(d.given)+len(d.files))
	for name, f := range d.given {
		out[name] = f
	}
	for name, f := range d.files {
		out[name] = f
	}
	return out
}

// Listener returns, once, the listener handed over under name by a
// PreDetach hook ([Handoff.Listen], [Handoff.PassListener]) or passed by
// systemd socket activation under that name, so that a service's code is
// the same whether the launcher or systemd provides its sockets. The caller
// owns it. A name that is not there is an error that wraps [ErrNoSuchFile]
// and lists the names there are.
func (d *Daemon) Listener(name string) (net.Listener, error) {
	f, err := d.take("listener", name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	ln, err := net.FileListener(f)
	if err != nil {
		return nil, fmt.Errorf("listener %q: %w", name, err)
	}
	return ln, nil
}

func (d *Daemon) setFiles(files map[string]*os.File) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for name, f := range files {
		d.files[name] = f
	}
}

// Handoff carries files and listeners from PreDetach hooks to the daemon.
type Handoff struct {
	names map[string]bool
	files []namedFile
}

type namedFile struct {
	name string
	file *os.File
}

// ErrDuplicateName: a file or listener was already handed over under that
// name.
var ErrDuplicateName = errors.New("name already used for a handed-over file")

// Listen makes sure the daemon gets a listener on network and addr under
// name, for [Daemon.Listener]. If one is already handed over under name
// (systemd socket activation, with FileDescriptorName=name), it is kept
// and its address returned; otherwise Listen listens (as the launcher's
// user: a port below 1024 works when started as root) and hands the
// listener over. It returns the address the daemon will accept on, so that
// a hook can report the port chosen for addr ":0".
//
//	d.PreDetach("listen", func(ctx context.Context, h *framework.Handoff) error {
//		_, err := h.Listen("http", "tcp", *addr)
//		return err
//	})
func (h *Handoff) Listen(name, network, addr string) (net.Addr, error) {
	if f := h.file(name); f != nil {
		// A duplicate, closed at once: f stays handed over, and a listener
		// made from a file never unlinks a Unix socket's path.
		ln, err := net.FileListener(f)
		if err != nil {
			return nil, fmt.Errorf("handoff %q: the file handed over under that name is not a listening socket: %w", name, err)
		}
		defer ln.Close()
		return ln.Addr(), nil
	}
	ln, err := net.Listen(network, addr)
	if err != nil {
		return nil, fmt.Errorf("handoff %q: %w", name, err)
	}
	a := ln.Addr()
	if err := h.PassListener(name, ln); err != nil {
		ln.Close()
		return nil, err
	}
	return a, nil
}

// file returns the file handed over under name, or nil.
func (h *Handoff) file(name string) *os.File {
	for _, f := range h.files {
		if f.name == name {
			return f.file
		}
	}
	return nil
}

// PassFile hands f to the daemon under name; the daemon gets it back with
// [Daemon.File]. The launcher's f is closed once the daemon has started.
func (h *Handoff) PassFile(name string, f *os.File) error {
	if name == "" {
		return errors.New("handoff: empty name")
	}
	if h.names[name] {
		return fmt.Errorf("handoff %q: %w", name, ErrDuplicateName)
	}
	if h.names == nil {
		h.names = make(map[string]bool)
	}
	h.names[name] = true
	h.files = append(h.files, namedFile{name, f})
	return nil
}

// PassListener hands ln to the daemon under name; the daemon gets it back
// with [Daemon.Listener]. ln must be a *net.TCPListener or
// *net.UnixListener (anything with a File method). ln itself is closed; the
// socket stays open in the descriptor that is handed over. [Handoff.Listen]
// does this for a listener it opens.
func (h *Handoff) PassListener(name string, ln net.Listener) error {
	fl, ok := ln.(interface{ File() (*os.File, error) })
	if !ok {
		return fmt.Errorf("handoff %q: listener %T has no File method", name, ln)
	}
	f, err := fl.File()
	if err != nil {
		return fmt.Errorf("handoff %q: %w", name, err)
	}
	if err := h.PassFile(name, f); err != nil {
		f.Close()
		return err
	}
	if ul, ok := ln.(*net.UnixListener); ok {
		ul.SetUnlinkOnClose(false) // the daemon keeps using the path
	}
	ln.Close()
	return nil
}

// Has reports whether a file or listener is already handed over under
// name: by an earlier hook, or by systemd socket activation
// (LISTEN_FDNAMES). [Handoff.Listen] checks it for listeners; a hook that
// hands over other files checks it first, so that the same service runs
// with or without systemd passing them.
func (h *Handoff) Has(name string) bool { return h.names[name] }

func (h *Handoff) byName() map[string]*os.File {
	m := make(map[string]*os.File, len(h.files))
	for _, f := range h.files {
		m[f.name] = f.file
	}
	return m
}

func (h *Handoff) closeAll() {
	for _, f := range h.files {
		f.file.Close()
	}
}

// preDetachHooks adapts the PreDetach hooks for the lifecycle runner.
func (d *Daemon) preDetachHooks(h *Handoff) []lifecycle.Hook {
	hooks := make([]lifecycle.Hook, len(d.pre))
	for i, p := range d.pre {
		fn := p.fn
		hooks[i] = lifecycle.Hook{Name: p.name, Fn: func(ctx context.Context) error { return fn(ctx, h) }}
	}
	return hooks
}
