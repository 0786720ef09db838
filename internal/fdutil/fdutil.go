//go:build unix

// Package fdutil keeps stray descriptors out of the processes daemonkit
// starts.
//
// Go's os/exec passes a child exactly the descriptors that are not
// close-on-exec, and relies on everything else being marked so. A process
// may have inherited descriptors without that mark (a shell, a CI runner or
// an init system can leak some); a launcher that re-executes itself or
// starts a daemon would pass them on for the daemon's whole life. Before
// starting a daemon, the launcher calls [CloseOnExecFrom].
package fdutil

import (
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// CloseOnExecFrom marks every open descriptor >= from close-on-exec. Files
// handed to os/exec through ExtraFiles are still passed (exec duplicates
// them onto their target numbers). On Linux 5.11 and later this is one
// close_range(2) call; elsewhere it reads /proc/self/fd, or /dev/fd where
// there is no /proc; where neither can be listed it marks descriptors up to
// the RLIMIT_NOFILE soft limit, at most 65536.
func CloseOnExecFrom(from int) {
	if closeRangeCloexec(from) == nil {
		return
	}
	for _, dir := range []string{"/proc/self/fd", "/dev/fd"} {
		names, err := readDirNames(dir)
		if err != nil {
			continue
		}
		for _, name := range names {
			if fd, err := strconv.Atoi(name); err == nil && fd >= from {
				unix.CloseOnExec(fd)
			}
		}
		return
	}
	var lim unix.Rlimit
	limit := uint64(1024)
	if unix.Getrlimit(unix.RLIMIT_NOFILE, &lim) == nil && lim.Cur > 0 {
		limit = min(uint64(lim.Cur), 65536)
	}
	for fd := from; uint64(fd) < limit; fd++ {
		unix.CloseOnExec(fd)
	}
}

func readDirNames(dir string) ([]string, error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return f.Readdirnames(-1)
}
