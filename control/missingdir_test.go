//go:build linux

package control_test

import (
	"errors"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"

	"github.com/daemonkit/daemonkit/control"
)

// TestMissingDirectory: a PID file in a directory that does not exist is
// not running for Check (as a missing file is); start and stop report the
// missing directory, not a failure to open the guard file.
func TestMissingDirectory(t *testing.T) {
	f := newFixture(t)
	dir := filepath.Join(f.dir, "no-such-dir")
	o := f.opts()
	o.PIDFile = filepath.Join(dir, "d.pid")
	res, err := control.Check(ctxFor(t, long), o)
	want(t, "check", res, err, control.StatusNotRunning)
	for name, act := range map[string]func() (control.Result, error){
		"start": func() (control.Result, error) { return control.Start(ctxFor(t, long), o, f.cmd()) },
		"stop":  func() (control.Result, error) { return control.Stop(ctxFor(t, long), o) },
	} {
		res, err := act()
		want(t, name, res, err, control.StatusFailed)
		if !strings.Contains(err.Error(), "directory "+dir+" (of pid file "+o.PIDFile+") does not exist") || !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s: error %v; want the missing directory named", name, err)
		}
	}
}
