package builder

import (
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"

	securejoin "github.com/cyphar/filepath-securejoin"
	"github.com/moby/sys/user"
)

// User and group names of COPY/ADD --chown and of WORKDIR's owner, looked up in the rootfs's
// /etc/passwd and /etc/group with BuildKit's rules: an unknown name is 0, with a warning for --chown.
// (A container's USER follows runc's rules instead, where an unknown name is an error: run/creds_linux.go.)

// resolveChown parses --chown user[:group] against the rootfs's /etc/passwd and /etc/group. An unknown
// name becomes 0 with a warning, as BuildKit does.
func resolveChown(rootfs, spec string) (int, int, string, error) {
	u, g, hasGroup := strings.Cut(spec, ":")
	var warn []string
	uid, ugid, err := lookupUser(rootfs, u)
	if err != nil {
		warn = append(warn, err.Error())
	}
	gid := ugid
	if hasGroup {
		if gg, err := lookupGroup(rootfs, g); err != nil {
			// An unknown group keeps the user's primary group, as BuildKit does.
			warn = append(warn, err.Error())
		} else {
			gid = gg
		}
	}
	return uid, gid, strings.Join(warn, "; "), nil
}

func lookupUser(rootfs, name string) (int, int, error) {
	if n, err := strconv.Atoi(name); err == nil {
		return n, n, nil
	}
	p, err := securejoin.SecureJoin(rootfs, "/etc/passwd")
	if err != nil {
		return 0, 0, err
	}
	users, err := user.ParsePasswdFileFilter(p, func(u user.User) bool { return u.Name == name })
	if err != nil || len(users) == 0 {
		return 0, 0, fmt.Errorf("--chown: unknown user %q, using 0", name)
	}
	return users[0].Uid, users[0].Gid, nil
}

func lookupGroup(rootfs, name string) (int, error) {
	if n, err := strconv.Atoi(name); err == nil {
		return n, nil
	}
	p, err := securejoin.SecureJoin(rootfs, "/etc/group")
	if err != nil {
		return 0, err
	}
	groups, err := user.ParseGroupFileFilter(p, func(g user.Group) bool { return g.Name == name })
	if err != nil || len(groups) == 0 {
		return 0, fmt.Errorf("--chown: unknown group %q, using 0", name)
	}
	return groups[0].Gid, nil
}

// mkdirWorkdir creates WORKDIR p in the rootfs if missing, owned by the USER in effect.
func mkdirWorkdir(rootfs, p, usr string) error {
	uid, gid := 0, 0
	if usr != "" {
		u, g, _ := strings.Cut(usr, ":")
		uid, gid, _ = lookupUser(rootfs, u)
		if g != "" {
			gid, _ = lookupGroup(rootfs, g)
		}
	}
	c := &copier{root: rootfs}
	_, err := c.mkdirAll(p, uid, gid)
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	return err
}
