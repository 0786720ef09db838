package framework

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/daemonkit/daemonkit/lifecycle"

	"github.com/daemonkit/daemonkit/internal/proctest"
)

// captureStderr points fd 2 at a file while fn runs and returns what was
// written there. fn gets the file, to name it in JOURNAL_STREAM.
func captureStderr(t *testing.T, fn func(f *os.File)) string {
	t.Helper()
	f, err := os.Create(filepath.Join(t.TempDir(), "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	saved, err := syscall.Dup(2)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(saved)
	if err := dupOnto(int(f.Fd()), 2); err != nil {
		t.Fatal(err)
	}
	func() {
		defer dupOnto(saved, 2)
		fn(f)
	}()
	b, err := os.ReadFile(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestLogFormatUnderNotifySocket: with NOTIFY_SOCKET set but stderr not the
// journal (daemonctl start --background --notify sends it to a file), log
// lines are plain text with times; when JOURNAL_STREAM names stderr, they
// carry priorities and no time.
func TestLogFormatUnderNotifySocket(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "/nonexistent")
	t.Setenv("JOURNAL_STREAM", "")
	out := captureStderr(t, func(*os.File) {
		d := New(Config{Name: "svc"})
		d.setStage("foreground")
		d.Logger().Info("hello")
	})
	if !strings.HasPrefix(out, "time=") || strings.Contains(out, "<6>") || !strings.Contains(out, "stage=foreground") {
		t.Errorf("under NOTIFY_SOCKET without the journal: %q, want a text line with a time", out)
	}
	out = captureStderr(t, func(f *os.File) {
		var st syscall.Stat_t
		if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
			t.Fatal(err)
		}
		t.Setenv("JOURNAL_STREAM", strconv.FormatUint(uint64(st.Dev), 10)+":"+strconv.FormatUint(uint64(st.Ino), 10))
		d := New(Config{Name: "svc"})
		d.setStage("foreground")
		d.Logger().Info("hello")
	})
	if !strings.HasPrefix(out, "<6>level=INFO msg=hello") || strings.Contains(out, "time=") {
		t.Errorf("stderr is the journal: %q, want <6> and no time", out)
	}
}

// TestFileNamesThereAre: a name that is not there lists the names there
// are, sorted; a second call for a name says it was already taken; both
// wrap ErrNoSuchFile.
func TestFileNamesThereAre(t *testing.T) {
	d := New(Config{Name: "n", Logger: slogDiscard()})
	_, err := d.Listener("http")
	if !errors.Is(err, ErrNoSuchFile) || !strings.Contains(err.Error(), "none was handed over") {
		t.Errorf("nothing handed over: %v", err)
	}
	files := map[string]*os.File{}
	for _, name := range []string{"metrics", "http", "admin"} {
		f, err := os.Open(os.DevNull)
		if err != nil {
			t.Fatal(err)
		}
		files[name] = f
	}
	d.setFiles(files)
	_, err = d.Listener("htpp")
	want := `listener "htpp": no file handed over under that name; the names handed over are "admin", "http", "metrics"`
	if !errors.Is(err, ErrNoSuchFile) || err == nil || err.Error() != want {
		t.Errorf("Listener(htpp): %v\nwant %s", err, want)
	}
	f, err := d.File("http")
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	_, err = d.File("http")
	if !errors.Is(err, ErrNoSuchFile) || err == nil || !strings.Contains(err.Error(), `file "http": already taken`) {
		t.Errorf("second File(http): %v, want already taken", err)
	}
	_, err = d.Listener("http")
	if err == nil || !strings.Contains(err.Error(), `listener "http": already taken`) {
		t.Errorf("Listener(http) after File(http): %v, want already taken", err)
	}
	_, err = d.File("nope")
	if err == nil || !strings.HasSuffix(err.Error(), `the names handed over are "admin", "metrics"`) {
		t.Errorf("File(nope): %v, want the names left", err)
	}
	for _, name := range []string{"admin", "metrics"} {
		f, _ := d.File(name)
		f.Close()
	}
}

// TestHandoffListenFresh: without a file under the name, Listen listens and
// hands the listener over; the daemon's Listener accepts on the address
// Listen returned.
func TestHandoffListenFresh(t *testing.T) {
	var h Handoff
	defer h.closeAll()
	addr, err := h.Listen("http", "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if !h.Has("http") {
		t.Fatal("Listen did not hand the listener over")
	}
	if _, err := h.Listen("http", "tcp", "256.0.0.1:1"); err != nil {
		t.Errorf("second Listen under the same name: %v, want the first one kept", err)
	}
	assertServes(t, &h, "http", addr)
}

// TestHandoffListenReusesPassedFile: a listener already handed over under
// the name (systemd socket activation) is kept, not replaced: Listen does
// not listen (the address given could not be bound) and returns the
// socket's own address; a Unix socket's path survives.
func TestHandoffListenReusesPassedFile(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var h Handoff
	defer h.closeAll()
	if err := h.PassListener("http", ln); err != nil { // as withActivation does
		t.Fatal(err)
	}
	addr, err := h.Listen("http", "tcp", "256.0.0.1:1")
	if err != nil {
		t.Fatalf("Listen over an activated socket: %v", err)
	}
	if addr.String() != ln.Addr().String() {
		t.Errorf("Listen returned %v, want the activated socket's %v", addr, ln.Addr())
	}
	if len(h.files) != 1 {
		t.Errorf("%d files handed over, want 1", len(h.files))
	}
	assertServes(t, &h, "http", addr)

	path := filepath.Join(t.TempDir(), "s.sock")
	uln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.PassListener("unix", uln); err != nil {
		t.Fatal(err)
	}
	if addr, err := h.Listen("unix", "unix", path); err != nil || addr.String() != path {
		t.Fatalf("Listen over a passed unix socket: %v %v", addr, err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Errorf("the socket's path is gone after Listen: %v", err)
	}

	f, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.PassFile("null", f); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Listen("null", "tcp", "127.0.0.1:0"); err == nil || !strings.Contains(err.Error(), "not a listening socket") {
		t.Errorf("Listen over a file that is no socket: %v", err)
	}
}

// assertServes takes the listener name from h as the daemon would and
// checks that it accepts a connection to addr.
func assertServes(t *testing.T, h *Handoff, name string, addr net.Addr) {
	t.Helper()
	d := New(Config{Name: "n", Logger: slogDiscard()})
	files := h.byName()
	dup, err := dupFile(files[name])
	if err != nil {
		t.Fatal(err)
	}
	d.setFiles(map[string]*os.File{name: dup})
	ln, err := d.Listener(name)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if ln.Addr().String() != addr.String() {
		t.Errorf("daemon's listener on %v, want %v", ln.Addr(), addr)
	}
	c, err := net.DialTimeout(addr.Network(), addr.String(), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ac, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	ac.Close()
}

func dupFile(f *os.File) (*os.File, error) {
	fd, err := syscall.Dup(int(f.Fd()))
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(fd), f.Name()), nil
}

// TestBodyPanicStackIsLines: a panicking body fails Run with a
// lifecycle.PanicError, and its stack is logged one frame a line.
func TestBodyPanicStackIsLines(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	var buf proctest.Buffer
	d := New(Config{Name: "p", Foreground: true, Dir: mustGetwd(t), Logger: slog.New(slog.NewTextHandler(&buf, nil))})
	err := d.Run(context.Background(), func(context.Context) error { panic("kaboom") })
	var pe *lifecycle.PanicError
	if !errors.As(err, &pe) || pe.Value != "kaboom" || len(pe.Stack) == 0 {
		t.Fatalf("Run: %v, want a PanicError with its stack", err)
	}
	out := buf.String()
	if strings.Contains(out, `\n`) {
		t.Errorf("escaped newlines in the log:\n%s", out)
	}
	if !strings.Contains(out, `msg="body panicked: stack"`) || !strings.Contains(out, "TestBodyPanicStackIsLines.func1") {
		t.Errorf("want one line per frame naming the body:\n%s", out)
	}
}

// TestLoggerTakenEarlyForeground: a logger taken before Run, and one
// derived from it with With, label lines with the stage they are logged
// from: the foreground once Run runs, in every hook and the body.
func TestLoggerTakenEarlyForeground(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	var buf proctest.Buffer
	d := New(Config{Name: "fg", Foreground: true, Dir: mustGetwd(t), Logger: slog.New(slog.NewTextHandler(&buf, nil))})
	log := d.Logger()
	sub := log.With("k", "v").WithGroup("g")
	log.Info("before run")
	d.PreDetach("pre", func(context.Context, *Handoff) error { log.Info("in pre-detach"); return nil })
	d.PostDetach("post", func(context.Context) error { sub.Info("in post-detach", "a", 1); return nil })
	err := d.Run(context.Background(), func(context.Context) error { log.Info("in body"); return nil })
	if err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	if l := lineWith(out, `msg="before run"`); !strings.Contains(l, "stage=launcher") {
		t.Errorf("before Run: %q, want stage=launcher", l)
	}
	for _, msg := range []string{`msg="in pre-detach"`, `msg="in body"`} {
		if l := lineWith(out, msg); !strings.Contains(l, "stage=foreground") {
			t.Errorf("%s: %q, want stage=foreground", msg, l)
		}
	}
	if l := lineWith(out, `msg="in post-detach"`); !strings.Contains(l, "stage=foreground") || !strings.HasSuffix(l, "k=v g.a=1") {
		t.Errorf("in post-detach: %q, want stage=foreground ... k=v g.a=1", l)
	}
}

// lineWith returns the first line of s that contains sub.
func lineWith(s, sub string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			return l
		}
	}
	return ""
}
