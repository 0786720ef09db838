package fdutil

import "golang.org/x/sys/unix"

func closeRangeCloexec(from int) error {
	return unix.CloseRange(uint(from), ^uint(0), unix.CLOSE_RANGE_CLOEXEC)
}
