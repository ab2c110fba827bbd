package cgroups

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// DeviceRule allows or denies access to devices, like a line of the v1
// devices.allow file ("c 1:3 rwm").
type DeviceRule struct {
	Type         rune   // 'c', 'b' or 'a' (all)
	Major, Minor int64  // -1 = any
	Access       string // subset of "rwm": read, write, mknod
	Allow        bool
}

// DefaultDeviceRules is docker's default device list, as the container's
// processes see it: everything denied, then mknod of any character and block
// device allowed (MKNOD alone is harmless when opening is refused), then read,
// write and mknod of /dev/null, zero, full, random, urandom, tty, console,
// ptmx, the pseudo-terminals 136:* and /dev/net/tun 10:200.
//
// It is moby's spec (oci.DefaultLinuxSpec: deny all; allow 1:5 1:3 1:9 1:8
// 5:0 5:1; deny 10:229) followed by what runc appends to every container
// (specconv.AllowedDevices: c *:* m, b *:* m, 1:3 1:8 1:7 5:0 1:5 1:9 5:1
// 136:* 5:2 10:200), without the duplicates and without moby's "deny c 10:229"
// (fuse), which is a no-op after the deny-all since nothing before it allows
// fuse. Callers append the allows of --device after it. Each call returns a
// new slice.
func DefaultDeviceRules() []DeviceRule {
	const wild = -1
	rwm := func(major, minor int64) DeviceRule {
		return DeviceRule{Type: 'c', Major: major, Minor: minor, Access: "rwm", Allow: true}
	}
	return []DeviceRule{
		{Type: 'a', Major: wild, Minor: wild, Access: "rwm", Allow: false},
		{Type: 'c', Major: wild, Minor: wild, Access: "m", Allow: true},
		{Type: 'b', Major: wild, Minor: wild, Access: "m", Allow: true},
		rwm(1, 3),      // /dev/null
		rwm(1, 5),      // /dev/zero
		rwm(1, 7),      // /dev/full
		rwm(1, 8),      // /dev/random
		rwm(1, 9),      // /dev/urandom
		rwm(5, 0),      // /dev/tty
		rwm(5, 1),      // /dev/console
		rwm(5, 2),      // /dev/ptmx
		rwm(136, wild), // /dev/pts/*
		rwm(10, 200),   // /dev/net/tun (runc keeps it for compatibility)
	}
}

// String formats r as a line of the v1 devices.allow and devices.deny files
// and of devices.list: "c 1:3 rwm", "b *:* m", "a *:* rwm".
func (r DeviceRule) String() string {
	num := func(n int64) string {
		if n < 0 {
			return "*"
		}
		return strconv.FormatInt(n, 10)
	}
	if r.Type == 'a' {
		return "a *:* rwm"
	}
	return fmt.Sprintf("%c %s:%s %s", r.Type, num(r.Major), num(r.Minor), r.Access)
}

// validate checks what both cgroup versions need: a known type, numbers the
// kernel can compare (-1 or 0..MaxInt32) and a non-empty subset of "rwm".
// A rule of type 'a' is valid whatever its other fields: like the kernel,
// the rules here ignore them.
func (r DeviceRule) validate() error {
	switch r.Type {
	case 'a':
		return nil
	case 'c', 'b':
	default:
		return fmt.Errorf("invalid device rule %q: type %q is none of a, b, c", r.String(), r.Type)
	}
	for _, n := range []int64{r.Major, r.Minor} {
		if n < -1 || n > math.MaxInt32 {
			return fmt.Errorf("invalid device rule %q: device number %d out of range", r.String(), n)
		}
	}
	if !validAccess(r.Access) {
		return fmt.Errorf("invalid device rule %q: access %q is not a subset of rwm", r.String(), r.Access)
	}
	return nil
}

// validAccess reports whether s is a non-empty subset of "rwm", each letter
// at most once (docker's rule for --device permissions).
func validAccess(s string) bool {
	if s == "" || len(s) > 3 {
		return false
	}
	for i, c := range s {
		if !strings.ContainsRune("rwm", c) || strings.ContainsRune(s[:i], c) {
			return false
		}
	}
	return true
}

