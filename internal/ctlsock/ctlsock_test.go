package ctlsock_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/daemonkit/daemonkit/internal/ctlsock"
	"github.com/daemonkit/daemonkit/internal/proctest"
)

// Modes of the test binary run as another process.
const (
	answerEnv = "CTLSOCK_TEST_ANSWER" // a name: connect to it as the daemon would
	callEnv   = "CTLSOCK_TEST_CALL"   // "dev:ino:pid": Listen and Call, print the outcome
)

func TestMain(m *testing.M) {
	if v := os.Getenv(answerEnv); v != "" {
		os.Exit(runAnswer(v))
	}
	if v := os.Getenv(callEnv); v != "" {
		os.Exit(runCall(v))
	}
	goleak.VerifyTestMain(m)
}

// runAnswer plays a process that connects to a controller's name as if it
// were the daemon: it prints what it gets.
func runAnswer(name string) int {
	c, err := net.Dial("unixpacket", name)
	if err != nil {
		fmt.Printf("dial err=%v\n", err)
		return 0
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 1000)
	n, err := c.Read(buf)
	fmt.Printf("read %q err=%v\n", buf[:n], err)
	return 0
}

func runCall(v string) int {
	var k ctlsock.Key
	var pid int
	if _, err := fmt.Sscanf(v, "%d:%d:%d", &k.Dev, &k.Ino, &pid); err != nil {
		fmt.Println("bad", callEnv, err)
		return 2
	}
	l, err := ctlsock.Listen(k, pid)
	if err != nil {
		fmt.Printf("listen err=%v\n", err)
		return 0
	}
	defer l.Close()
	fmt.Println("listening")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	r, err := callOnce(ctx, l, ctlsock.Request{Op: "status"})
	fmt.Printf("ok=%v error=%q err=%v\n", r.OK, r.Error, err)
	return 0
}

// testKey is a key no real PID file has, unique to the test, so that
// parallel test binaries never share a name.
func testKey(t *testing.T) ctlsock.Key {
	fi, err := os.Stat(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return ctlsock.KeyOf(fi)
}

// listen binds the channel to this process (the test plays both ends).
func listen(t *testing.T, key ctlsock.Key) *ctlsock.Listener {
	t.Helper()
	l, err := ctlsock.Listen(key, os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// answer runs Answer in a goroutine, as a poked daemon does.
func answer(key ctlsock.Key, h func(context.Context, ctlsock.Request) ctlsock.Reply) <-chan error {
	done := make(chan error, 1)
	go func() { done <- answerOnce(context.Background(), key, h) }()
	return done
}

func call(t *testing.T, l *ctlsock.Listener, op string) (ctlsock.Reply, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return callOnce(ctx, l, ctlsock.Request{Op: op})
}

func TestRoundTrip(t *testing.T) {
	key := testKey(t)
	l := listen(t, key)
	done := answer(key, func(_ context.Context, r ctlsock.Request) ctlsock.Reply {
		if r.Peer.PID != os.Getpid() || r.Peer.UID != os.Geteuid() {
			return ctlsock.Reply{Error: fmt.Sprintf("peer %+v", r.Peer)}
		}
		return ctlsock.Reply{OK: true, PID: 42, Data: []byte(`{"op":"` + r.Op + `"}`)}
	})
	r, err := call(t, l, "reload")
	if err != nil || !r.OK || r.PID != 42 || string(r.Data) != `{"op":"reload"}` {
		t.Fatalf("reply %+v (data %s), err %v", r, r.Data, err)
	}
	if err := <-done; err != nil {
		t.Fatalf("Answer: %v", err)
	}
}

// A signal that no controller sent: nobody waits, nothing happens.
func TestNoCaller(t *testing.T) {
	err := answerOnce(context.Background(), testKey(t), func(context.Context, ctlsock.Request) ctlsock.Reply {
		t.Error("handler ran without a controller")
		return ctlsock.Reply{}
	})
	if !errors.Is(err, ctlsock.ErrNoCaller) {
		t.Fatalf("err = %v, want ErrNoCaller", err)
	}
}

// A daemon that never connects (not a framework daemon) is reported once
// the controller's context ends.
func TestNoAnswer(t *testing.T) {
	l := listen(t, testKey(t))
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := callOnce(ctx, l, ctlsock.Request{Op: "reload"}); !errors.Is(err, ctlsock.ErrNoAnswer) {
		t.Fatalf("err = %v, want ErrNoAnswer", err)
	}
}

// Another process that connects to the controller's name is not the
// daemon: its connection is closed unread, and the daemon's own answer is
// the one taken.
func TestImpostorIgnored(t *testing.T) {
	key := testKey(t)
	l := listen(t, key)
	replies := make(chan string, 1)
	go func() {
		r, err := call(t, l, "status")
		replies <- fmt.Sprintf("ok=%v error=%q err=%v", r.OK, r.Error, err)
	}()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), answerEnv+"="+ctlsock.Name(key, os.Getpid()))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("impostor: %v\n%s", err, out)
	}
	if err := <-answer(key, func(context.Context, ctlsock.Request) ctlsock.Reply { return ctlsock.Reply{OK: true} }); err != nil {
		t.Fatalf("Answer: %v", err)
	}
	if got := <-replies; got != `ok=true error="" err=<nil>` {
		t.Fatalf("controller got %s", got)
	}
	if !strings.Contains(string(out), `read "" err=`) {
		t.Fatalf("impostor was sent something: %s", out)
	}
}

