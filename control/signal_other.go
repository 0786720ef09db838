//go:build unix && !linux

package control

// Outside Linux only the classic signals are accepted by number, and
// real-time signal names are not understood.
const (
	maxSignal = 31
	rtMin     = 0
	rtMax     = 0
)
