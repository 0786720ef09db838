package reexec

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/daemonkit/daemonkit/internal/pidlock"
	"github.com/daemonkit/daemonkit/internal/readych"
)

// helperMain runs Adopt and exits, if the test binary was started as a
// helper by TestAdoptRefusesWhatNoLauncherGave.
func helperMain() {
	if os.Getenv(helperEnv) == "child" {
		childMain()
	}
	if os.Getenv(helperEnv) != "adopt" {
		return
	}
	st, err := Adopt()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		if _, set := os.LookupEnv(EnvVar); set {
			fmt.Fprintln(os.Stderr, "marker still set")
		}
		os.Exit(1)
	}
	st.Close()
	fmt.Fprintln(os.Stderr, "adopted")
	os.Exit(0)
}

// TestAdoptRefusesWhatNoLauncherGave: a process with the stage marker but
// without a genuine launcher behind it (marker set by hand, no or wrong
// ready channel, no or wrong HELLO, wrong token, a PID file descriptor that
// is not the recorded file) refuses to be a daemon stage with a clear
// error, removes the marker, and never panics.
func TestAdoptRefusesWhatNoLauncherGave(t *testing.T) {
	const token = "0123456789abcdef0123456789abcdef"
	dir := t.TempDir()
	pf, err := pidlock.Acquire(filepath.Join(dir, "d.pid"))
	if err != nil {
		t.Fatal(err)
	}
	defer pf.Close()
	other, err := os.Create(filepath.Join(dir, "other"))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	hello := func(tok string, dev, ino uint64) []byte {
		b, _ := json.Marshal(readych.HelloData{Token: tok, PIDFile: pf.Path(), Dev: dev, Ino: ino})
		return readych.Message{Kind: readych.Hello, Payload: b}.Encode()
	}
	cases := []struct {
		name   string
		marker string
		fd3    string // the ready channel (fd 4): "seqpacket", "stream", "pipe", "none"
		send   [][]byte
		fd4    *os.File // the PID file (fd 3)
		says   string
		report string // the ERROR the helper must send back, if any
	}{
		{name: "marker-not-a-token", marker: "1", fd3: "seqpacket", says: "is not a launcher token"},
		{name: "marker-empty", marker: "", fd3: "seqpacket", says: "is not a launcher token"},
		{name: "marker-short-token", marker: "daemon:abc", fd3: "seqpacket", says: "is not a launcher token"},
		{name: "no-channel", marker: "daemon:" + token, fd3: "none", says: "is not a ready channel"},
		{name: "pipe-channel", marker: "daemon:" + token, fd3: "pipe", says: "is not a ready channel"},
		{name: "stream-channel", marker: "daemon:" + token, fd3: "stream", says: "is not a ready channel"},
		{name: "no-hello", marker: "daemon:" + token, fd3: "seqpacket", says: "no hello"},
		{name: "ready-first", marker: "daemon:" + token, fd3: "seqpacket", send: [][]byte{[]byte("READY")}, says: "did not start with a hello"},
		{name: "garbage-first", marker: "daemon:" + token, fd3: "seqpacket", send: [][]byte{[]byte("\x00\xff")}, says: "did not start with a hello"},
		{name: "bad-json", marker: "daemon:" + token, fd3: "seqpacket", send: [][]byte{[]byte("HELLO {")}, says: "hello"},
		{name: "wrong-token", marker: "daemon:" + token, fd3: "seqpacket", send: [][]byte{hello(strings.Repeat("f", 32), pf.Dev(), pf.Ino())}, says: "token does not match"},
		{name: "fd4-not-the-pid-file", marker: "daemon:" + token, fd3: "seqpacket", send: [][]byte{hello(token, pf.Dev(), pf.Ino())}, fd4: other,
			says: "adopting the pid file", report: "ERROR"},
		{name: "fd4-missing", marker: "daemon:" + token, fd3: "seqpacket", send: [][]byte{hello(token, pf.Dev(), pf.Ino())},
			says: "adopting the pid file", report: "ERROR"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), helperEnv+"=adopt", EnvVar+"="+c.marker)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			var ours *os.File
			cmd.ExtraFiles = []*os.File{nil, nil} // readych.PIDFileFD, readych.ChannelFD
			switch c.fd3 {
			case "seqpacket", "stream":
				typ := unix.SOCK_SEQPACKET
				if c.fd3 == "stream" {
					typ = unix.SOCK_STREAM
				}
				fds, err := unix.Socketpair(unix.AF_UNIX, typ|unix.SOCK_CLOEXEC, 0)
				if err != nil {
					t.Fatal(err)
				}
				unix.SetNonblock(fds[0], true) // so read deadlines work
				ours = os.NewFile(uintptr(fds[0]), "ours")
				theirs := os.NewFile(uintptr(fds[1]), "theirs")
				defer theirs.Close()
				cmd.ExtraFiles[1] = theirs
			case "pipe":
				r, w, err := os.Pipe()
				if err != nil {
					t.Fatal(err)
				}
				defer r.Close()
				defer w.Close()
				cmd.ExtraFiles[1] = r
			}
			cmd.ExtraFiles[0] = c.fd4
			for _, m := range c.send {
				if _, err := ours.Write(m); err != nil {
					t.Fatal(err)
				}
			}
			if ours != nil && len(c.send) == 0 {
				ours.Close() // EOF at once: no hello will come
				ours = nil
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			if c.fd3 == "seqpacket" || c.fd3 == "stream" {
				cmd.ExtraFiles[1].Close() // the helper has it now
			}
			cmd.ExtraFiles = nil
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			var err error
			select {
			case err = <-done:
			case <-time.After(30 * time.Second):
				cmd.Process.Kill()
				<-done
				t.Fatal("helper did not finish within 30s")
			}
			if err == nil {
				t.Fatalf("helper adopted: %s", stderr.String())
			}
			out := stderr.String()
			if !strings.Contains(out, c.says) {
				t.Errorf("error %q does not say %q", out, c.says)
			}
			if c.report == "" && (!strings.Contains(out, EnvVar+" is set") || !strings.Contains(out, ErrNoLauncher.Error())) {
				t.Errorf("error %q does not explain the marker", out)
			}
			if strings.Contains(out, "marker still set") {
				t.Errorf("the marker was left in the environment")
			}
			if strings.Contains(out, "panic") {
				t.Errorf("helper panicked: %s", out)
			}
			if ours != nil {
				defer ours.Close()
				buf := make([]byte, readych.MaxMessage+1)
				ours.SetReadDeadline(time.Now().Add(5 * time.Second))
				n, _ := ours.Read(buf)
				got := string(buf[:n])
				if c.report != "" && !strings.HasPrefix(got, c.report) {
					t.Errorf("helper reported %q on the channel, want %s…", got, c.report)
				}
			}
		})
	}
}
