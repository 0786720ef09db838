//go:build unix

// Package ctlguard tells whether this process runs under a controller
// that holds a guard file for it (the locking protocol's guard file, see
// docs/protocol.md): the ancestor that holds a guard's exclusive flock for
// this process, and the DAEMONKIT_CONTROLLER mark with which a daemonkit
// controller names its start command. Packages control and framework
// build on it.
package ctlguard

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/daemonkit/daemonkit/internal/pidfile"
	"github.com/daemonkit/daemonkit/internal/pidlock"
	"github.com/daemonkit/daemonkit/internal/procfs"
	"github.com/daemonkit/daemonkit/lockfile"
)

// maxAncestors bounds the walk up the parent chain: deeper process trees
// than this are not controllers starting daemons.
const maxAncestors = 64

// ErrOtherController reports a start command run by a controller that
// holds the guard file of another PID file than the command's own: see
// [StartedByController].
var ErrOtherController = errors.New("refusing to start")

// Env is set by a control.CommandStarter that control.Start or control.Restart
// runs in the command's environment: "<pid>:<dev>:<ino>:<nonce>", the
// controller (this process), the guard file (device and inode) it holds
// while the command runs, and the action: a random number that the
// controller makes the file position of the descriptor holding the guard
// (a seek; nothing is written), which its descendants read in
// /proc/PID/fdinfo. It passes no descriptor and grants nothing: it only
// tells a controller among the command's processes, which finds that
// guard locked by its ancestor pid, that the lock is held for it (see
// [controlsUs]). The variable stays in the environment of the daemon and
// its children, but names that action only: each action opens the guard
// anew, so a later action of the same long-lived process on the same
// guard is not theirs. A daemonkit process may hold guard files for
// actions of its own while it runs other programs; a controller run by
// any other program (libucw's ucw-daemon-control, flock(1)) needs no such
// mark.
const Env = "DAEMONKIT_CONTROLLER"

// nonceBits is the size of the action's number: positions up to 2^40 can
// be set on every file system daemonkit runs on (ext4 allows 2^44).
const nonceBits = 40

// Entry returns the DAEMONKIT_CONTROLLER variable entry naming
// guard, the guard file this process holds for the action whose start
// command is being run, or false if it holds none (guard is nil: the
// action runs under its own controller's lock) or cannot mark it.
func Entry(guard *pidlock.File) (string, bool) {
	if guard == nil {
		return "", false
	}
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", false
	}
	nonce := binary.LittleEndian.Uint64(b[:])&(1<<nonceBits-1) | 1
	if _, err := guard.File().Seek(int64(nonce), io.SeekStart); err != nil {
		return "", false
	}
	return fmt.Sprintf("%s=%d:%d:%d:%d", Env, os.Getpid(), guard.Dev(), guard.Ino(), nonce), true
}

// controlsUs reports whether pid, an ancestor, holds the exclusive flock
// of the guard file dev/ino for this process's action.
//
// A controller that is not daemonkit's (libucw's ucw-daemon-control,
// flock(1)) runs one action per process: holding the guard, it runs the
// start command and waits for it, so the lock is held for its
// descendants. A daemonkit program (which opens every PID and guard file
// through [lockfile], with O_NOFOLLOW: the flags of the descriptor that
// holds the lock, [procfs.HolderFD]) may hold a guard file for an
// action of its own while other goroutines run other programs, among
// them controllers of the same daemon, which must wait for it; so its
// lock counts only for the start command it names in the
// DAEMONKIT_CONTROLLER variable. What cannot be told (the holder's
// descriptors cannot be read) is not held for us: the caller then waits
// for the lock.
func controlsUs(pid int, dev, ino uint64) bool {
	ours, _ := heldFor(pid, dev, ino)
	return ours
}

// heldFor is [controlsUs], and also reports whether pid is a daemonkit
// controller that marked this process's environment for it.
func heldFor(pid int, dev, ino uint64) (ours, isMarked bool) {
	fd, held, err := procfs.HolderFD(pid, dev, ino)
	switch {
	case err != nil || !held:
		return false, false
	case fd.Flags&unix.O_NOFOLLOW == 0:
		return true, false
	}
	m := marked(pid, dev, ino, fd.Pos)
	return m, m
}

// marked reports whether the DAEMONKIT_CONTROLLER variable names pid, the
// guard dev/ino and the action whose number is pos (see [Env]).
func marked(pid int, dev, ino, pos uint64) bool {
	return pos != 0 && os.Getenv(Env) == fmt.Sprintf("%d:%d:%d:%d", pid, dev, ino, pos)
}

