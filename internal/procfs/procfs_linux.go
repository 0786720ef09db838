//go:build linux

package procfs

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// ReadStat reads /proc/PID/stat. It returns [ErrGone] if pid does not
// exist; a zombie is returned with State 'Z' (see [Stat.Gone]).
func ReadStat(pid int) (Stat, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if errors.Is(err, os.ErrNotExist) || errors.Is(err, unix.ESRCH) {
		return Stat{}, ErrGone
	}
	if err != nil {
		return Stat{}, err
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

// GroupAlive reports whether process group pgid has a member that is not
// a zombie. Zombies are left out because they hold no resources and may
// never be reaped where PID 1 does not reap orphans.
func GroupAlive(pgid int) (bool, error) {
	if pgid <= 1 {
		return false, fmt.Errorf("procfs: process group %d: not a valid group", pgid)
	}
	if unix.Kill(-pgid, 0) == unix.ESRCH {
		return false, nil
	}
	all, err := pids()
	if err != nil {
		return false, err
	}
	for _, pid := range all {
		if st, err := ReadStat(pid); err == nil && st.PGRP == pgid && !st.Gone() {
			return true, nil
		}
	}
	return false, nil
}

// HasOpen reports whether process pid has the file dev/ino open. It
// returns [ErrGone] if pid does not exist or is a zombie, and another
// error if it cannot tell (e.g. /proc/PID/fd is not readable for lack of
// privilege).
func HasOpen(pid int, dev, ino uint64) (bool, error) {
	if st, err := ReadStat(pid); err != nil || st.Gone() {
		return false, ErrGone
	}
	dir := "/proc/" + strconv.Itoa(pid) + "/fd"
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) || errors.Is(err, unix.ESRCH) {
		return false, ErrGone
	}
	if err != nil {
		return false, err
	}
	for _, e := range ents {
		var st unix.Stat_t
		if unix.Stat(dir+"/"+e.Name(), &st) == nil && uint64(st.Dev) == dev && uint64(st.Ino) == ino {
			return true, nil
		}
	}
	return false, nil
}

// Holders returns the PIDs of the live processes that have the file
// dev/ino open, as far as this process may look (processes whose
// /proc/PID/fd it cannot read are left out).
func Holders(dev, ino uint64) ([]int, error) {
	all, err := pids()
	if err != nil {
		return nil, err
	}
	var out []int
	for _, pid := range all {
		if ok, err := HasOpen(pid, dev, ino); err == nil && ok {
			out = append(out, pid)
		}
	}
	return out, nil
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
