package cgroups

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// Device is a host device node to recreate in a container (docker's
// --device): what the sandbox creates in the container's /dev, and the rule
// (Rule) that lets the container open it.
type Device struct {
	HostPath    string // the node on the host, symbolic links followed
	Path        string // where it goes in the container
	Type        rune   // 'c' or 'b'
	Major       int64
	Minor       int64
	FileMode    fs.FileMode // the host node's permission bits
	UID, GID    uint32      // the host node's owner
	Permissions string      // cgroup access: a subset of "rwm"
}

// Rule is the device rule that allows d's permissions on d.
func (d Device) Rule() DeviceRule {
	return DeviceRule{Type: d.Type, Major: d.Major, Minor: d.Minor, Access: d.Permissions, Allow: true}
}

// errNotADevice is docker's message for a path that is no device node.
var errNotADevice = errors.New("not a device node")

// ParseDevice reads a --device value, HOST[:CONTAINER][:PERMS], as docker
// does: PERMS is a non-empty subset of "rwm" (default "rwm"); with two parts
// the second is PERMS if it is one, else CONTAINER; CONTAINER (default HOST)
// must be absolute. HOST is followed if it is a symbolic link, and may be a
// directory: then every character and block device under it is returned, at
// the same place under CONTAINER. Errors carry docker's messages:
//
//	bad format for path: a:b:c:d
//	bad mode specified: rx
//	dev/x is not an absolute path
//	error gathering device information while adding custom device "/dev/nosuch": no such file or directory
func ParseDevice(spec string) ([]Device, error) {
	if strings.Count(spec, ":") > 2 {
		return nil, fmt.Errorf("bad format for path: %s", spec)
	}
	parts := strings.Split(spec, ":")
	host, perms := parts[0], "rwm"
	ctr := host
	if host == "" {
		return nil, fmt.Errorf("bad format for path: %s", spec)
	}
	switch len(parts) {
	case 2:
		if validAccess(parts[1]) {
			perms = parts[1]
		} else {
			ctr = parts[1]
		}
	case 3:
		ctr, perms = parts[1], parts[2]
		if !validAccess(perms) {
			return nil, fmt.Errorf("bad mode specified: %s", perms)
		}
	}
	if !filepath.IsAbs(ctr) {
		return nil, fmt.Errorf("%s is not an absolute path", ctr)
	}
	ctr = filepath.Clean(ctr)

	resolved := host
	if fi, err := os.Lstat(host); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
		if p, err := filepath.EvalSymlinks(host); err == nil {
			resolved = p
		}
	}
	d, err := deviceFromPath(resolved, ctr, perms)
	if err == nil {
		return []Device{d}, nil
	}
	var devs []Device
	if errors.Is(err, errNotADevice) {
		if fi, serr := os.Stat(resolved); serr == nil && fi.IsDir() {
			// Like docker: whatever under it is no device (or unreadable) is skipped.
			_ = filepath.WalkDir(resolved, func(p string, _ fs.DirEntry, _ error) error {
				rel, rerr := filepath.Rel(resolved, p)
				if rerr != nil {
					return nil
				}
				if d, derr := deviceFromPath(p, filepath.Join(ctr, rel), perms); derr == nil {
					devs = append(devs, d)
				}
				return nil
			})
		}
	}
	if len(devs) == 0 {
		return nil, fmt.Errorf("error gathering device information while adding custom device %q: %w", host, err)
	}
	return devs, nil
}

// deviceFromPath describes the device node at hostPath (not following a
// symbolic link), or fails with errNotADevice or the lstat errno.
func deviceFromPath(hostPath, ctrPath, perms string) (Device, error) {
	var st unix.Stat_t
	if err := unix.Lstat(hostPath, &st); err != nil {
		return Device{}, err
	}
	d := Device{
		HostPath:    hostPath,
		Path:        ctrPath,
		Major:       int64(unix.Major(st.Rdev)),
		Minor:       int64(unix.Minor(st.Rdev)),
		FileMode:    fs.FileMode(st.Mode & 0o777),
		UID:         st.Uid,
		GID:         st.Gid,
		Permissions: perms,
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFCHR:
		d.Type = 'c'
	case unix.S_IFBLK:
		d.Type = 'b'
	default:
		return Device{}, errNotADevice
	}
	return d, nil
}
