// Package bench holds daemonkit's benchmarks. It has no API.
//
// The in-process Go benchmarks (ns/op) in this directory measure what a
// controller pays per call: reading a PID file's state with
// [github.com/daemonkit/daemonkit/lockfile.Inspect], taking and releasing a
// PID file lock, parsing its content, and the control protocol's check.
//
// The side-by-side comparison of daemon starters (the framework launcher,
// daemonctl, start-stop-daemon, daemonize and a minimal C starter) is
// bench/run.sh, which builds bench/tinyd, bench/floor and bench/cmd/driver
// and prints tables of medians and ratios; docs/performance.md shows a run
// and how to reproduce it. Nothing here asserts a timing.
package bench
