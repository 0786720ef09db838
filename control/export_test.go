package control

// WithoutPidfd returns o set to use kill(2) instead of pidfds, as on
// systems without them.
func WithoutPidfd(o Options) Options {
	o.noPidfd = true
	return o
}

// Unexported names the external tests use.
const (
	ControllerEnv       = controllerEnv
	DefaultMessageLimit = defaultMessageLimit
)
