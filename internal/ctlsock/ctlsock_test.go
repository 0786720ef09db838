package ctlsock_test

import (
	"context"
	"errors"
	"fmt"
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

const clientEnv = "CTLSOCK_TEST_CLIENT" // "dev:ino:pid": run Call and print the outcome

func TestMain(m *testing.M) {
	if v := os.Getenv(clientEnv); v != "" {
		os.Exit(runClient(v))
	}
	goleak.VerifyTestMain(m)
}

func runClient(v string) int {
	var k ctlsock.Key
	var pid int
	if _, err := fmt.Sscanf(v, "%d:%d:%d", &k.Dev, &k.Ino, &pid); err != nil {
		fmt.Println("bad", clientEnv, err)
		return 2
	}
	r, err := ctlsock.Call(context.Background(), k, pid, ctlsock.Request{Op: "status"})
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

// serve runs a listener for key with h until the test ends.
func serve(t *testing.T, key ctlsock.Key, h func(context.Context, ctlsock.Request) ctlsock.Reply) {
	t.Helper()
	l, err := ctlsock.Listen(key)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Serve(ctx, h) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
}

func call(t *testing.T, key ctlsock.Key, pid int, op string) (ctlsock.Reply, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return ctlsock.Call(ctx, key, pid, ctlsock.Request{Op: op})
}

func TestRoundTrip(t *testing.T) {
	key := testKey(t)
	serve(t, key, func(_ context.Context, r ctlsock.Request) ctlsock.Reply {
		if r.Peer.PID != os.Getpid() || r.Peer.UID != os.Geteuid() {
			return ctlsock.Reply{Error: fmt.Sprintf("peer %+v", r.Peer)}
		}
		return ctlsock.Reply{OK: true, PID: 42, Data: []byte(`{"op":"` + r.Op + `"}`)}
	})
	r, err := call(t, key, os.Getpid(), "reload")
	if err != nil || !r.OK || r.PID != 42 || string(r.Data) != `{"op":"reload"}` {
		t.Fatalf("reply %+v (data %s), err %v", r, r.Data, err)
	}
}

func TestNoChannel(t *testing.T) {
	_, err := call(t, testKey(t), os.Getpid(), "status")
	if !errors.Is(err, ctlsock.ErrNoChannel) {
		t.Fatalf("err = %v, want ErrNoChannel", err)
	}
}

// A process that binds the daemon's name before the daemon is refused by
// the controller: the kernel's credentials name it, not the daemon.
func TestImpostor(t *testing.T) {
	key := testKey(t)
	const daemonPID = 4194000 // a PID the impostor claims to be
	ln, err := net.ListenUnix("unixpacket", &net.UnixAddr{Name: ctlsock.Name(key, daemonPID), Net: "unixpacket"})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			c.Write([]byte(`{"ok":true}`))
			c.Close()
		}
	}()
	_, err = call(t, key, daemonPID, "stop")
	if !errors.Is(err, ctlsock.ErrImpostor) || !strings.Contains(err.Error(), "pid "+strconv.Itoa(os.Getpid())) {
		t.Fatalf("err = %v, want ErrImpostor naming pid %d", err, os.Getpid())
	}
}

// The daemon binding a name someone else holds learns it at Listen.
func TestNameTaken(t *testing.T) {
	key := testKey(t)
	ln, err := net.ListenUnix("unixpacket", &net.UnixAddr{Name: ctlsock.Name(key, os.Getpid()), Net: "unixpacket"})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if _, err := ctlsock.Listen(key); !errors.Is(err, ctlsock.ErrNameTaken) {
		t.Fatalf("Listen = %v, want ErrNameTaken", err)
	}
}

// A user other than root and the daemon's own is refused before its
// request is read; the handler never runs.
func TestOtherUserRefused(t *testing.T) {
	proctest.RequireRoot(t)
	key := testKey(t)
	bin := copyForNobody(t)
	ran := make(chan string, 1)
	serve(t, key, func(_ context.Context, r ctlsock.Request) ctlsock.Reply {
		ran <- r.Op
		return ctlsock.Reply{OK: true}
	})
	cmd := exec.Command(bin, "-test.run=^$")
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%d:%d:%d", clientEnv, key.Dev, key.Ino, os.Getpid()))
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("client: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "ok=false") || !strings.Contains(string(out), "permission denied: uid 65534") {
		t.Fatalf("client as nobody got %q, want a refusal", out)
	}
	select {
	case op := <-ran:
		t.Fatalf("handler ran for %q from nobody", op)
	default:
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

// A caller that gives up (or dies) mid-request does not stop the daemon
// from finishing the action and serving the next caller.
func TestCallerGivesUp(t *testing.T) {
	key := testKey(t)
	release := make(chan struct{})
	finished := make(chan string, 2)
	serve(t, key, func(_ context.Context, r ctlsock.Request) ctlsock.Reply {
		if r.Op == "slow" {
			<-release
		}
		finished <- r.Op
		return ctlsock.Reply{OK: true}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := ctlsock.Call(ctx, key, os.Getpid(), ctlsock.Request{Op: "slow"})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want the deadline", err)
	}
	close(release)
	if op := <-finished; op != "slow" {
		t.Fatalf("finished %q", op)
	}
	if r, err := call(t, key, os.Getpid(), "status"); err != nil || !r.OK {
		t.Fatalf("next call: %+v, %v", r, err)
	}
}

// A daemon that closes the connection without answering (it died) is
// reported as such, not as success.
func TestNoReply(t *testing.T) {
	key := testKey(t)
	ln, err := net.ListenUnix("unixpacket", &net.UnixAddr{Name: ctlsock.Name(key, os.Getpid()), Net: "unixpacket"})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		if c, err := ln.Accept(); err == nil {
			buf := make([]byte, 100)
			c.Read(buf)
			c.Close()
		}
	}()
	if _, err := call(t, key, os.Getpid(), "stop"); !errors.Is(err, ctlsock.ErrNoReply) {
		t.Fatalf("err = %v, want ErrNoReply", err)
	}
}

func TestBadRequest(t *testing.T) {
	key := testKey(t)
	serve(t, key, func(context.Context, ctlsock.Request) ctlsock.Reply { return ctlsock.Reply{OK: true} })
	c, err := net.Dial("unixpacket", ctlsock.Name(key, os.Getpid()))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte(`{"op":`))
	buf := make([]byte, 1000)
	n, err := c.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	r, err := ctlsock.ParseReply(buf[:n])
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
