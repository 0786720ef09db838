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
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"

	"github.com/daemonkit/daemonkit/lockfile"

	"github.com/daemonkit/daemonkit/internal/proctest"
)

// fakeManager is the service manager's end of NOTIFY_SOCKET.
type fakeManager struct {
	t    *testing.T
	conn *net.UnixConn
	msgs chan string
	done chan struct{}
}

func newFakeManager(t *testing.T) *fakeManager {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	m := &fakeManager{t: t, conn: conn, msgs: make(chan string, 1024), done: make(chan struct{})}
	go func() {
		defer close(m.done)
		buf := make([]byte, 4096)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				close(m.msgs)
				return
			}
			m.msgs <- string(buf[:n])
		}
	}()
	t.Cleanup(func() { conn.Close(); <-m.done })
	t.Setenv("NOTIFY_SOCKET", path)
	return m
}

// next returns the next message that has a line starting with one of
// prefixes, skipping others; it fails t after a deadline.
func (m *fakeManager) next(prefixes ...string) string {
	m.t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		select {
		case msg, ok := <-m.msgs:
			if !ok {
				m.t.Fatalf("notify socket closed while waiting for %q", prefixes)
			}
			for _, line := range strings.Split(msg, "\n") {
				for _, p := range prefixes {
					if strings.HasPrefix(line, p) {
						return msg
					}
				}
			}
		case <-deadline:
			m.t.Fatalf("no message with %q on the notify socket", prefixes)
		}
	}
}

// TestForegroundNotifyReloadStop: under NOTIFY_SOCKET the one process
// sends READY=1 (with MAINPID) after OnReady, RELOADING=1 with
// MONOTONIC_USEC then READY=1 around OnReload, and STOPPING=1 before the
// OnStop hooks, in that order, with STATUS= lines.
func TestForegroundNotifyReloadStop(t *testing.T) {
	m := newFakeManager(t)
	t.Setenv("WATCHDOG_USEC", "")
	pidFile := filepath.Join(t.TempDir(), "n.pid")
	d := New(Config{Name: "n", PIDFile: pidFile, Dir: mustGetwd(t), Logger: slogDiscard()})
	reloaded := make(chan struct{}, 1)
	d.OnReady("mark", func(context.Context) error { daemon.SdNotify(false, "X_HOOK=ready"); return nil })
	d.OnReload("mark", func(context.Context) error {
		daemon.SdNotify(false, "X_HOOK=reload")
		reloaded <- struct{}{}
		return nil
	})
	d.OnStop("mark", func(context.Context) error { daemon.SdNotify(false, "X_HOOK=stop"); return nil })
	running, errc := runUntilStopped(d)
	for _, want := range []string{"X_HOOK=ready", "READY=1"} {
		msg := m.next(want, "READY=1")
		if !strings.Contains(msg, want) {
			t.Fatalf("got %q, want %s (OnReady hooks run before READY=1)", msg, want)
		}
		if want == "READY=1" && !strings.Contains(msg, "MAINPID="+strconv.Itoa(syscall.Getpid())) {
			t.Errorf("READY message %q has no MAINPID of ours", msg)
		}
	}
	<-running
	if info, err := lockfile.Inspect(pidFile); err != nil || info.State != lockfile.Running || info.PID != syscall.Getpid() {
		t.Errorf("pid file while running: %+v %v", info, err)
	}
	syscall.Kill(syscall.Getpid(), syscall.SIGHUP)
	select {
	case <-reloaded:
	case <-time.After(30 * time.Second):
		t.Fatal("the reload hook did not run within 30s of SIGHUP")
	}
	msg := m.next("RELOADING=1", "READY=1", "X_HOOK=")
	if !strings.Contains(msg, "RELOADING=1") || !strings.Contains(msg, "MONOTONIC_USEC=") {
		t.Fatalf("first message of a reload %q, want RELOADING=1 with MONOTONIC_USEC", msg)
	}
	for _, want := range []string{"X_HOOK=reload", "READY=1"} {
		if got := m.next("READY=1", "X_HOOK=", "STOPPING=1"); !strings.Contains(got, want) {
			t.Fatalf("got %q, want %s", got, want)
		}
	}
	syscall.Kill(syscall.Getpid(), syscall.SIGTERM)
	for _, want := range []string{"STOPPING=1", "X_HOOK=stop"} {
		if got := m.next("READY=1", "X_HOOK=", "STOPPING=1"); !strings.Contains(got, want) {
			t.Fatalf("got %q, want %s", got, want)
		}
	}
	if err := recvErr(t, errc); err != nil {
		t.Fatal(err)
	}
}