// HolderAncestor reports whether an ancestor of this process holds
// the exclusive flock of the guard file at path, and which.
func HolderAncestor(path string) (int, bool) {
	var st unix.Stat_t
	if unix.Lstat(path, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFREG {
		return 0, false
	}
	return ancestorHolding(uint64(st.Dev), uint64(st.Ino))
}

// ancestorHolding walks the parent chain of this process (at most
// maxAncestors steps, not past PID 1) and returns the first ancestor that
// holds the exclusive flock of the file dev/ino for this process
// ([controlsUs]).
//
// PIDs may be reused, but not the PID of a live process. So each
// ancestor is pinned (a pidfd) as soon as its PID is read, and after
// looking at it the walk re-reads the parent link of the child it came
// from and requires that child to be alive still (its pin; this process
// needs none): then the child's /proc entry read was the child's, the
// link was its parent throughout (a process is reparented as soon as its
// parent exits), and the pin is the ancestor looked at. A child that
// exited meanwhile (its PID possibly reused by a stranger whose parent
// holds the lock) voids the walk, as does a process that cannot be
// pinned. /proc must show this process's own PID namespace
// ([procfs.SameNamespace]); otherwise nothing is held (the caller then
// waits for the lock as usual).
func ancestorHolding(dev, ino uint64) (int, bool) {
	return WalkAncestors(dev, ino, nil)
}

// WalkAncestors is [ancestorHolding]; between, if not nil, is called with
// the child before each step above this process's parent (tests).
func WalkAncestors(dev, ino uint64, between func(child int)) (int, bool) {
	if procfs.SameNamespace() != nil {
		return 0, false
	}
	child := os.Getpid()
	var pin *pinned // the child's; nil for this process, alive
	defer func() {
		if pin != nil {
			pin.close()
		}
	}()
	for range maxAncestors {
		if between != nil && pin != nil {
			between(child)
		}
		parent, err := procfs.ParentOf(child)
		if err != nil || parent <= 1 {
			return 0, false
		}
		next, err := openPin(parent)
		if err != nil {
			return 0, false
		}
		held := controlsUs(parent, dev, ino)
		if again, aerr := procfs.ParentOf(child); aerr != nil || again != parent || !alive(pin) {
			next.close()
			return 0, false // the child exited or was reparented meanwhile: the look is void
		}
		if held {
			next.close()
			return parent, true
		}
		if pin != nil {
			pin.close()
		}
		child, pin = parent, next
	}
	return 0, false
}

// alive reports whether the pinned process p (nil: this process) is
// proved alive: a handle that cannot tell (no pidfd) proves nothing.
func alive(p *pinned) bool {
	return p == nil || p.alive()
}

// StartedByController tells a service's start verb (itself a controller
// of its PID file pidFile, with guard file guard, "" for
// [lockfile.GuardPath] of pidFile) whether it runs as the start command of
// another controller, found without that controller's cooperation: an
// ancestor of this process holds the exclusive flock of a guard file.
//
//   - held is true if an ancestor holds guard: the start verb must act
//     without locking it again (control.Options.GuardHeld), or it would wait for
//     its own controller forever.
//   - Otherwise, if this process is the start command itself of a
//     controller of another PID file A, the error wraps
//     [ErrOtherController]: the controller waits for A while this service
//     would start its daemon on pidFile, so that the controller would
//     report a failure with the daemon running. The start verb must refuse
//     before starting anything (exit status 102). See [parentController]
//     for what shows a controller of A.
//   - Otherwise neither. A lock that is not shown to be a controller's
//     (flock(1) on DIR/app.lock, where DIR/app is a directory) is nobody's
//     business; and a start command that runs other programs (a wrapper
//     that starts a dependency service, then the service the controller
//     waits for) may start services of other PID files under it.
func StartedByController(pidFile, guard string) (held bool, err error) {
	if guard == "" {
		guard = lockfile.GuardPath(pidFile)
	}
	if _, ok := HolderAncestor(guard); ok {
		return true, nil
	}
	if procfs.SameNamespace() != nil {
		return false, nil
	}
	h, ok := parentController()
	if !ok || sameFile(h.pidFile, pidFile) {
		return false, nil
	}
	return false, fmt.Errorf("%w: started by a controller for %s (%s holds its guard file %s), but my pid file is %s: give both the same pid file",
		ErrOtherController, h.pidFile, procfs.Describe(h.holder), h.guard, pidFile)
}

// sameFile reports whether paths a and b name the same file: the same
// existing file, or the same name once the links in their directories are
// resolved.
func sameFile(a, b string) bool {
	sa, erra := os.Stat(a)
	sb, errb := os.Stat(b)
	if erra == nil && errb == nil {
		return os.SameFile(sa, sb)
	}
	if abs, err := filepath.Abs(b); err == nil {
		b = abs
	}
	return canonical(a) == canonical(b)
}

// heldGuard is a guard file a controller holds.
type heldGuard struct {
	holder  int
	guard   string // the guard file's path, as the holder's descriptor names it
	pidFile string // the PID file it guards
}

// parentController returns the controller whose start command this
// process is: its parent, if that holds the exclusive flock of a guard
// file G (named X.lock) for this process ([controlsUs]) and is shown to
// control a PID file P whose guard G is (X.pid or X, [guardedPIDFile]).
// Only the parent is looked at: a process further down runs under a
// start command that may start other services. The parent is read
// between two reads of this process's parent link, which prove it the
// same live process throughout (a live parent's PID cannot be reused).
func parentController() (heldGuard, bool) {
	self := os.Getpid()
	parent, err := procfs.ParentOf(self)
	if err != nil || parent <= 1 {
		return heldGuard{}, false
	}
	var found []heldGuard
	for _, f := range procfs.LockedFiles(parent, ".lock") {
		ours, isMarked := heldFor(parent, f.Dev, f.Ino)
		if !ours {
			continue
		}
		if pf, ok := guardedPIDFile(parent, f, isMarked); ok {
			found = append(found, heldGuard{holder: parent, guard: f.Path, pidFile: pf})
		}
	}
	if again, err := procfs.ParentOf(self); err != nil || again != parent || len(found) == 0 {
		return heldGuard{}, false // reparented meanwhile: what was found may be another's
	}
	return found[0], true
}

// guardedPIDFile returns the PID file P whose guard file is g (held by
// pid): X.pid or X for guard X.lock (libucw's rule inverted), shown to be
// what pid controls. pid's command line names P as the argument of a PID
// file option (--pid-file P, -p P, --pid-file=P); or, if marked (pid
// names g in the DAEMONKIT_CONTROLLER variable: it is a daemonkit
// controller running this process as its start command), P exists. P
// must not exist or be a PID file ([isPIDFile]): a directory DIR/app or
// another program's file DIR/app is not.
func guardedPIDFile(pid int, g procfs.LockedFile, marked bool) (string, bool) {
	base, ok := strings.CutSuffix(g.Path, ".lock")
	if !ok || base == "" {
		return "", false
	}
	var cands []string
	for _, c := range []string{base + ".pid", base} {
		exists, pidFile := isPIDFile(c)
		if !strings.HasSuffix(c, "/") && lockfile.GuardPath(c) == g.Path && (!exists || pidFile) {
			cands = append(cands, c)
			if marked && exists {
				return c, true
			}
		}
	}
	args, cwd := procfs.CommandLine(pid)
	for _, a := range pidFileArgs(args) {
		if !filepath.IsAbs(a) {
			if cwd == "" {
				continue
			}
			a = filepath.Join(cwd, a)
		}
		a = canonical(a)
		for _, c := range cands {
			if a == filepath.Clean(c) {
				return c, true
			}
		}
	}
	return "", false
}

// pidFileArgs returns the arguments in args of the options that name a
// PID file on a controller's command line: daemonctl's -p and
// --pid-file, libucw's ucw-daemon-control's --pid-file, the usual others.
func pidFileArgs(args []string) []string {
	var out []string
	for i, a := range args {
		for _, f := range []string{"-p", "--pid-file", "-pid-file", "--pidfile", "-pidfile"} {
			if v, ok := strings.CutPrefix(a, f+"="); ok && v != "" {
				out = append(out, v)
			} else if a == f && i+1 < len(args) && args[i+1] != "" {
				out = append(out, args[i+1])
			}
		}
	}
	return out
}

// isPIDFile reports whether path exists, and whether it is a PID file: a
// regular file (not a link) whose content is empty, "(starting)" or a PID.
func isPIDFile(path string) (exists, pidFile bool) {
	f, err := os.OpenFile(path, os.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_NOCTTY, 0)
	if err != nil {
		_, lerr := os.Lstat(path)
		return lerr == nil, false
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		return true, false
	}
	b := make([]byte, pidfile.MaxContent+1)
	n, err := io.ReadFull(f, b)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return true, false
	}
	_, _, err = pidfile.ParseContent(b[:n], pidfile.PIDMax())
	return true, err == nil
}

// canonical resolves the symbolic links in the directory of path (the
// kernel names a process's open files that way), keeping its last element.
func canonical(path string) string {
	dir, err := filepath.EvalSymlinks(filepath.Dir(path))
	if err != nil {
		return filepath.Clean(path)
	}
	return filepath.Join(dir, filepath.Base(path))
}
