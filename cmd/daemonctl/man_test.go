package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/spf13/cobra/doc"
)

// updateMan rewrites docs/man from the commands: go generate ./cmd/daemonctl
var updateMan = flag.Bool("update-man", false, "rewrite docs/man/*.1 from the cobra commands")

// manDir holds the checked-in man pages.
const manDir = "../../docs/man"

// genMan writes daemonctl(1) and one page per verb into dir.
func genMan(t *testing.T, dir string) {
	t.Helper()
	root := new(cli).commands()
	root.InitDefaultHelpFlag()
	root.InitDefaultVersionFlag()
	root.DisableAutoGenTag = true
	date := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) // fixed: the pages must not change by themselves
	header := &doc.GenManHeader{Title: "DAEMONCTL", Section: "1", Source: "daemonkit", Manual: "daemonkit manual", Date: &date}
	if err := doc.GenManTree(root, header, dir); err != nil {
		t.Fatal(err)
	}
}

// TestManPages: the man pages under docs/man are what the commands
// generate (run `go generate ./cmd/daemonctl` after changing a command's
// help or flags).
func TestManPages(t *testing.T) {
	dir := manDir
	if !*updateMan {
		dir = t.TempDir()
	}
	genMan(t, dir)
	if *updateMan {
		return
	}
	gen, _ := filepath.Glob(filepath.Join(dir, "*.1"))
	have, _ := filepath.Glob(filepath.Join(manDir, "*.1"))
	names := func(ps []string) []string {
		var n []string
		for _, p := range ps {
			n = append(n, filepath.Base(p))
		}
		return n
	}
	if !slices.Equal(names(gen), names(have)) {
		t.Fatalf("docs/man has %q, the commands generate %q: run go generate ./cmd/daemonctl", names(have), names(gen))
	}
	if len(gen) < 7 {
		t.Fatalf("generated %q: want daemonctl.1 and one page per verb", names(gen))
	}
	for _, p := range gen {
		want, _ := os.ReadFile(p)
		got, err := os.ReadFile(filepath.Join(manDir, filepath.Base(p)))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("docs/man/%s differs from what the commands generate (%v): run go generate ./cmd/daemonctl", filepath.Base(p), err)
		}
	}
}
