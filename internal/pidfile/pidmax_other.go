//go:build unix && !linux

package pidfile

// PIDMax returns the largest PID accepted in a PID file. Outside Linux there
// is no portable way to ask, so it is [DefaultPIDMax].
func PIDMax() int { return DefaultPIDMax }
