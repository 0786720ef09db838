package verbs

import "github.com/daemonkit/daemonkit/control"

// LSB init-script exit statuses (Linux Standard Base, "Init Script
// Actions"). status has its own: [LSBRunning], [LSBDeadPIDFile],
// [LSBNotRunning], [LSBUnknown]; every other action uses [LSBSuccess],
// [LSBFailed], [LSBInvalidArgs], [LSBUnimplemented] and
// [LSBProgramNotRunning].
const (
	LSBSuccess           = 0 // the action succeeded, or there was nothing to do
	LSBFailed            = 1 // generic or unspecified error
	LSBInvalidArgs       = 2 // invalid or excess arguments
	LSBUnimplemented     = 3 // unimplemented feature
	LSBProgramNotRunning = 7 // reload or signal: the program is not running

	LSBRunning     = 0 // status: running (or starting, or stopping)
	LSBDeadPIDFile = 1 // status: dead, and the PID file exists (stale)
	LSBNotRunning  = 3 // status: not running
	LSBUnknown     = 4 // status: unknown (a failure, a usage error)
)

// LSBCode maps code, the exit status of verb in libucw's convention (a
// [control.Status] value or [ExitUsage]), to the LSB init-script
// convention. status and check use the status table; start, stop,
// restart, reload, signal and "" (no verb given) the actions' one; any
// other verb (run, help) keeps its code.
//
// For the actions, "already done" is success (start on a running daemon,
// stop on a stopped one), and so is a stale PID file the action cleaned
// up: a start that found it started the daemon, a stop that found it left
// nothing running. A failed action reports [control.StatusFailed] instead.
func LSBCode(verb string, code int) int {
	switch verb {
	case "status", "check":
		switch control.Status(code) {
		case control.StatusOK:
			return LSBRunning
		case control.StatusStale:
			return LSBDeadPIDFile
		case control.StatusNotRunning:
			return LSBNotRunning
		}
		return LSBUnknown
	case "", "start", "stop", "restart", "reload", "upgrade", "signal": // "": no verb (a usage error)
		if code == ExitUsage {
			return LSBInvalidArgs
		}
		switch control.Status(code) {
		case control.StatusOK, control.StatusAlreadyDone:
			return LSBSuccess
		case control.StatusStale:
			if verb == "reload" || verb == "signal" || verb == "upgrade" {
				return LSBProgramNotRunning // the daemon died: nothing was signalled
			}
			return LSBSuccess
		case control.StatusNotRunning:
			return LSBProgramNotRunning
		}
		return LSBFailed
	}
	return code
}

// LSBRequested reports whether args (a command line without the program
// name) ask for LSB exit statuses: --lsb before any "--". It lets a usage
// error found before the flag was parsed still be reported in LSB terms.
func LSBRequested(args []string) bool {
	for _, a := range args {
		switch a {
		case "--":
			return false
		case "--lsb", "-lsb", "--lsb=true", "-lsb=true":
			return true
		}
	}
	return false
}
