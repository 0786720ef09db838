//go:build linux

package fdutil_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/goleak"
	"golang.org/x/sys/unix"

	"github.com/daemonkit/daemonkit/internal/fdutil"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestCloseOnExecFromKeepsStrayDescriptorsOutOfChildren(t *testing.T) {
	dir := t.TempDir()
	canary := filepath.Join(dir, "leaked-canary")
	fd, err := unix.Open(canary, unix.O_RDWR|unix.O_CREAT, 0o600) // no O_CLOEXEC: a leaked descriptor
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	passed, err := os.Create(filepath.Join(dir, "passed-on-purpose"))
	if err != nil {
		t.Fatal(err)
	}
	defer passed.Close()

	list := func() string {
		cmd := exec.Command("sh", "-c", "ls -l /proc/self/fd/")
		cmd.ExtraFiles = []*os.File{passed}
		out, err := cmd.Output()
		if err != nil {
			t.Fatal(err)
		}
		return string(out)
	}
	if before := list(); !strings.Contains(before, "leaked-canary") {
		t.Fatalf("test setup: the canary did not leak to begin with:\n%s", before)
	}
	fdutil.CloseOnExecFrom(3)
	after := list()
	if strings.Contains(after, "leaked-canary") {
		t.Errorf("stray descriptor reached the child:\n%s", after)
	}
	if !strings.Contains(after, "3 -> "+passed.Name()) {
		t.Errorf("ExtraFiles descriptor 3 missing in the child:\n%s", after)
	}
}
