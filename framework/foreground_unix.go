package framework

import (
	"fmt"
	"os"
	"syscall"
)

// becomeForeground applies the configured umask, directory, group and user
// to this process (the foreground's equivalent of what the launcher gives
// the daemon stage). On Linux the id changes apply to all threads.
func (d *Daemon) becomeForeground(umask int) error {
	syscall.Umask(umask)
	if d.cfg.Dir != "" {
		if err := os.Chdir(d.cfg.Dir); err != nil {
			return fmt.Errorf("working directory: %w", err)
		}
	}
	cred, err := credential(d.cfg.User, d.cfg.Group)
	if err != nil || cred == nil {
		return err
	}
	groups := make([]int, len(cred.Groups))
	for i, g := range cred.Groups {
		groups[i] = int(g)
	}
	if err := syscall.Setgroups(groups); err != nil {
		return fmt.Errorf("setgroups %v: %w", groups, err)
	}
	if err := syscall.Setgid(int(cred.Gid)); err != nil {
		return fmt.Errorf("setgid %d: %w", cred.Gid, err)
	}
	if err := syscall.Setuid(int(cred.Uid)); err != nil {
		return fmt.Errorf("setuid %d: %w", cred.Uid, err)
	}
	return nil
}
