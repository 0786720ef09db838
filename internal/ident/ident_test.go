//go:build linux

package ident

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"testing"

	"go.uber.org/goleak"
)

// helperEnv makes the test binary run asUser instead of the tests: it
// resolves $IDENT_USER/$IDENT_GROUP and runs /bin/true with the result.
const helperEnv = "IDENT_TEST_HELPER"

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		id, err := Resolve(os.Getenv("IDENT_USER"), os.Getenv("IDENT_GROUP"))
		if err != nil {
			fmt.Printf("error needroot=%v: %v\n", errors.Is(err, ErrNeedRoot), err)
			os.Exit(0)
		}
		cmd := exec.Command("/bin/true")
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: id.Cred}
		fmt.Printf("cred=%v run=%v\n", id.Cred != nil, cmd.Run())
		os.Exit(0)
	}
	goleak.VerifyTestMain(m)
}

func requireRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to switch identities")
	}
}

func ids(t *testing.T, name string) (uid, gid uint32) {
	u, err := user.Lookup(name)
	if err != nil {
		t.Skipf("no user %s: %v", name, err)
	}
	a, _ := strconv.ParseUint(u.Uid, 10, 32)
	b, _ := strconv.ParseUint(u.Gid, 10, 32)
	return uint32(a), uint32(b)
}

func TestResolveAsRoot(t *testing.T) {
	requireRoot(t)
	nuid, ngid := ids(t, "nobody")
	g, err := user.LookupGroup("nogroup")
	if err != nil {
		t.Skipf("no group nogroup: %v", err)
	}
	nogroup, _ := strconv.ParseUint(g.Gid, 10, 32)
	for _, c := range []struct {
		user, group string
		uid, gid    uint32
		groups      []uint32
	}{
		{"nobody", "", nuid, ngid, []uint32{ngid}},
		{strconv.Itoa(int(nuid)), "", nuid, ngid, []uint32{ngid}},
		{"nobody", "nogroup", nuid, uint32(nogroup), []uint32{uint32(nogroup)}},
		{"12345", "", 12345, 12345, []uint32{12345}},
		{"12345", "12346", 12345, 12346, []uint32{12346}},
		{"", "12346", 0, 12346, []uint32{12346}},
		{"nobody", "12346", nuid, 12346, []uint32{12346}},
	} {
		id, err := Resolve(c.user, c.group)
		if err != nil || id.Cred == nil {
			t.Errorf("Resolve(%q, %q): %+v, %v", c.user, c.group, id, err)
			continue
		}
		groups := slices.Clone(id.Cred.Groups)
		slices.Sort(groups)
		if id.Cred.Uid != c.uid || id.Cred.Gid != c.gid || !slices.Equal(groups, c.groups) {
			t.Errorf("Resolve(%q, %q) = uid %d gid %d groups %v; want %d %d %v", c.user, c.group,
				id.Cred.Uid, id.Cred.Gid, groups, c.uid, c.gid, c.groups)
		}
	}
	if id, _ := Resolve("12345", ""); id.Name != "12345" || id.Home != "/" {
		t.Errorf("unknown uid: name %q home %q", id.Name, id.Home)
	}
	for _, c := range [][2]string{{"no-such-user-daemonkit", ""}, {"", "no-such-group-daemonkit"}, {"nobody", "no-such-group-daemonkit"}} {
		if _, err := Resolve(c[0], c[1]); err == nil {
			t.Errorf("Resolve(%q, %q) accepted", c[0], c[1])
		}
	}
	if id, err := Resolve("", ""); id.Cred != nil || err != nil {
		t.Errorf("Resolve of nothing: %+v %v", id, err)
	}
}

// TestResolveNotRoot: a caller that is not root may name itself (nothing
// changes, and starting a process works: no setgroups), and nobody else.
func TestResolveNotRoot(t *testing.T) {
	requireRoot(t)
	nuid, ngid := ids(t, "nobody")
	// A copy of the test binary that nobody may run.
	dir, err := os.MkdirTemp("", "ident-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	bin := filepath.Join(dir, "ident.test")
	src, err := os.Open(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.OpenFile(bin, os.O_CREATE|os.O_WRONLY, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	dst.Close()
	for _, c := range []struct{ user, group, want string }{
		{"nobody", "", "cred=false run=<nil>\n"},
		{strconv.Itoa(int(nuid)), strconv.Itoa(int(ngid)), "cred=false run=<nil>\n"},
		{"", strconv.Itoa(int(ngid)), "cred=false run=<nil>\n"},
		{"root", "", "needroot=true"},
		{"nobody", "12346", "needroot=true"},
	} {
		cmd := exec.Command(bin)
		cmd.Env = append(os.Environ(), helperEnv+"=1", "IDENT_USER="+c.user, "IDENT_GROUP="+c.group)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nuid, Gid: ngid, Groups: []uint32{ngid}}}
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("helper as nobody: %v", err)
		}
		if s := string(out); !(s == c.want || c.want == "needroot=true" && len(s) > 20 && s[:20] == "error needroot=true:") {
			t.Errorf("as nobody, Resolve(%q, %q): %q, want %q", c.user, c.group, s, c.want)
		}
	}
}
