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
// reported as such, not as a failure to open the guard file.
func TestMissingDirectory(t *testing.T) {
	f := newFixture(t)
	dir := filepath.Join(f.dir, "no-such-dir")
	o := f.opts()
	o.PIDFile = filepath.Join(dir, "d.pid")
	for name, act := range map[string]func() (control.Result, error){
		"check": func() (control.Result, error) { return control.Check(ctxFor(t, long), o) },
		"start": func() (control.Result, error) { return control.Start(ctxFor(t, long), o, f.cmd()) },
		"stop":  func() (control.Result, error) { return control.Stop(ctxFor(t, long), o) },
	} {
		res, err := act()
		want(t, name, res, err, control.Error)
		if !strings.Contains(err.Error(), "directory "+dir+" (of pid file "+o.PIDFile+") does not exist") || !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s: error %v; want the missing directory named", name, err)
		}
	}
}
