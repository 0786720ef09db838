//go:build unix && !linux

package ctlguard

// pinned would hold a process found on the parent chain; without pidfds
// nothing can be pinned, and the walk (which needs /proc) never starts.
type pinned struct{}

func openPin(int) (*pinned, error) { return &pinned{}, nil }

func (*pinned) alive() bool { return false }

func (*pinned) close() {}
