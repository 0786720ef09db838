//go:build unix

// Package ident resolves the user and group a daemon is to run as into the
// credential its process is started with. Both daemonkit's launcher
// (framework, --user/--group) and daemonctl start --background use it, so
// that they behave the same:
//
//   - A user is a name or a number. A number no user database knows is
//     accepted: the daemon runs with that uid, with the gid of the same
//     number (unless a group is given) and no other group.
//   - A group is a name or a number (known or not).
//   - Supplementary groups are those initgroups(3) gives: with a user, the
//     groups the group database lists the user in, plus the primary group;
//     a given group replaces the user's primary group, both as gid and among
//     the supplementary groups. With a group and no user: the caller's uid,
//     and only that group.
//   - Only root may switch. A caller that is not root may name its own uid
//     and gid (e.g. --user self): that changes nothing, and the process
//     keeps the caller's supplementary groups (setgroups(2) would need
//     privilege). Anything else fails with [ErrNeedRoot].
package ident

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"slices"
	"strconv"
	"syscall"
)

// ErrNeedRoot: switching user or group needs root.
var ErrNeedRoot = errors.New("switching user or group needs root")

// Identity is a resolved user and group.
type Identity struct {
	// Cred is the credential to start the process with (uid, gid and
	// supplementary groups), or nil to keep the caller's identity.
	Cred *syscall.Credential
	// Name is the user's name (the number, for a uid no user database
	// knows), and Home the user's home directory ("/" if unknown). Both
	// are empty when no user was given.
	Name, Home string
}

// Resolve resolves userName and groupName (either may be empty) as the
// package documentation describes. Errors name what could not be
// resolved; an [ErrNeedRoot] error names the caller's uid.
func Resolve(userName, groupName string) (Identity, error) {
	var id Identity
	if userName == "" && groupName == "" {
		return id, nil
	}
	cred := &syscall.Credential{Uid: uint32(os.Getuid()), Gid: uint32(os.Getgid())}
	if userName != "" {
		u, known, err := lookupUser(userName)
		if err != nil {
			return id, err
		}
		uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
		gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
		if err1 != nil || err2 != nil {
			return id, fmt.Errorf("user %q: unusable uid %q or gid %q in the user database", userName, u.Uid, u.Gid)
		}
		cred.Uid, cred.Gid = uint32(uid), uint32(gid)
		id.Name, id.Home = u.Username, u.HomeDir
		if id.Home == "" {
			id.Home = "/"
		}
		if known {
			ids, err := u.GroupIds()
			if err != nil {
				return id, fmt.Errorf("supplementary groups of user %q: %w", userName, err)
			}
			for _, s := range ids {
				if g, err := strconv.ParseUint(s, 10, 32); err == nil && !slices.Contains(cred.Groups, uint32(g)) {
					cred.Groups = append(cred.Groups, uint32(g))
				}
			}
		}
	}
	if groupName != "" {
		gid, err := lookupGroup(groupName)
		if err != nil {
			return id, err
		}
		if userName == "" {
			cred.Groups = nil
		} else if gid != cred.Gid {
			// initgroups(user, gid): the user's memberships and the
			// given group, not the user's own primary group.
			cred.Groups = slices.DeleteFunc(cred.Groups, func(g uint32) bool { return g == cred.Gid })
		}
		cred.Gid = gid
	}
	if !slices.Contains(cred.Groups, cred.Gid) {
		cred.Groups = append(cred.Groups, cred.Gid)
	}
	if os.Geteuid() != 0 {
		if cred.Uid == uint32(os.Getuid()) && cred.Uid == uint32(os.Geteuid()) &&
			cred.Gid == uint32(os.Getgid()) && cred.Gid == uint32(os.Getegid()) {
			return id, nil // ourselves: nothing to switch
		}
		return id, fmt.Errorf("running as uid %d, cannot become user %q group %q (uid %d gid %d): %w; run as root or leave out --user and --group",
			os.Geteuid(), userName, groupName, cred.Uid, cred.Gid, ErrNeedRoot)
	}
	id.Cred = cred
	return id, nil
}

// lookupUser finds a user by name or number. A number without a user
// database entry is returned as uid and gid of that number (known false).
func lookupUser(name string) (u *user.User, known bool, err error) {
	if u, err = user.Lookup(name); err == nil {
		return u, true, nil
	}
	if _, nerr := strconv.ParseUint(name, 10, 32); nerr == nil {
		if u, err := user.LookupId(name); err == nil {
			return u, true, nil
		}
		return &user.User{Uid: name, Gid: name, Username: name, HomeDir: "/"}, false, nil
	}
	return nil, false, fmt.Errorf("user %q: %w", name, err)
}

// lookupGroup finds a group by name, else takes a number as it is.
func lookupGroup(name string) (uint32, error) {
	if g, err := user.LookupGroup(name); err == nil {
		n, err := strconv.ParseUint(g.Gid, 10, 32)
		if err != nil {
			return 0, fmt.Errorf("group %q: unusable gid %q in the group database", name, g.Gid)
		}
		return uint32(n), nil
	}
	n, err := strconv.ParseUint(name, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("group %q: no such group, and not a number", name)
	}
	return uint32(n), nil
}
