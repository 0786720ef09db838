package launch

import (
	"errors"
	"fmt"
	"os"
)

// PIDFileFD is the descriptor under which every daemon daemonkit starts
// inherits its locked PID file; the caller's own descriptors follow it
// from 4 on.
const PIDFileFD = 3

// MaxReadyFD is the largest descriptor accepted for a readiness pipe
// (daemonctl start --background --ready-fd).
const MaxReadyFD = 255

// CheckDir reports a working directory that does not exist or is not a
// directory before anything is started: the failing chdir in the child
// would otherwise be reported as if the command could not be run. label
// names the setting in the message ("working directory (--chdir)").
func CheckDir(label, dir string) error {
	st, err := os.Stat(dir)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err // its message would repeat the path
		}
		return fmt.Errorf("%s %s: %w", label, dir, err)
	}
	if !st.IsDir() {
		return fmt.Errorf("%s %s: not a directory", label, dir)
	}
	return nil
}
