//go:build linux

package integration_test

import (
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/daemonkit/daemonkit/internal/proctest"
)

// identity is what a daemon's credentials must be.
type identity struct {
	uid, gid int
	groups   []int
}

// nobodyIdentity looks up user nobody and group nogroup.
func nobodyIdentity(t *testing.T) identity {
	t.Helper()
	u, err := user.Lookup("nobody")
	if err != nil {
		t.Skipf("skipped: no user nobody: %v", err)
	}
	g, err := user.LookupGroup("nogroup")
	if err != nil {
		t.Skipf("skipped: no group nogroup: %v", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(g.Gid)
	ids, _ := u.GroupIds()
	var groups []int
	for _, s := range ids {
		n, _ := strconv.Atoi(s)
		groups = append(groups, n)
	}
	if len(groups) == 0 {
		groups = []int{gid}
	}
	return identity{uid: uid, gid: gid, groups: groups}
}

// requireIdentity checks pid's real, effective, saved and filesystem ids and
// its supplementary groups in /proc/PID/status.
func requireIdentity(t *testing.T, pid int, want identity) {
	t.Helper()
	st := procStatus(t, pid)
	four := func(n int) string { return strings.TrimSpace(strings.Repeat(strconv.Itoa(n)+" ", 4)) }
	if st["Uid"] != four(want.uid) {
		t.Errorf("pid %d Uid (real, effective, saved, fs): %q, want %q", pid, st["Uid"], four(want.uid))
	}
	if st["Gid"] != four(want.gid) {
		t.Errorf("pid %d Gid (real, effective, saved, fs): %q, want %q", pid, st["Gid"], four(want.gid))
	}
	var got []int
	for _, f := range strings.Fields(st["Groups"]) {
		n, _ := strconv.Atoi(f)
		got = append(got, n)
	}
	slices.Sort(got)
	w := slices.Clone(want.groups)
	slices.Sort(w)
	if !slices.Equal(got, w) {
		t.Errorf("pid %d supplementary groups %v, want %v", pid, got, w)
	}
	// Dropped for good: no capabilities left.
	if st["CapEff"] != "0000000000000000" || st["CapPrm"] != "0000000000000000" {
		t.Errorf("pid %d kept capabilities: CapEff %s CapPrm %s", pid, st["CapEff"], st["CapPrm"])
	}
}

// requireOwner checks path's owner, group and permission bits.
func requireOwner(t *testing.T, path string, uid, gid int, perm os.FileMode) {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	if int(st.Uid) != uid || int(st.Gid) != gid || fi.Mode().Perm() != perm || !fi.Mode().IsRegular() {
		t.Errorf("%s: owner %d:%d mode %v, want %d:%d %v", path, st.Uid, st.Gid, fi.Mode(), uid, gid, perm)
	}
}

// privDir returns a temporary directory (and parent) that any user can
// search, owned by root and writable only by root.
func privDir(t *testing.T) string {
	dir := t.TempDir()
	os.Chmod(filepath.Dir(dir), 0o755)
	os.Chmod(dir, 0o755)
	return dir
}

// TestPrivilegesFramework: as root, a framework daemon started with --user
// (and --group, by name or number) runs with exactly those ids, real,
// effective, saved and filesystem, the user's supplementary groups and no
// capabilities; the launcher creates the PID file (root's, 0644) and the
// log file (the daemon's, 0640) itself; and the daemon, unprivileged, still
// empties its PID file when it stops.
func TestPrivilegesFramework(t *testing.T) {
	proctest.RequireRoot(t)
	hello := binary(t, "./examples/hello")
	ctl := binary(t, "./cmd/daemonctl")
	nobody := nobodyIdentity(t)
	cases := []struct {
		name string
		args []string
		want identity
	}{
		{"user-name", []string{"--user", "nobody"}, nobody},
		{"user-and-group-names", []string{"--user", "nobody", "--group", "nogroup"}, nobody},
		{"numeric-ids", []string{"--user", strconv.Itoa(nobody.uid), "--group", strconv.Itoa(nobody.gid)}, nobody},
		// Ids no user database knows: that uid, that gid, and only that group.
		{"unknown-numeric-ids", []string{"--user", "12345", "--group", "12346"}, identity{12345, 12346, []int{12346}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			dir := privDir(t)
			pidFile, logFile := filepath.Join(dir, "hello.pid"), filepath.Join(dir, "hello.log")
			args := append([]string{"start", "--pid-file", pidFile, "--log-file", logFile, "--interval", "10ms"}, c.args...)
			run(t, nil, hello, args...).expect(t, 0, "start "+strings.Join(c.args, " "))
			pid := daemonPID(t, pidFile)
			requireIdentity(t, pid, c.want)
			requireOwner(t, pidFile, 0, 0, 0o644)
			requireOwner(t, logFile, c.want.uid, c.want.gid, 0o640)
			waitFileContains(t, logFile, "msg=hello")

			// Stop by signal alone, so that it is the daemon (not a
			// controller) that empties the PID file.
			syscall.Kill(pid, syscall.SIGTERM)
			proctest.WaitFor(t, 10*time.Second, "the daemon to exit", func() bool { return !proctest.Alive(pid) })
			if b, err := os.ReadFile(pidFile); err != nil || len(b) != 0 {
				t.Errorf("pid file after the unprivileged daemon stopped: %q %v, want empty", b, err)
			}
			requireReleased(t, pidFile)
			requireOwner(t, pidFile, 0, 0, 0o644)
			run(t, nil, ctl, "status", "--pid-file", pidFile).expect(t, 101, "status after stop")
		})
	}
}

// TestPrivilegesBackground: as root, daemonctl start --background --user
// (and --group, by name or number) runs the command with exactly those ids
// and groups; daemonctl creates the PID file (root's, 0644) and the output
// file (0640, handed to the daemon's user and group like the framework's
// log file) itself, and stop empties the PID file.
func TestPrivilegesBackground(t *testing.T) {
	proctest.RequireRoot(t)
	fake := binary(t, "./integration_test/testdata/fakes/fakedaemon")
	ctl := binary(t, "./cmd/daemonctl")
	nobody := nobodyIdentity(t)
	cases := []struct {
		name string
		args []string
		want identity
	}{
		{"user-name", []string{"--user", "nobody"}, nobody},
		{"user-and-group-names", []string{"--user", "nobody", "--group", "nogroup"}, nobody},
		{"numeric-ids", []string{"--user", strconv.Itoa(nobody.uid), "--group", strconv.Itoa(nobody.gid)}, nobody},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			dir := privDir(t)
			pidFile, out := filepath.Join(dir, "fake.pid"), filepath.Join(dir, "fake.out")
			args := append([]string{"start", "--pid-file", pidFile, "--background", "--output", out}, c.args...)
			args = append(args, "--", fake, "-say", "hello from the daemon")
			run(t, nil, ctl, args...).expect(t, 0, "start --background "+strings.Join(c.args, " "))
			pid := daemonPID(t, pidFile)
			requireIdentity(t, pid, c.want)
			requireOwner(t, pidFile, 0, 0, 0o644)
			requireOwner(t, out, c.want.uid, c.want.gid, 0o640)
			waitFileContains(t, out, "hello from the daemon")
			run(t, nil, ctl, "stop", "--pid-file", pidFile).expect(t, 0, "stop")
			requireReleased(t, pidFile)
			if b, _ := os.ReadFile(pidFile); len(b) != 0 {
				t.Errorf("pid file after stop: %q", b)
			}
		})
	}
}

