//go:build linux

package control

import (
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/daemonkit/daemonkit/internal/pidfd"
	"github.com/daemonkit/daemonkit/internal/procfs"
)

// treeAttr returns the attributes that start a command with a pidfd for
// it, and where the pidfd will be (-1 if none could be had).
func treeAttr() (*syscall.SysProcAttr, *int) {
	fd := -1
	return &syscall.SysProcAttr{PidFD: &fd}, &fd
}

// member is a process of a tree, held through a pidfd, which refers to
// that process even after it exits and its PID is reused.
type member struct {
	pid, fd int
}

// tree is a start command's process tree: the command and its
// descendants, found through their parent links in /proc. The command is
// not put in a process group of its own (it may want to call setsid(2)),
// so its group cannot be signalled instead. A descendant whose parent
// exited before the tree was looked at has been reparented and is not
// found (as a process that left the group was not signalled either).
type tree struct {
	members []member // the command first
}

// newTree returns the tree of the command pid, held through *pidfd, or nil
// if it has no pidfd or /proc does not show our PID namespace: then only
// the command is signalled.
func newTree(pid int, pidfd *int) *tree {
	if pidfd == nil || *pidfd < 0 {
		return nil
	}
	if procfs.SameNamespace() != nil {
		unix.Close(*pidfd)
		return nil
	}
	return &tree{members: []member{{pid: pid, fd: *pidfd}}}
}

// exited reports whether the process held by pidfd fd has exited (a
// zombie counts as exited: it holds nothing any more).
func exited(fd int) bool {
	exited, _, err := pidfd.Wait(fd, time.Now(), -1)
	return err != nil || exited
}

// grow adds the descendants of the live members that it does not hold
// yet, and returns how many it added. A process is taken for a member's
// child only if, after its pidfd was opened, /proc names that member as
// its parent and both are still alive: a live parent's PID cannot have
// been reused, and the pidfd then refers to the process that was read.
func (t *tree) grow() int {
	held := make(map[int]bool, len(t.members))
	for _, m := range t.members {
		held[m.pid] = true
	}
	kids := procfs.Children()
	added := 0
	for i := 0; i < len(t.members); i++ {
		parent := t.members[i]
		if exited(parent.fd) {
			continue
		}
		for _, pid := range kids[parent.pid] {
			if held[pid] {
				continue
			}
			fd, err := unix.PidfdOpen(pid, 0)
			if err != nil {
				continue
			}
			st, err := procfs.ReadStat(pid)
			if err != nil || st.PPID != parent.pid || exited(fd) || exited(parent.fd) {
				unix.Close(fd)
				continue
			}
			held[pid] = true
			t.members = append(t.members, member{pid: pid, fd: fd})
			added++
		}
	}
	return added
}

// signal sends sig to the tree as it is now, and keeps holding it.
func (t *tree) signal(sig syscall.Signal) {
	t.grow()
	t.send(sig)
}

// send sends sig to every member held.
func (t *tree) send(sig syscall.Signal) {
	for _, m := range t.members {
		unix.PidfdSendSignal(m.fd, sig, nil, 0)
	}
}

// maxRounds bounds how often kill looks for new members.
const maxRounds = 100

// kill ends the tree with SIGKILL. It first stops it with SIGSTOP, member
// by member, until no member forks a new one (a stopped process cannot
// fork, and exits only by SIGKILL), so that no child is reparented out of
// reach while its parent dies, then kills every member. It looks for new
// members (a scan of /proc each) at most maxRounds times and not after
// by: then it kills what it holds.
func (t *tree) kill(by time.Time) {
	t.grow()
	for range maxRounds {
		t.send(syscall.SIGSTOP)
		if time.Now().After(by) || t.grow() == 0 {
			break
		}
	}
	t.send(syscall.SIGKILL)
}

// waitExit waits until every member held has exited, or until deadline.
func (t *tree) waitExit(deadline time.Time) {
	for _, m := range t.members {
		if time.Now().After(deadline) {
			return
		}
		pidfd.Wait(m.fd, deadline, -1)
	}
}

// close closes the pidfds.
func (t *tree) close() {
	for _, m := range t.members {
		unix.Close(m.fd)
	}
	t.members = nil
}