// A second controller (one that does not hold the guard) learns at Listen
// who holds the name.
func TestNameTaken(t *testing.T) {
	key := testKey(t)
	listen(t, key)
	_, err := ctlsock.Listen(key, os.Getpid())
	if !errors.Is(err, ctlsock.ErrNameTaken) || !strings.Contains(err.Error(), "by pid "+strconv.Itoa(os.Getpid())) {
		t.Fatalf("Listen = %v, want ErrNameTaken naming pid %d", err, os.Getpid())
	}
}

// A listener run by a user other than root and the daemon's own gets
// nothing: the daemon refuses it before reading its request, and its
// handler never runs.
func TestOtherUserRefused(t *testing.T) {
	proctest.RequireRoot(t)
	key := testKey(t)
	bin := copyForNobody(t)
	cmd := exec.Command(bin, "-test.run=^$")
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%d:%d:%d", callEnv, key.Dev, key.Ino, os.Getpid()))
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	buf := make([]byte, 4096)
	n, _ := stdout.Read(buf) // "listening"
	if !strings.Contains(string(buf[:n]), "listening") {
		t.Fatalf("client as nobody: %q", buf[:n])
	}
	err = answerOnce(context.Background(), key, func(_ context.Context, r ctlsock.Request) ctlsock.Reply {
		t.Errorf("handler ran for %q from nobody", r.Op)
		return ctlsock.Reply{OK: true}
	})
	if !errors.Is(err, ctlsock.ErrRefused) || !strings.Contains(err.Error(), "uid 65534") {
		t.Fatalf("Answer = %v, want ErrRefused naming uid 65534", err)
	}
	rest, _ := io.ReadAll(stdout)
	cmd.Wait()
	if !strings.Contains(string(rest), "without a reply") {
		t.Fatalf("client as nobody got %q, want no reply", rest)
	}
}

// copyForNobody copies the test binary where user nobody can run it.
func copyForNobody(t *testing.T) string {
	dir := t.TempDir()
	for _, d := range []string{dir, filepath.Dir(dir)} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "client")
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	return bin
}

// A controller that gives up mid-request asks the daemon to cancel and
// takes the verdict the daemon then gives, marked late.
func TestCallerGivesUp(t *testing.T) {
	key := testKey(t)
	l := listen(t, key)
	done := answer(key, func(ctx context.Context, _ ctlsock.Request) ctlsock.Reply {
		<-ctx.Done()
		return ctlsock.Failed(fmt.Errorf("cancelled: %w", context.Cause(ctx)))
	})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	rep, err := callOnce(ctx, l, ctlsock.Request{Op: "upgrade"})
	if !errors.Is(err, ctlsock.ErrLate) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want ErrLate and the deadline", err)
	}
	if rep.OK || !strings.Contains(rep.Error, "controller cancelled its request") {
		t.Fatalf("late reply %+v, want the daemon's cancellation", rep)
	}
	if err := <-done; err != nil {
		t.Fatalf("Answer: %v", err)
	}
}