// TestRootLauncherRefusesPlantedLinks: as root, a launcher whose PID file,
// log file or output file is a symlink that an unprivileged user planted in
// a directory it controls refuses to start, and the link's target (a file
// only root may write) is unchanged: files are created and opened through
// descriptors with O_NOFOLLOW, never by following a path that user controls.
func TestRootLauncherRefusesPlantedLinks(t *testing.T) {
	proctest.RequireRoot(t)
	hello := binary(t, "./examples/hello")
	fake := binary(t, "./integration_test/testdata/fakes/fakedaemon")
	ctl := binary(t, "./cmd/daemonctl")
	nobody := nobodyIdentity(t)
	dir := privDir(t)
	precious := filepath.Join(dir, "precious")
	if err := os.WriteFile(precious, []byte("root's\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	userDir := filepath.Join(dir, "nobodys")
	os.Mkdir(userDir, 0o755)
	os.Chown(userDir, nobody.uid, nobody.gid)
	plant := func(name string) string {
		p := filepath.Join(userDir, name)
		if err := os.Symlink(precious, p); err != nil {
			t.Fatal(err)
		}
		os.Lchown(p, nobody.uid, nobody.gid)
		return p
	}
	pidLink, logLink, outLink := plant("a.pid"), plant("a.log"), plant("a.out")
	okPID := filepath.Join(dir, "ok.pid")
	for _, c := range []struct {
		name string
		bin  string
		args []string
		code int
		says string
	}{
		{"framework-pid-file", hello, []string{"start", "--pid-file", pidLink, "--user", "nobody"}, 102, pidLink}, // refused by the control check before any launch
		{"framework-log-file", hello, []string{"start", "--pid-file", okPID, "--log-file", logLink, "--user", "nobody"}, 1, logLink},
		{"background-pid-file", ctl, []string{"start", "--pid-file", pidLink, "--background", "--user", "nobody", "--", fake}, 102, pidLink},
		{"background-output", ctl, []string{"start", "--pid-file", okPID, "--background", "--user", "nobody", "--output", outLink, "--", fake}, 102, outLink},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Cleanup(func() {
				for _, arg := range []string{okPID, pidLink} {
					for _, pid := range procsWithArg(arg) {
						proctest.Kill(pid)
					}
				}
			})
			r := run(t, nil, c.bin, c.args...)
			if r.code == 0 {
				t.Fatalf("started through a planted symlink: %s", r.stderr)
			}
			r.expect(t, c.code, c.name)
			if !strings.Contains(r.stderr, c.says) {
				t.Errorf("error does not name %s: %s", c.says, r.stderr)
			}
			if b, _ := os.ReadFile(precious); string(b) != "root's\n" {
				t.Fatalf("the symlink's target was written: %q", b)
			}
			requireOwner(t, precious, 0, 0, 0o600)
			requireNoProcess(t, okPID)
		})
	}
}
