package framework

import (
	"syscall"

	"github.com/daemonkit/daemonkit/internal/ident"
)

// ErrNeedRoot: switching user or group needs root. It is the same error
// value daemonctl start --background reports.
var ErrNeedRoot = ident.ErrNeedRoot

// credential resolves user and group names or numbers into the credential
// the daemon runs with (see internal/ident for the rules, shared with
// daemonctl start --background). It returns nil when neither is given, or
// when a caller that is not root names its own uid and gid (nothing to
// switch; asking the kernel to set groups would fail).
func credential(userName, groupName string) (*syscall.Credential, error) {
	id, err := ident.Resolve(userName, groupName)
	return id.Cred, err
}