// A controller that dies mid-request ends the context of the daemon's
// handler, which finishes on its own; the daemon is not held up.
func TestCallerDies(t *testing.T) {
	key := testKey(t)
	l := listen(t, key)
	cause := make(chan error, 1)
	done := answer(key, func(ctx context.Context, _ ctlsock.Request) ctlsock.Reply {
		<-ctx.Done()
		cause <- context.Cause(ctx)
		return ctlsock.Reply{OK: true}
	})
	c, err := l.Accept(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // the request goes out; the controller is gone before any reply
	go c.Call(ctx, ctlsock.Request{Op: "slow"})
	l.Close()
	if got := <-cause; !errors.Is(got, ctlsock.ErrCallerGone) {
		t.Fatalf("handler's cause %v, want ErrCallerGone", got)
	}
	<-done
}

// A daemon that closes the connection without answering (it died) is
// reported as such, not as success.
func TestNoReply(t *testing.T) {
	key := testKey(t)
	l := listen(t, key)
	go func() {
		if c, err := net.Dial("unixpacket", ctlsock.Name(key, os.Getpid())); err == nil {
			buf := make([]byte, 100)
			c.Read(buf)
			c.Close()
		}
	}()
	if _, err := call(t, l, "stop"); !errors.Is(err, ctlsock.ErrNoReply) {
		t.Fatalf("err = %v, want ErrNoReply", err)
	}
}

func TestBadRequest(t *testing.T) {
	key := testKey(t)
	ln, err := net.ListenUnix("unixpacket", &net.UnixAddr{Name: ctlsock.Name(key, os.Getpid()), Net: "unixpacket"})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan string, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- err.Error()
			return
		}
		defer c.Close()
		c.Write([]byte(`{"op":`))
		buf := make([]byte, 1000)
		n, _ := c.Read(buf)
		got <- string(buf[:n])
	}()
	err = <-answer(key, func(context.Context, ctlsock.Request) ctlsock.Reply {
		t.Error("handler ran for a malformed request")
		return ctlsock.Reply{}
	})
	if err != nil {
		t.Fatalf("Answer: %v", err)
	}
	r, err := ctlsock.ParseReply([]byte(<-got))
	if err != nil || r.OK || !strings.Contains(r.Error, "malformed") {
		t.Fatalf("reply %+v, %v", r, err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"op":"stop"}`))
	f.Add([]byte(`{"ok":true,"pid":12,"old_pid":7,"data":{"restarts":3}}`))
	f.Add([]byte(`{"ok":false,"error":"hook \"x\": boom"}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		if r, err := ctlsock.ParseRequest(b); err == nil && r.Op == "" {
			t.Fatalf("request without op accepted: %q", b)
		}
		if len(b) > ctlsock.MaxMessage {
			if _, err := ctlsock.ParseReply(b); err == nil {
				t.Fatalf("oversized reply accepted")
			}
		}
	})
}

// answerOnce is a poked daemon's side: Dial, then Serve.
func answerOnce(ctx context.Context, key ctlsock.Key, h func(context.Context, ctlsock.Request) ctlsock.Reply) error {
	c, err := ctlsock.Dial(key)
	if err != nil {
		return err
	}
	return c.Serve(ctx, h)
}

// callOnce is a controller's side once it poked: Accept, then Call.
func callOnce(ctx context.Context, l *ctlsock.Listener, req ctlsock.Request) (ctlsock.Reply, error) {
	c, err := l.Accept(ctx)
	if err != nil {
		return ctlsock.Reply{}, err
	}
	return c.Call(ctx, req)
}
