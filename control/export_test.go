package control

// WithoutPidfd returns o set to use kill(2) instead of pidfds, as on
// systems without them.
func WithoutPidfd(o Options) Options {
	o.noPidfd = true
	return o
}
