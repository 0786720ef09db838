//go:build linux

package procfs

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// ReadStat reads /proc/PID/stat. It returns [ErrGone] if pid does not
// exist; a zombie is returned with State 'Z' (see [Stat.Gone]).
func ReadStat(pid int) (Stat, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if gone(err) {
		return Stat{}, ErrGone
	}
	if err != nil {
		return Stat{}, fmt.Errorf("procfs: cannot tell whether pid %d exists: %w", pid, err)
	}
	st, err := parseStat(b)
	if err != nil {
		return Stat{}, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	return st, nil
}

// parseStat parses "pid (comm) S ppid pgrp ...": comm may hold anything,
// including spaces and parentheses, but ends at the last ')'.
func parseStat(b []byte) (Stat, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return Stat{}, errors.New("cannot parse: no ')' after the command name")
	}
	f := bytes.Fields(b[i+1:])
	if len(f) < 3 || len(f[0]) != 1 {
		return Stat{}, errors.New("cannot parse: too few fields")
	}
	ppid, err := strconv.Atoi(string(f[1]))
	if err != nil {
		return Stat{}, fmt.Errorf("cannot parse the parent pid: %w", err)
	}
	pgrp, err := strconv.Atoi(string(f[2]))
	if err != nil {
		return Stat{}, fmt.Errorf("cannot parse the process group: %w", err)
	}
	return Stat{State: f[0][0], PPID: ppid, PGRP: pgrp}, nil
}

// ParentOf returns the parent PID of pid (also of a zombie, whose parent
// has not reaped it yet), or [ErrGone].
func ParentOf(pid int) (int, error) {
	st, err := ReadStat(pid)
	if err != nil {
		return 0, err
	}
	return st.PPID, nil
}

// IsDescendant reports whether pid is a descendant of ancestor, walking
// the parent chain (at most 1024 steps).
func IsDescendant(pid, ancestor int) bool {
	for range 1024 {
		ppid, err := ParentOf(pid)
		if err != nil || ppid <= 1 {
			return false
		}
		if ppid == ancestor {
			return true
		}
		pid = ppid
	}
	return false
}

// pids lists the numeric entries of /proc.
func pids() ([]int, error) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	out := make([]int, 0, len(ents))
	for _, e := range ents {
		if pid, err := strconv.Atoi(e.Name()); err == nil && pid > 0 {
			out = append(out, pid)
		}
	}
	return out, nil
}

// gone reports whether err from reading /proc/PID/... means that the
// process does not exist. Only ENOENT and ESRCH say so; anything else
// (EMFILE, EACCES, ENOMEM, ...) means that we cannot tell.
func gone(err error) bool {
	return errors.Is(err, os.ErrNotExist) || errors.Is(err, unix.ESRCH)
}

// openFDs returns the descriptors of pid that are open on the file dev/ino,
// as "/proc/PID/fd/N" paths. It returns [ErrGone] if pid does not exist or
// is a zombie, and another error if it cannot tell.
func openFDs(pid int, dev, ino uint64) ([]string, error) {
	st, err := ReadStat(pid)
	if err != nil {
		return nil, err
	}
	if st.Gone() {
		return nil, ErrGone
	}
	dir := "/proc/" + strconv.Itoa(pid) + "/fd"
	ents, err := os.ReadDir(dir)
	if gone(err) {
		return nil, ErrGone
	}
	if err != nil {
		return nil, fmt.Errorf("procfs: list the descriptors of pid %d: %w", pid, err)
	}
	var out []string
	for _, e := range ents {
		var st unix.Stat_t
		if unix.Stat(dir+"/"+e.Name(), &st) == nil && uint64(st.Dev) == dev && uint64(st.Ino) == ino {
			out = append(out, dir+"/"+e.Name())
		}
	}
	return out, nil
}

// HoldsLock reports whether process pid holds an exclusive flock(2) lock
// on the file dev/ino: whether one of its descriptors refers to the open
// file description that owns the lock. A flock lock belongs to an open
// file description, and the kernel lists it (a "lock:" line of type FLOCK
// and WRITE) in /proc/PID/fdinfo/N of every descriptor that refers to that
// description, and of no other. A process that merely has the same file
// open through its own open(2), or holds only a shared lock, does not hold
// it. It returns [ErrGone] if pid does not exist or is a zombie, and another
// error if it cannot tell (e.g. /proc/PID/fd is not readable for lack of
// privilege, or no descriptor is left to read it with).
func HoldsLock(pid int, dev, ino uint64) (bool, error) {
	_, held, err := HolderFD(pid, dev, ino)
	return held, err
}

// HolderFD is [HoldsLock] that also returns what /proc/PID/fdinfo/N says
// of the descriptor N through which pid holds the lock, read in the same
// read as its "lock:" line: so it describes the holding descriptor, even
// if descriptors are closed and reused meanwhile. It returns an error if
// the flags or the position cannot be read.
func HolderFD(pid int, dev, ino uint64) (fd FDInfo, held bool, err error) {
	fds, err := openFDs(pid, dev, ino)
	if err != nil {
		return FDInfo{}, false, err
	}
	for _, p := range fds {
		b, err := os.ReadFile(strings.Replace(p, "/fd/", "/fdinfo/", 1))
		if gone(err) {
			continue // closed meanwhile
		}
		if err != nil {
			return FDInfo{}, false, fmt.Errorf("procfs: read the locks of pid %d: %w", pid, err)
		}
		if !exclusiveFlock(b, ino) {
			continue
		}
		flags, okf := fdField(b, "flags:", 8)
		pos, okp := fdField(b, "pos:", 10)
		if !okf || !okp {
			return FDInfo{}, true, fmt.Errorf("procfs: no flags or position in %s", p)
		}
		return FDInfo{Flags: flags, Pos: pos}, true, nil
	}
	return FDInfo{}, false, nil
}

