package exitrec_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/daemonkit/daemonkit/internal/exitrec"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestRoundTrip(t *testing.T) {
	pf := filepath.Join(t.TempDir(), "svc.pid")
	want := exitrec.Record{PID: 4242, Time: time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC), Status: 1, Error: "body: upstream\nconnection lost"}
	if err := exitrec.Write(pf, want); err != nil {
		t.Fatal(err)
	}
	got, err := exitrec.Read(pf)
	want.Error = "body: upstream connection lost" // one line
	if err != nil || got != want {
		t.Fatalf("Read = %+v, %v; want %+v", got, err, want)
	}
	if exitrec.Path(pf) != filepath.Join(filepath.Dir(pf), "svc.exit") || exitrec.Path("/run/x") != "/run/x.exit" {
		t.Fatalf("paths %s %s", exitrec.Path(pf), exitrec.Path("/run/x"))
	}
}

// A file at the record's path that is not a record is never written; a
// symlink is never followed.
func TestNeverOverwrites(t *testing.T) {
	dir := t.TempDir()
	pf := filepath.Join(dir, "svc.pid")
	precious := []byte("my notes\n")
	if err := os.WriteFile(exitrec.Path(pf), precious, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := exitrec.Write(pf, exitrec.Record{PID: 7, Time: time.Now(), Status: 1}); !errors.Is(err, exitrec.ErrNotRecord) {
		t.Fatalf("Write over a foreign file = %v, want ErrNotRecord", err)
	}
	if b, _ := os.ReadFile(exitrec.Path(pf)); string(b) != string(precious) {
		t.Fatalf("foreign file changed: %q", b)
	}
	target := filepath.Join(dir, "target")
	os.WriteFile(target, nil, 0o644)
	pf2 := filepath.Join(dir, "other.pid")
	os.Symlink(target, exitrec.Path(pf2))
	if err := exitrec.Write(pf2, exitrec.Record{PID: 7, Time: time.Now(), Status: 1}); err == nil {
		t.Fatal("Write followed a symlink")
	}
	if fi, _ := os.Stat(target); fi.Size() != 0 {
		t.Fatal("symlink target written")
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("daemonkit-exit 1\npid 12\ntime 2026-12-03T09:00:00Z\nstatus 1\nerror boom\n"))
	f.Add([]byte("daemonkit-exit 1\npid 1\n"))
	f.Add([]byte("12\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := exitrec.Parse(b)
		if err != nil {
			return
		}
		if r.PID <= 1 {
			t.Fatalf("accepted pid %d", r.PID)
		}
		again, err := exitrec.Parse([]byte(r.String()))
		if err != nil || again.PID != r.PID || again.Status != r.Status || !again.Time.Equal(r.Time) {
			t.Fatalf("round trip of %q: %+v, %v", b, again, err)
		}
	})
}

// A hard link to another file at the record's path (an empty one: its
// content alone would pass) is not written through.
func TestNeverWritesThroughAHardLink(t *testing.T) {
	dir := t.TempDir()
	pf := filepath.Join(dir, "svc.pid")
	other := filepath.Join(dir, "someones-empty-file")
	if err := os.WriteFile(other, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(other, exitrec.Path(pf)); err != nil {
		t.Fatal(err)
	}
	if err := exitrec.Write(pf, exitrec.Record{PID: 7, Time: time.Now(), Status: 1}); !errors.Is(err, exitrec.ErrNotRecord) {
		t.Fatalf("Write through a hard link = %v, want ErrNotRecord", err)
	}
	if b, _ := os.ReadFile(other); len(b) != 0 {
		t.Fatalf("linked file written: %q", b)
	}
}
