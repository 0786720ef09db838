package framework

import (
	"path/filepath"
	"slices"
	"testing"
)

// TestDaemonArgs: the daemon stage's argv says start whatever the verb,
// and every path flag carries its absolute value, given or default; other
// flags and values are passed on as given.
func TestDaemonArgs(t *testing.T) {
	t.Chdir(t.TempDir())
	wd, _ := filepath.Abs(".")
	d := New(Config{Name: "svc"})
	var config, data string
	d.PathVar(&config, "config", "default.conf", "")
	d.PathVar(&data, "data", "", "")
	d.Flags().String("name", "", "")
	for _, c := range []struct{ in, want []string }{
		{[]string{"svc", "restart", "--config", "rel.conf", "--name", "restart"},
			[]string{"svc", "start", "--config", filepath.Join(wd, "rel.conf"), "--name", "restart", "-data="}},
		{[]string{"svc", "--name=x", "-config=a/b.conf", "start", "--data", "/abs"},
			[]string{"svc", "--name=x", "-config=" + filepath.Join(wd, "a/b.conf"), "start", "--data", "/abs"}},
		{[]string{"svc", "--foreground", "restart"},
			[]string{"svc", "--foreground", "start", "-config=" + filepath.Join(wd, "default.conf"), "-data="}},
	} {
		if got := d.daemonArgs(c.in); !slices.Equal(got, c.want) {
			t.Errorf("daemonArgs(%q)\n = %q\nwant %q", c.in, got, c.want)
		}
	}
	if config != filepath.Join(wd, "default.conf") {
		t.Errorf("default %q, want it absolute", config)
	}
}