// fdField returns the value of fdinfo content's line starting with name,
// a number in base.
func fdField(fdinfo []byte, name string, base int) (uint64, bool) {
	for line := range bytes.Lines(fdinfo) {
		if v, ok := bytes.CutPrefix(line, []byte(name)); ok {
			n, err := strconv.ParseUint(string(bytes.TrimSpace(v)), base, 64)
			return n, err == nil
		}
	}
	return 0, false
}

// exclusiveFlock reports whether fdinfo content lists an exclusive flock
// lock of the file with inode ino, e.g. "lock:\t1: FLOCK  ADVISORY  WRITE
// 1234 00:2d:5678 0 EOF" for ino 5678. The inode ties the line to the
// file that was stat'ed: between that stat and reading fdinfo the
// descriptor may have been closed and reused for another, locked, file.
// Only the inode is compared: the device shown (the superblock's) is not
// st_dev on every file system (btrfs).
func exclusiveFlock(fdinfo []byte, ino uint64) bool {
	for line := range bytes.Lines(fdinfo) {
		rest, ok := bytes.CutPrefix(line, []byte("lock:"))
		if !ok {
			continue
		}
		f := bytes.Fields(rest)
		if len(f) < 6 || string(f[1]) != "FLOCK" || string(f[3]) != "WRITE" {
			continue
		}
		id := f[5]
		if i := bytes.LastIndexByte(id, ':'); i >= 0 {
			id = id[i+1:]
		}
		if n, err := strconv.ParseUint(string(id), 10, 64); err == nil && n == ino {
			return true
		}
	}
	return false
}

// Describe returns what is known about pid, for messages.
func Describe(pid int) Process {
	p := Process{PID: pid, UID: -1, Comm: Comm(pid)}
	var st unix.Stat_t
	if unix.Stat("/proc/"+strconv.Itoa(pid), &st) == nil {
		p.UID = int(st.Uid)
	}
	return p
}

// LockHolders returns the live processes that hold an exclusive flock(2)
// lock on the file dev/ino (see [HoldsLock]), as far as this process may
// look: processes whose descriptors it may not read are left out.
func LockHolders(dev, ino uint64) ([]Process, error) {
	all, err := pids()
	if err != nil {
		return nil, err
	}
	var out []Process
	for _, pid := range all {
		if ok, err := HoldsLock(pid, dev, ino); err == nil && ok {
			out = append(out, Describe(pid))
		}
	}
	return out, nil
}

// SameNamespace checks that /proc shows the calling process's own PID
// namespace, so that what it says about PID N is about the process that
// kill(2) and pidfd_open(2) reach as N. It returns an error wrapping
// [ErrForeignProc] if not, or the error that kept it from telling.
func SameNamespace() error {
	s, err := os.Readlink("/proc/self")
	if err != nil {
		return fmt.Errorf("procfs: cannot tell which PID namespace /proc shows: %w", err)
	}
	if s != strconv.Itoa(os.Getpid()) {
		return fmt.Errorf("%w: /proc/self is %s but this process is pid %d; mount a /proc of this namespace (unshare --mount-proc)",
			ErrForeignProc, s, os.Getpid())
	}
	return nil
}

// Comm returns the command name of pid (/proc/PID/comm), or "" if it
// cannot be read.
func Comm(pid int) string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm")
	if err != nil {
		return ""
	}
	return string(bytes.TrimSpace(b))
}

// LockedFile is a file whose exclusive flock a process holds.
type LockedFile struct {
	Path     string // as the process's descriptor names it
	Dev, Ino uint64
}

// LockedFiles returns the regular files named "*suffix" whose exclusive
// flock pid holds ([HoldsLock]), as far as its descriptors can be read.
func LockedFiles(pid int, suffix string) []LockedFile {
	dir := "/proc/" + strconv.Itoa(pid) + "/fd/"
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var out []LockedFile
	for _, e := range ents {
		path, err := os.Readlink(dir + e.Name())
		if err != nil || !strings.HasPrefix(path, "/") || !strings.HasSuffix(path, suffix) {
			continue
		}
		var st unix.Stat_t
		if unix.Stat(dir+e.Name(), &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFREG {
			continue
		}
		f := LockedFile{Path: path, Dev: uint64(st.Dev), Ino: uint64(st.Ino)}
		if held, err := HoldsLock(pid, f.Dev, f.Ino); err == nil && held {
			out = append(out, f)
		}
	}
	return out
}

// CommandLine returns the arguments and working directory of pid ("" if
// unreadable).
func CommandLine(pid int) ([]string, string) {
	p := "/proc/" + strconv.Itoa(pid)
	b, err := os.ReadFile(p + "/cmdline")
	if err != nil {
		return nil, ""
	}
	var args []string
	for a := range bytes.SplitSeq(bytes.TrimSuffix(b, []byte{0}), []byte{0}) {
		args = append(args, string(a))
	}
	cwd, _ := os.Readlink(p + "/cwd")
	return args, cwd
}

// Children maps each live process in /proc (but PID 1) to the PIDs of its
// live children, as far as /proc can be read.
func Children() map[int][]int {
	out := make(map[int][]int)
	all, err := pids()
	if err != nil {
		return out
	}
	for _, pid := range all {
		if pid <= 1 {
			continue
		}
		if st, err := ReadStat(pid); err == nil && !st.Gone() {
			out[st.PPID] = append(out[st.PPID], pid)
		}
	}
	return out
}
