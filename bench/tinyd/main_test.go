//go:build linux

package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
	"golang.org/x/sys/unix"

	"github.com/daemonkit/daemonkit/internal/proctest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func build(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "bin")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin, err := proctest.Build(dir, "./bench/tinyd")
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// stop sends SIGTERM and checks that tinyd exits 0.
func stop(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("tinyd after SIGTERM: %v, want exit 0", err)
	}
}

func TestNotifySocketAndSIGTERM(t *testing.T) {
	bin := build(t)
	sock := filepath.Join(t.TempDir(), "notify.sock")
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: sock}); err != nil {
		t.Fatal(err)
	}
	tv := unix.NsecToTimeval((10 * time.Second).Nanoseconds())
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+sock)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	proctest.Cleanup(t, cmd.Process.Pid)
	buf := make([]byte, 64)
	n, _, err := unix.Recvfrom(fd, buf, 0)
	if err != nil {
		t.Fatalf("no READY=1 from tinyd on %s: %v", sock, err)
	}
	if got := string(buf[:n]); got != "READY=1\n" {
		t.Fatalf("tinyd sent %q, want \"READY=1\\n\"", got)
	}
	stop(t, cmd)
}

func TestReadyFD(t *testing.T) {
	bin := build(t)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	cmd := exec.Command(bin, "-ready-fd", "3")
	cmd.ExtraFiles = []*os.File{w}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	proctest.Cleanup(t, cmd.Process.Pid)
	r.SetReadDeadline(time.Now().Add(10 * time.Second))
	got, err := readAll(r)
	if err != nil {
		t.Fatalf("reading the ready pipe: %v", err)
	}
	// tinyd writes one newline and closes fd 3: EOF while it still runs.
	if !bytes.Equal(got, []byte("\n")) {
		t.Fatalf("ready fd got %q, want one newline then EOF", got)
	}
	if !proctest.Alive(cmd.Process.Pid) {
		t.Fatal("tinyd exited after reporting ready")
	}
	stop(t, cmd)
}

func readAll(f *os.File) ([]byte, error) {
	var b bytes.Buffer
	_, err := b.ReadFrom(f)
	return b.Bytes(), err
}

func TestBadReadyFD(t *testing.T) {
	bin := build(t)
	out, err := exec.Command(bin, "-ready-fd", "9").CombinedOutput()
	if err == nil || !bytes.Contains(out, []byte("ready fd 9")) {
		t.Fatalf("tinyd -ready-fd 9 (not open) = %v, %q; want a failure naming fd 9", err, out)
	}
}

func TestExit(t *testing.T) {
	bin := build(t)
	if out, err := exec.Command(bin, "-exit").CombinedOutput(); err != nil || len(out) != 0 {
		t.Fatalf("tinyd -exit = %v, %q; want exit 0 and no output", err, out)
	}
}
