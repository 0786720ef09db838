package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestRuns builds examples/httpd and this command, and checks that one
// short run prints the three rows (no timing is asserted).
func TestRuns(t *testing.T) {
	dir := t.TempDir()
	httpd, ub := filepath.Join(dir, "httpd"), filepath.Join(dir, "upgradebench")
	for bin, pkg := range map[string]string{httpd: "../../../examples/httpd", ub: "."} {
		if out, err := exec.Command("go", "build", "-o", bin, pkg).CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", pkg, err, out)
		}
	}
	t.Cleanup(func() { // a run that failed half-way may have left its daemon
		pids, _ := filepath.Glob(filepath.Join(dir, "upgradebench*", "httpd.pid"))
		for _, pf := range pids {
			exec.Command(httpd, "stop", "--pid-file", pf, "--kill-after", "5s").Run()
		}
	})
	cmd := exec.Command(ub, "-httpd", httpd, "-rounds", "2", "-phase", "200ms", "-workers", "2")
	cmd.Env = append(os.Environ(), "TMPDIR="+dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("upgradebench: %v\n%s", err, out)
	}
	for _, row := range []string{"| steady state |", "| `httpd upgrade` ×2 |", "| `httpd stop` + `httpd start` ×2 |"} {
		if !strings.Contains(string(out), row) {
			t.Errorf("no row %q in:\n%s", row, out)
		}
	}
}