// TestWatchdogPingsAndHealthVeto: with WATCHDOG_USEC for our PID the
// daemon pings WATCHDOG=1; while a health check fails no ping is sent, and
// pings resume once it passes.
func TestWatchdogPingsAndHealthVeto(t *testing.T) {
	m := newFakeManager(t)
	t.Setenv("WATCHDOG_USEC", "100000") // pings every 50ms
	t.Setenv("WATCHDOG_PID", strconv.Itoa(syscall.Getpid()))
	d := New(Config{Name: "wd", Foreground: true, Dir: mustGetwd(t), Logger: slogDiscard()})
	var failing atomic.Bool
	d.HealthCheck("db", func(context.Context) error {
		if failing.Load() {
			daemon.SdNotify(false, "X_CHECK=failed")
			return errors.New("db unreachable")
		}
		return nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		errc <- d.Run(ctx, func(ctx context.Context) error { <-ctx.Done(); return nil })
	}()
	m.next("READY=1")
	m.next("WATCHDOG=1")
	m.next("WATCHDOG=1")
	failing.Store(true)
	m.next("X_CHECK=failed")
	for range 3 {
		if got := m.next("WATCHDOG=1", "X_CHECK=failed"); strings.Contains(got, "WATCHDOG=1") {
			t.Fatal("watchdog pinged after a failed health check, while it still fails")
		}
	}
	failing.Store(false)
	m.next("WATCHDOG=1")
	cancel()
	if err := recvErr(t, errc); err != nil {
		t.Fatal(err)
	}
}

// TestWatchdogNotOurs: WATCHDOG_PID naming another process means no pings.
func TestWatchdogNotOurs(t *testing.T) {
	t.Setenv("WATCHDOG_USEC", "20000")
	t.Setenv("WATCHDOG_PID", strconv.Itoa(syscall.Getppid()))
	d := New(Config{Name: "wd", Foreground: true, Dir: mustGetwd(t), Logger: slogDiscard()})
	d.log = slogDiscard()
	if w := d.startWatchdog(func(string) { t.Error("pinged") }); w != nil {
		w.stop()
		t.Fatal("watchdog started for another process's WATCHDOG_PID")
	}
	t.Setenv("WATCHDOG_PID", "")
	var pings atomic.Int32
	w := d.startWatchdog(func(s string) {
		if s == "WATCHDOG=1" {
			pings.Add(1)
		}
	})
	if w == nil {
		t.Fatal("no watchdog with WATCHDOG_USEC and no WATCHDOG_PID")
	}
	for deadline := time.Now().Add(10 * time.Second); pings.Load() < 2; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no two watchdog pings within 10s")
		}
	}
	w.stop()
}

// TestJournalHandler: each record is one line with its sd-daemon(3)
// priority, no time, and the attributes added With.
func TestJournalHandler(t *testing.T) {
	var buf proctest.Buffer
	log := slog.New(NewJournalHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})).With("stage", "foreground")
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			log.Info("hello", "i", i)
			log.Error("bad", "i", i)
		}()
	}
	wg.Wait()
	log.Debug("dbg")
	log.Warn("careful")
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != 42 {
		t.Fatalf("%d lines, want 42:\n%s", len(lines), buf.String())
	}
	for _, l := range lines {
		ok := strings.HasPrefix(l, "<6>level=INFO msg=hello stage=foreground i=") ||
			strings.HasPrefix(l, "<3>level=ERROR msg=bad stage=foreground i=") ||
			l == "<7>level=DEBUG msg=dbg stage=foreground" ||
			l == "<4>level=WARN msg=careful stage=foreground"
		if !ok {
			t.Errorf("line %q", l)
		}
	}
}

// TestStderrIsJournal: the journal format only when JOURNAL_STREAM names
// stderr (systemd's rule); NOTIFY_SOCKET alone (daemonctl --notify, whose
// service writes to a file) gives text lines with times.
func TestStderrIsJournal(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	t.Setenv("JOURNAL_STREAM", "")
	if stderrIsJournal() {
		t.Error("journal without JOURNAL_STREAM")
	}
	t.Setenv("NOTIFY_SOCKET", "/nonexistent")
	if stderrIsJournal() {
		t.Error("NOTIFY_SOCKET alone: want no prefixes")
	}
	var st syscall.Stat_t
	if err := syscall.Fstat(2, &st); err != nil {
		t.Fatal(err)
	}
	t.Setenv("JOURNAL_STREAM", strconv.FormatUint(uint64(st.Dev), 10)+":"+strconv.FormatUint(uint64(st.Ino), 10))
	if !stderrIsJournal() {
		t.Error("JOURNAL_STREAM naming stderr: want prefixes")
	}
	t.Setenv("JOURNAL_STREAM", "1:2")
	if stderrIsJournal() {
		t.Error("JOURNAL_STREAM naming another file: want no prefixes")
	}
}

