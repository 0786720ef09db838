package reexec

import (
	"crypto/subtle"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/daemonkit/daemonkit/internal/pidlock"
	"github.com/daemonkit/daemonkit/internal/readych"
)

// This file is the daemon side of the ready channel: [Adopt] and [Stage].

// write sends one message; MSG_NOSIGNAL turns a vanished launcher into
// EPIPE instead of SIGPIPE.
func (c channel) write(m readych.Message) error {
	return unix.Sendto(int(c), m.Encode(), unix.MSG_NOSIGNAL, nil)
}

// read reads one message, waiting at most d. It returns 0 at EOF.
func (c channel) read(buf []byte, d time.Duration) (int, error) {
	tv := unix.NsecToTimeval(d.Nanoseconds())
	if err := unix.SetsockoptTimeval(int(c), unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		return 0, err
	}
	for {
		n, err := unix.Read(int(c), buf)
		if err == unix.EINTR {
			continue
		}
		return n, err
	}
}

func (c channel) close() { unix.Close(int(c)) }

// Adopt verifies that this process is a daemon stage started by the
// framework's launcher and takes over its descriptors. It must be called
// only when [Marked] is true. On success the marker is gone from the
// environment, the umask is the launcher's (set before the exec), all
// inherited descriptors are close-on-exec, and the Go runtime's fatal
// output also goes to the launcher until [Stage.Ready].
func Adopt() (*Stage, error) {
	marker := os.Getenv(EnvVar)
	os.Unsetenv(EnvVar)
	explain := func(format string, args ...any) error {
		return fmt.Errorf("%s is set, but %s: %w; it is internal to daemonkit, unset it and run the program again",
			EnvVar, fmt.Sprintf(format, args...), ErrNoLauncher)
	}
	token, ok := strings.CutPrefix(marker, readych.MarkerPrefix)
	if !ok || len(token) != 32 {
		return nil, explain("its value %q is not a launcher token", readych.Truncate([]byte(marker), 40))
	}
	st, err := fdType(readych.ChannelFD)
	if err != nil || st != unix.S_IFSOCK {
		return nil, explain("fd %d is not a ready channel", readych.ChannelFD)
	}
	if t, err := unix.GetsockoptInt(readych.ChannelFD, unix.SOL_SOCKET, unix.SO_TYPE); err != nil || t != unix.SOCK_SEQPACKET {
		return nil, explain("fd %d is not a ready channel", readych.ChannelFD)
	}
	unix.CloseOnExec(readych.ChannelFD)
	// The daemon side uses plain blocking syscalls with SO_RCVTIMEO rather
	// than the runtime poller, so that a daemon which does no networking
	// has no descriptors but its own.
	ch := channel(readych.ChannelFD)
	buf := make([]byte, readych.MaxMessage+1)
	n, err := ch.read(buf, 10*time.Second)
	if err != nil || n == 0 {
		ch.close()
		return nil, explain("no hello on the ready channel (%v)", err)
	}
	m, err := readych.ParseMessage(buf[:n])
	if err != nil || m.Kind != readych.Hello {
		ch.close()
		return nil, explain("the ready channel did not start with a hello (%v)", err)
	}
	hello, err := readych.ParseHello(m.Payload)
	if err != nil {
		ch.close()
		return nil, explain("%v", err)
	}
	if subtle.ConstantTimeCompare([]byte(hello.Token), []byte(token)) != 1 {
		ch.close()
		return nil, explain("its token does not match the launcher's")
	}
	SetComm()
	s := &Stage{ch: ch, LogFile: hello.LogFile, Upgrade: hello.Upgrade, Files: make(map[string]*os.File, len(hello.Files))}
	s.PIDFile, err = pidlock.Adopt(readych.PIDFileFD, hello.PIDFile, hello.Dev, hello.Ino)
	if err != nil {
		s.Fail(err.Error())
		return nil, fmt.Errorf("adopting the pid file: %w", err)
	}
	unix.CloseOnExec(readych.CrashFD)
	s.crash = os.NewFile(readych.CrashFD, "crash-pipe")
	debug.SetCrashOutput(s.crash, debug.CrashOptions{})
	for i, name := range hello.Files {
		fd := readych.FirstFileFD + i
		if _, err := fdType(fd); err != nil {
			err = fmt.Errorf("handed-over file %q: fd %d: %w", name, fd, err)
			s.Fail(err.Error())
			return nil, err
		}
		unix.CloseOnExec(fd)
		s.Files[name] = os.NewFile(uintptr(fd), name)
	}
	return s, nil
}

// SetComm names the process after argv[0] again: executed as
// /proc/self/exe, a stage would show as "exe" to ps, top, pgrep and
// start-stop-daemon --name. [Adopt] calls it; other stages that re-execute
// /proc/self/exe (the service stage under a reaper) call it themselves.
func SetComm() {
	if len(os.Args) == 0 {
		return
	}
	name := filepath.Base(os.Args[0])
	if len(name) > 15 { // TASK_COMM_LEN - 1
		name = name[:15]
	}
	// Every thread has its own name (ps -L, top -H); threads created later
	// are cloned from these and inherit theirs.
	tasks, _ := os.ReadDir("/proc/self/task")
	for _, t := range tasks {
		os.WriteFile("/proc/self/task/"+t.Name()+"/comm", []byte(name), 0)
	}
}

func fdType(fd int) (uint32, error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return 0, err
	}
	return st.Mode & unix.S_IFMT, nil
}

// Fail reports a startup failure to the launcher, which prints msg.
func (s *Stage) Fail(msg string) error {
	if len(msg) > readych.MaxMessage-len(readych.Error)-1 {
		msg = msg[:readych.MaxMessage-len(readych.Error)-1]
	}
	return s.ch.write(readych.Message{Kind: readych.Error, Payload: []byte(msg)})
}

// Ready reports READY and waits up to ackTimeout for the launcher's ACK,
// which comes after the launcher wrote our PID. It returns false if no ACK
// came (the launcher died or hung): the caller must then write its own PID.
// Either way the channel is closed and the crash pipe released.
func (s *Stage) Ready(ackTimeout time.Duration) (acked bool) {
	debug.SetCrashOutput(nil, debug.CrashOptions{})
	s.crash.Close()
	defer s.ch.close()
	if err := s.ch.write(readych.Message{Kind: readych.Ready}); err != nil {
		return false
	}
	buf := make([]byte, 64)
	n, err := s.ch.read(buf, ackTimeout)
	if err != nil || n == 0 {
		return false
	}
	m, err := readych.ParseMessage(buf[:n])
	return err == nil && m.Kind == readych.Ack
}

// Close releases the channel without reporting anything (the launcher sees
// EOF and reports the exit status).
func (s *Stage) Close() { s.ch.close() }

// ClearUnlessUpgrade empties the PID file after a failure before READY,
// unless this daemon is an upgrade's next generation: the PID file then
// names the generation that keeps serving.
func (s *Stage) ClearUnlessUpgrade() {
	if !s.Upgrade {
		s.PIDFile.Clear()
	}
}
