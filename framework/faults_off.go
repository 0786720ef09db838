//go:build !daemonkit_faults

package framework

// fault is a fault-injection point for tests; in normal builds it does
// nothing and compiles away. Build with -tags daemonkit_faults to enable
// faults_on.go.
func fault(string) error { return nil }
