package main

import (
	"bytes"
	"math"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	// The Linux tests start daemons that outlive their starters: they must
	// be re-parented to the test binary, as they are to the driver.
	if err := prepareTests(); err != nil {
		panic(err)
	}
	goleak.VerifyTestMain(m)
}

func TestMedian(t *testing.T) {
	for _, c := range []struct {
		in   []float64
		want float64
	}{
		{[]float64{3}, 3},
		{[]float64{5, 1, 3}, 3},
		{[]float64{4, 1, 3, 2}, 2.5},
	} {
		in := append([]float64{}, c.in...)
		if got := median(c.in); got != c.want {
			t.Errorf("median(%v) = %v, want %v", c.in, got, c.want)
		}
		for i := range in {
			if in[i] != c.in[i] {
				t.Errorf("median reordered its input: %v, was %v", c.in, in)
			}
		}
	}
	if got := median(nil); !math.IsNaN(got) {
		t.Errorf("median(nil) = %v, want NaN", got)
	}
}

func TestExpand(t *testing.T) {
	argv, err := expand([]string{"{bin}/x", "--pid-file", "{pidfile}"}, "/nonexistent-bin", "", "/p/d.pid")
	if err == nil {
		t.Fatalf("expand with a missing program = %v, want an error", argv)
	}
	if !strings.Contains(err.Error(), "x is not built or installed") {
		t.Errorf("error %q does not name the missing program", err)
	}
	argv, err = expand([]string{"sh", "{pidfile}", "{bin}/y", "{sbin}/z"}, "/b", "/s", "/p/d.pid")
	if err != nil {
		t.Fatal(err)
	}
	if argv[0] == "sh" || !strings.HasSuffix(argv[0], "/sh") || argv[1] != "/p/d.pid" || argv[2] != "/b/y" || argv[3] != "/s/z" {
		t.Errorf("expand = %q", argv)
	}
	if _, err := expand([]string{"sh", "{sbin}/z"}, "/b", "", "/p"); err == nil || !strings.Contains(err.Error(), "-static-bin") {
		t.Errorf("expand of a static row without -static-bin: err = %v, want one naming -static-bin", err)
	}
	if argv, err := expand(nil, "/b", "", "/p"); argv != nil || err != nil {
		t.Errorf("expand(nil) = %q, %v; want nil, nil", argv, err)
	}
}

func TestSelected(t *testing.T) {
	rs, err := selected(options{rows: []string{keySSD, keyFloor}})
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 2 || rs[0].key != keyFloor || rs[1].key != keySSD {
		t.Errorf("selected = %v, want floor then ssd (table order)", keys(rs))
	}
	if _, err := selected(options{rows: []string{"nope"}}); err == nil || !strings.Contains(err.Error(), `"nope"`) {
		t.Errorf("unknown row: err = %v", err)
	}
	all, _ := selected(options{})
	seen := map[string]bool{}
	for _, r := range all {
		if seen[r.key] {
			t.Errorf("row key %q is used twice", r.key)
		}
		seen[r.key] = true
		if r.gated && r.notify {
			t.Errorf("row %q is both gated and notify: its starter would consume READY=1", r.key)
		}
	}
}

func ms2d(x float64) time.Duration { return time.Duration(x * float64(time.Millisecond)) }

func TestTableRatiosAndTargets(t *testing.T) {
	byKey := map[string]row{}
	for _, r := range rows() {
		byKey[r.key] = r
	}
	mk := func(key string, ready, stopRet, gone float64, rss, anon int64) *result {
		res := &result{row: byKey[key]}
		for range 3 {
			res.samples = append(res.samples, sample{
				startRet: ms2d(ready), ready: ms2d(ready),
				stopRet: ms2d(stopRet), gone: ms2d(gone), rssKiB: rss, anonKiB: anon,
			})
		}
		return res
	}
	results := []*result{
		mk(keyFloor, 2, 0.01, 0.9, 2048, 512),
		mk(keyHello, 3, 1.0, 0.9, 4096, 1024), // 1.5× floor, returns 0.1 ms after gone, +2 MiB (+0.5 anon)
		mk(keyCtlNotify, 4, 1.5, 1.0, 2048, 512),
		mk(keySSDNotify, 3, 21, 1, 2048, 512),
		{row: byKey[keyDaemonize], skipped: "daemonize is not built or installed"},
	}
	var b bytes.Buffer
	writeTable(&b, results)
	out := b.String()
	for _, want := range []string{
		"| hello start / hello stop | 3 | 3.00 | 3.00 | 1.50× | 1.00× | 1.00 | 0.90 | 0.10 | 200.00× | 4.0 (1.0) |",
		"| daemonize -p (stop: kill) | 0 | skipped: daemonize is not built or installed |",
		"| hello start ready ≤ 1.6× floor | 1.50 (limit 1.60 ×) | met |",
		"| daemonctl --background --notify ready ≤ 1.5× floor | 2.00 (limit 1.50 ×) | missed |",
		"| daemonctl --background --notify ready ≤ start-stop-daemon --notify-await | 4.00 (limit 3.00 ms) | missed |",
		"| hello stop returns ≤ 0.3 ms after gone | 0.10 (limit 0.30 ms) | met |",
		"| daemonctl stop (--background --notify) returns ≤ 0.3 ms after gone | 0.50 (limit 0.30 ms) | missed |",
		"| hello stop returns ≥ 15× sooner after gone than start-stop-daemon --retry | 200.0× | met |",
		"| framework RSS overhead (hello − tinyd) ≤ 1 MiB | 2.00 (limit 1.00 MiB) | missed |",
		"| framework anonymous-memory overhead (RssAnon, hello − tinyd) ≤ 1 MiB | 0.50 (limit 1.00 MiB) | met |",
		"| daemonctl stop (-- hello) returns ≤ 0.3 ms after gone | – (limit 0.30 ms) | – |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q\n%s", want, out)
		}
	}
}
