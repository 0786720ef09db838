//go:build linux

package background_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/daemonkit/daemonkit/background"
	"github.com/daemonkit/daemonkit/internal/proctest"
	"github.com/daemonkit/daemonkit/lockfile"
)

// Launch daemonizes sleep: when it returns, the PID file names sleep and
// is locked through sleep's inherited descriptor 3.
func ExampleLaunch() {
	dir, err := os.MkdirTemp("", "example-")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	pidFile := filepath.Join(dir, "sleep.pid")

	pid, err := background.Launch(context.Background(), background.Options{
		PIDFile: pidFile,
		Command: "sleep",
		Args:    []string{"1000"},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer proctest.Kill(pid) // a real caller would leave it running

	info, _ := lockfile.Inspect(pidFile)
	fmt.Println(info.State, info.PID == pid)
	// Output: running true
}