func validateDeviceRules(rules []DeviceRule) error {
	for _, r := range rules {
		if err := r.validate(); err != nil {
			return err
		}
	}
	return nil
}

// applyDevices makes the cgroup enforce rules: the v1 devices controller's
// files, or a device program attached to the v2 directory. Both start from
// "everything denied" and give rules the meaning the v1 files give them (see
// deviceSet), so a list behaves the same on either version.
func (cg *Cgroup) applyDevices(rules []DeviceRule) error {
	if err := validateDeviceRules(rules); err != nil {
		return err
	}
	if cg.V2 {
		return attachDeviceFilter(cg.Paths[""], rules)
	}
	d, ok := cg.Paths["devices"]
	if !ok {
		return fmt.Errorf("cgroup v1 controller devices is not mounted: %w", ErrUnavailable)
	}
	if err := write(d, "devices.deny", "a"); err != nil {
		return err
	}
	for _, r := range rules {
		file := "devices.deny"
		if r.Allow {
			file = "devices.allow"
		}
		if err := write(d, file, r.String()); err != nil {
			return fmt.Errorf("device rule %q: %w", r.String(), err)
		}
	}
	return nil
}

// deviceSet is what a v1 devices cgroup holds after a list of rules was
// written to it, starting from "deny all": a default verdict and exceptions
// to it, each with the opposite verdict. It follows the kernel's
// devcgroup_update_access (security/device_cgroup.c):
//   - a rule of type 'a' sets the default to its verdict and drops every
//     exception;
//   - a rule whose verdict differs from the default is an exception: its
//     access is merged into the exception with the same type and numbers, or
//     it is added;
//   - a rule whose verdict is the default's removes its access from the
//     exception with exactly the same type and numbers, if any. It does not
//     punch a hole in a wildcard exception: after "c *:* m", denying
//     "c 10:229 m" changes nothing.
//
// Because every exception has the same verdict, their order does not matter.
type deviceSet struct {
	allow      bool
	exceptions []DeviceRule
}

func newDeviceSet(rules []DeviceRule) deviceSet {
	var s deviceSet
	for _, r := range rules {
		if r.Type == 'a' {
			s = deviceSet{allow: r.Allow}
			continue
		}
		i := s.find(r)
		switch {
		case r.Allow != s.allow && i >= 0:
			s.exceptions[i].Access = accessString(accessBits(s.exceptions[i].Access) | accessBits(r.Access))
		case r.Allow != s.allow:
			r.Access = accessString(accessBits(r.Access))
			s.exceptions = append(s.exceptions, r)
		case i >= 0:
			left := accessBits(s.exceptions[i].Access) &^ accessBits(r.Access)
			if left == 0 {
				s.exceptions = append(s.exceptions[:i], s.exceptions[i+1:]...)
			} else {
				s.exceptions[i].Access = accessString(left)
			}
		}
	}
	return s
}

// find returns the index of the exception with r's type and numbers, or -1.
func (s *deviceSet) find(r DeviceRule) int {
	for i, e := range s.exceptions {
		if e.Type == r.Type && e.Major == r.Major && e.Minor == r.Minor {
			return i
		}
	}
	return -1
}

// Access bits, as the kernel's bpf_cgroup_dev_ctx carries them.
const (
	accessMknod = 1
	accessRead  = 2
	accessWrite = 4
	accessAll   = accessMknod | accessRead | accessWrite
)

func accessBits(s string) int32 {
	var b int32
	for _, c := range s {
		switch c {
		case 'm':
			b |= accessMknod
		case 'r':
			b |= accessRead
		case 'w':
			b |= accessWrite
		}
	}
	return b
}

func accessString(b int32) string {
	var s string
	for _, a := range []struct {
		bit int32
		c   string
	}{{accessRead, "r"}, {accessWrite, "w"}, {accessMknod, "m"}} {
		if b&a.bit != 0 {
			s += a.c
		}
	}
	return s
}
