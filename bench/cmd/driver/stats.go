package main

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"time"
)

// sample is one iteration of one row. Start times are measured from the fork
// of the start command, stop times from the start of the stop phase.
type sample struct {
	startRet time.Duration // start command returned
	ready    time.Duration // daemon ready, as the driver saw it
	stopRet  time.Duration // stop command returned (or signal sent)
	gone     time.Duration // daemon's pidfd became readable
	rssKiB   int64         // daemon's VmRSS once ready
	anonKiB  int64         // its RssAnon (private anonymous memory)
}

// result collects a row's samples and why it stopped, if it did.
type result struct {
	row     row
	samples []sample
	skipped string // the row could not run at all
	failed  error  // the row was abandoned after repeated failures
	errs    int
}

// median returns the median of xs (the mean of the middle two for an even
// count), or NaN for none.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	m := len(s) / 2
	if len(s)%2 == 1 {
		return s[m]
	}
	return (s[m-1] + s[m]) / 2
}

// medians are a row's medians in milliseconds (RSS in MiB).
type medians struct {
	startRet, ready, stopRet, gone, retAfterGone, rss, anon float64
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func (r *result) medians() medians {
	var a, b, c, d, e, f, g []float64
	for _, s := range r.samples {
		a = append(a, ms(s.startRet))
		b = append(b, ms(s.ready))
		c = append(c, ms(s.stopRet))
		d = append(d, ms(s.gone))
		e = append(e, ms(s.stopRet-s.gone))
		if s.rssKiB > 0 {
			f = append(f, float64(s.rssKiB)/1024)
			g = append(g, float64(s.anonKiB)/1024)
		}
	}
	return medians{median(a), median(b), median(c), median(d), median(e), median(f), median(g)}
}

// ratio formats x/y as "1.23×", or "–" when it is not meaningful.
func ratio(x, y float64) string {
	if math.IsNaN(x) || math.IsNaN(y) || y <= 0 || x <= 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f×", x/y)
}

func num(x float64, prec int) string {
	if math.IsNaN(x) {
		return "–"
	}
	return fmt.Sprintf("%.*f", prec, x)
}

// minRetAfterGone is the smallest "stop returned after gone" used as a
// divisor: below it the difference is within the driver's own wake-up
// latency, and a ratio would only measure noise.
const minRetAfterGone = 0.05 // ms

// writeTable prints the Markdown table of medians and ratios.
func writeTable(w io.Writer, results []*result) {
	med := map[string]medians{}
	for _, r := range results {
		if len(r.samples) > 0 {
			med[r.row.key] = r.medians()
		}
	}
	nan := math.NaN()
	get := func(k string) medians {
		if m, ok := med[k]; ok {
			return m
		}
		return medians{nan, nan, nan, nan, nan, nan, nan}
	}
	floor, ssdN := get(keyFloor), get(keySSDNotify)
	fmt.Fprintln(w, "| row | n | start→ret ms | ready ms | ready ÷ floor | ready ÷ ssd-notify | stop→ret ms | stop→gone ms | ret − gone ms | ssd ret−gone ÷ this | RSS (anon) MiB |")
	fmt.Fprintln(w, "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
	var processOnly []*result
	for _, r := range results {
		if r.row.processOnly {
			processOnly = append(processOnly, r)
			continue
		}
		if r.skipped != "" {
			fmt.Fprintf(w, "| %s | 0 | skipped: %s |||||||||\n", r.row.name, oneLine(r.skipped))
			continue
		}
		if len(r.samples) == 0 {
			fmt.Fprintf(w, "| %s | 0 | failed: %s |||||||||\n", r.row.name, oneLine(fmt.Sprint(r.failed)))
			continue
		}
		m := med[r.row.key]
		ssdGone := get(keySSD).retAfterGone
		if r.row.key != keySSDNotify && r.row.key != keySSD {
			if g := ssdN.retAfterGone; !math.IsNaN(g) {
				ssdGone = g
			}
		}
		sooner := "–"
		if r.row.stop != nil && r.row.key != keySSD && r.row.key != keySSDNotify {
			sooner = ratio(ssdGone, math.Max(m.retAfterGone, minRetAfterGone))
		}
		fmt.Fprintf(w, "| %s | %d | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
			r.row.name, len(r.samples), num(m.startRet, 2), num(m.ready, 2),
			ratio(m.ready, floor.ready), ratio(m.ready, ssdN.ready),
			num(m.stopRet, 2), num(m.gone, 2), num(m.retAfterGone, 2), sooner, num(m.rss, 1)+" ("+num(m.anon, 1)+")")
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "¹ daemonctl --background without --notify or --ready-fd writes the PID once exec succeeded; it does not pass NOTIFY_SOCKET on, so \"ready\" here is that, not the daemon's READY=1.")
	fmt.Fprintln(w, "² the same program built with CGO_ENABLED=0 (statically linked, no libc); the other Go rows use the default build, which links libc because os/user and net are imported.")
	if len(processOnly) > 0 {
		fmt.Fprintln(w)
		fmt.Fprintln(w, "| process (fork → exec → exit, no daemon) | n | fork→exit ms |")
		fmt.Fprintln(w, "|---|--:|--:|")
		for _, r := range processOnly {
			switch {
			case r.skipped != "":
				fmt.Fprintf(w, "| %s | 0 | skipped: %s |\n", r.row.name, oneLine(r.skipped))
			case len(r.samples) == 0:
				fmt.Fprintf(w, "| %s | 0 | failed: %s |\n", r.row.name, oneLine(fmt.Sprint(r.failed)))
			default:
				fmt.Fprintf(w, "| %s | %d | %s |\n", r.row.name, len(r.samples), num(r.medians().startRet, 2))
			}
		}
	}
	for _, r := range results {
		if r.failed != nil && len(r.samples) > 0 {
			fmt.Fprintf(w, "\n%s: %d failed iterations, last: %s\n", r.row.name, r.errs, oneLine(r.failed.Error()))
		}
	}
	writeTargets(w, get)
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

// writeTargets prints each target of the benchmark issue with its measured
// value and whether it was met.
func writeTargets(w io.Writer, get func(string) medians) {
	floor, hello, ctlHello, ctlN := get(keyFloor), get(keyHello), get(keyCtlHello), get(keyCtlNotify)
	ssdN, ssd := get(keySSDNotify), get(keySSD)
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| target | measured | verdict |")
	fmt.Fprintln(w, "|---|---|---|")
	info := func(what string, v float64, expect string) {
		fmt.Fprintf(w, "| %s (expected %s) | %s ms | reference |\n", what, expect, num(v, 2))
	}
	info("floor ready", floor.ready, "≈ 2.0 ms")
	info("floor gone after stop starts", floor.gone, "≈ 0.9 ms")
	info("start-stop-daemon --notify-await ready", ssdN.ready, "2.9–6.0 ms")
	info("start-stop-daemon --retry stop returns after gone", ssdN.retAfterGone, "≈ 20 ms")
	atMost := func(what string, v, limit float64, unit string) {
		verdict := "–"
		if !math.IsNaN(v) && !math.IsNaN(limit) {
			verdict = "missed"
			if v <= limit {
				verdict = "met"
			}
		}
		fmt.Fprintf(w, "| %s | %s (limit %s %s) | %s |\n", what, num(v, 2), num(limit, 2), unit, verdict)
	}
	helloS, ctlNS := get(keyHelloStatic), get(keyCtlNotifyStatic)
	atMost("hello start ready ≤ 1.6× floor", hello.ready/floor.ready, 1.6, "×")
	atMost("hello start (static²) ready ≤ 1.6× floor", helloS.ready/floor.ready, 1.6, "×")
	atMost("daemonctl --background --notify ready ≤ 1.5× floor", ctlN.ready/floor.ready, 1.5, "×")
	atMost("daemonctl --background --notify (static²) ready ≤ 1.5× floor", ctlNS.ready/floor.ready, 1.5, "×")
	atMost("daemonctl --background --notify ready ≤ start-stop-daemon --notify-await", ctlN.ready, ssdN.ready, "ms")
	atMost("daemonctl --background --notify (static²) ready ≤ start-stop-daemon --notify-await", ctlNS.ready, ssdN.ready, "ms")
	for _, c := range []struct {
		name string
		m    medians
	}{
		{"hello stop", hello}, {"hello stop (static²)", helloS},
		{"daemonctl stop (-- hello)", ctlHello},
		{"daemonctl stop (--background --notify)", ctlN}, {"daemonctl stop (static², --background --notify)", ctlNS},
	} {
		atMost(c.name+" returns ≤ 0.3 ms after gone", c.m.retAfterGone, 0.3, "ms")
		ssdGone := ssdN.retAfterGone
		if math.IsNaN(ssdGone) {
			ssdGone = ssd.retAfterGone
		}
		sooner := ssdGone / math.Max(c.m.retAfterGone, minRetAfterGone)
		verdict := "–"
		if !math.IsNaN(sooner) {
			verdict = "missed"
			if sooner >= 15 {
				verdict = "met"
			}
		}
		fmt.Fprintf(w, "| %s returns ≥ 15× sooner after gone than start-stop-daemon --retry | %s× | %s |\n", c.name, num(sooner, 1), verdict)
	}
	atMost("framework RSS overhead (hello − tinyd) ≤ 1 MiB", hello.rss-floor.rss, 1, "MiB")
	atMost("framework RSS overhead (static² hello − tinyd) ≤ 1 MiB", helloS.rss-floor.rss, 1, "MiB")
	atMost("framework anonymous-memory overhead (RssAnon, hello − tinyd) ≤ 1 MiB", hello.anon-floor.anon, 1, "MiB")
	atMost("framework anonymous-memory overhead (RssAnon, static² hello − tinyd) ≤ 1 MiB", helloS.anon-floor.anon, 1, "MiB")
}
