//go:build linux

package control

// Signal numbers on Linux: 64 signals; real-time signals as numbered by
// glibc (SIGRTMIN is 34 there because glibc reserves 32 and 33), which is
// what kill(1) and the daemons it talks to use.
const (
	maxSignal = 64
	rtMin     = 34
	rtMax     = 64
)
