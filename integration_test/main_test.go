//go:build linux

// Package integration_test builds daemonkit's binaries and example daemons
// and drives them as real processes: real sessions, signals and locks.
package integration_test

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"go.uber.org/goleak"

	"github.com/daemonkit/daemonkit/internal/proctest"
)

// bins caches binaries built once per test run into binDir.
var bins struct {
	sync.Mutex
	dir   string
	built map[string]string
	err   map[string]error
}

func TestMain(m *testing.M) {
	if err := proctest.Subreaper(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	root, err := os.MkdirTemp("", "daemonkit-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bins.dir = filepath.Join(root, "bin")
	os.Mkdir(bins.dir, 0o755)
	code := m.Run()
	os.RemoveAll(root)
	// The library code these tests call in-process (lockfile, control)
	// must leave no goroutine behind.
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// binary returns the path of the binary built from the module-relative
// package pkg (e.g. "./cmd/daemonctl"), building it on first use. The
// directory is world-searchable so the binary runs as user nobody too.
func binary(t testing.TB, pkg string) string {
	t.Helper()
	bins.Lock()
	defer bins.Unlock()
	if bins.built == nil {
		bins.built, bins.err = map[string]string{}, map[string]error{}
	}
	if p, ok := bins.built[pkg]; ok {
		return p
	}
	if err, ok := bins.err[pkg]; ok {
		t.Fatal(err)
	}
	p, err := proctest.Build(bins.dir, pkg)
	if err != nil {
		bins.err[pkg] = err
		t.Fatal(err)
	}
	bins.built[pkg] = p
	return p
}
