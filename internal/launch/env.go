package launch

import (
	"strings"

	"github.com/daemonkit/daemonkit/internal/ident"
)

// Environ returns the environment a daemon running as id starts with: base,
// with HOME, USER and LOGNAME set from id's user database entry when a user
// was given (as login(1) and su - would), and then each KEY=VALUE of add
// replacing or appended. base is not modified.
func Environ(base []string, id ident.Identity, add ...string) []string {
	env := append(make([]string, 0, len(base)+len(add)+3), base...)
	if id.Name != "" {
		env = MergeEnv(env, "HOME="+id.Home, "USER="+id.Name, "LOGNAME="+id.Name)
	}
	return MergeEnv(env, add...)
}

// MergeEnv returns env with each KEY=VALUE of add replacing the variable of
// that name, or appended.
func MergeEnv(env []string, add ...string) []string {
	for _, kv := range add {
		k, _, _ := strings.Cut(kv, "=")
		replaced := false
		for i, old := range env {
			if ok, _, _ := strings.Cut(old, "="); ok == k {
				env[i], replaced = kv, true
				break
			}
		}
		if !replaced {
			env = append(env, kv)
		}
	}
	return env
}