// TestActivationNames: sockets sharing a LISTEN_FDNAMES entry get NAME#2,
// NAME#3, so that each can be taken by name.
func TestActivationNames(t *testing.T) {
	var files []*os.File
	for _, name := range []string{"http", "http", "admin", "http"} {
		fd, err := syscall.Open(os.DevNull, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		f := os.NewFile(uintptr(fd), name)
		defer f.Close()
		files = append(files, f)
	}
	var got []string
	for _, nf := range uniqueNames(files) {
		got = append(got, nf.name)
	}
	if strings.Join(got, ",") != "http,http#2,admin,http#3" {
		t.Errorf("names %q", got)
	}
}

func TestHandoffHas(t *testing.T) {
	var h Handoff
	if h.Has("http") {
		t.Error("empty handoff has http")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := h.PassListener("http", ln); err != nil {
		t.Fatal(err)
	}
	defer h.closeAll()
	if !h.Has("http") || h.Has("https") {
		t.Error("Has after PassListener")
	}
}

func TestDetachOverridesNotifySocket(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "/nonexistent")
	if !New(Config{}).foreground() {
		t.Error("NOTIFY_SOCKET: want foreground")
	}
	if New(Config{Detach: true}).foreground() {
		t.Error("NOTIFY_SOCKET with Detach: want the launcher")
	}
	if !New(Config{Detach: true, Foreground: true}).foreground() {
		t.Error("Foreground wins over Detach")
	}
	t.Setenv("NOTIFY_SOCKET", "")
	if New(Config{}).foreground() {
		t.Error("no NOTIFY_SOCKET: want the launcher")
	}
}

// runUntilStopped runs d in a goroutine with a body that waits for the
// stop; running is closed once the body runs, errc gets Run's result.
func runUntilStopped(d *Daemon) (running <-chan struct{}, errc <-chan error) {
	r := make(chan struct{})
	e := make(chan error, 1)
	go func() {
		e <- d.Run(context.Background(), func(ctx context.Context) error {
			close(r)
			<-ctx.Done()
			return nil
		})
	}()
	return r, e
}

// recvErr receives Run's result, failing t if it does not come within 30 s.
func recvErr(t *testing.T, errc <-chan error) error {
	t.Helper()
	select {
	case err := <-errc:
		return err
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return within 30s")
		return nil
	}
}

// TestStopDuringReloadSendsNoReady: a stop that cuts a reload short is
// followed by STOPPING=1 and the OnStop hooks, never by a READY=1 from the
// abandoned reload.
func TestStopDuringReloadSendsNoReady(t *testing.T) {
	m := newFakeManager(t)
	t.Setenv("WATCHDOG_USEC", "")
	d := New(Config{Name: "n", Dir: mustGetwd(t), Logger: slogDiscard()})
	inReload := make(chan struct{}, 1)
	d.OnReload("slow", func(ctx context.Context) error {
		inReload <- struct{}{}
		<-ctx.Done()
		return ctx.Err()
	})
	d.OnStop("mark", func(context.Context) error { daemon.SdNotify(false, "X_HOOK=stop"); return nil })
	running, errc := runUntilStopped(d)
	m.next("READY=1")
	<-running
	syscall.Kill(syscall.Getpid(), syscall.SIGHUP)
	if msg := m.next("RELOADING=1"); !strings.Contains(msg, "RELOADING=1") {
		t.Fatalf("got %q", msg)
	}
	select {
	case <-inReload:
	case <-time.After(20 * time.Second):
		t.Fatal("the reload hook did not start")
	}
	syscall.Kill(syscall.Getpid(), syscall.SIGTERM)
	if msg := m.next("READY=1", "STOPPING=1"); !strings.Contains(msg, "STOPPING=1") {
		t.Fatalf("after a stop during a reload: %q, want STOPPING=1 (no READY=1)", msg)
	}
	if msg := m.next("READY=1", "X_HOOK="); !strings.Contains(msg, "X_HOOK=stop") {
		t.Fatalf("after STOPPING=1: %q, want the stop hook (no READY=1)", msg)
	}
	if err := recvErr(t, errc); err != nil {
		t.Fatal(err)
	}
}
