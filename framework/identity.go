package framework

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"strconv"
	"syscall"
)

// ErrNeedRoot: switching user or group needs root.
var ErrNeedRoot = errors.New("switching user or group needs root")

// credential resolves user and group names or numbers into the credential
// the daemon runs with: the user's uid, its primary gid (or group's), and
// its supplementary groups. It returns nil when neither is given.
func credential(userName, groupName string) (*syscall.Credential, error) {
	if userName == "" && groupName == "" {
		return nil, nil
	}
	cred := &syscall.Credential{Uid: uint32(os.Geteuid()), Gid: uint32(os.Getegid())}
	if userName != "" {
		u, known, err := lookupUser(userName)
		if err != nil {
			return nil, err
		}
		uid, _ := strconv.ParseUint(u.Uid, 10, 32)
		gid, _ := strconv.ParseUint(u.Gid, 10, 32)
		cred.Uid, cred.Gid = uint32(uid), uint32(gid)
		var ids []string
		if known {
			if ids, err = u.GroupIds(); err != nil {
				return nil, fmt.Errorf("supplementary groups of user %q: %w", userName, err)
			}
		}
		for _, id := range ids {
			n, err := strconv.ParseUint(id, 10, 32)
			if err == nil {
				cred.Groups = append(cred.Groups, uint32(n))
			}
		}
	}
	if groupName != "" {
		gid, err := lookupGroup(groupName)
		if err != nil {
			return nil, err
		}
		cred.Gid = gid
		if userName == "" {
			cred.Groups = []uint32{gid}
		}
	}
	if len(cred.Groups) == 0 {
		cred.Groups = []uint32{cred.Gid}
	}
	if os.Geteuid() != 0 && (cred.Uid != uint32(os.Geteuid()) || cred.Gid != uint32(os.Getegid())) {
		return nil, fmt.Errorf("running as uid %d, cannot become user %q group %q: %w",
			os.Geteuid(), userName, groupName, ErrNeedRoot)
	}
	return cred, nil
}

// lookupUser finds a user by name or number. A number without a passwd
// entry is accepted as uid and gid of that number, without supplementary
// groups (known is false).
func lookupUser(name string) (u *user.User, known bool, err error) {
	if u, err = user.Lookup(name); err == nil {
		return u, true, nil
	}
	if _, nerr := strconv.ParseUint(name, 10, 32); nerr == nil {
		if u, err := user.LookupId(name); err == nil {
			return u, true, nil
		}
		return &user.User{Uid: name, Gid: name, Username: name}, false, nil
	}
	return nil, false, fmt.Errorf("user %q: %w", name, err)
}

func lookupGroup(name string) (uint32, error) {
	if g, err := user.LookupGroup(name); err == nil {
		n, err := strconv.ParseUint(g.Gid, 10, 32)
		return uint32(n), err
	}
	n, err := strconv.ParseUint(name, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("group %q: no such group", name)
	}
	return uint32(n), nil
}
