package run

import (
	"fmt"
	"net"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// configureInterface gives iface its address, brings it up and adds the
// default route, with ioctls (no netlink, no ip(8) in the rootfs). It runs in
// the sandbox's network namespace.
func configureInterface(iface *Interface) error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("configure %s: %w", iface.Name, &os.SyscallError{Syscall: "socket", Err: err})
	}
	defer unix.Close(fd)
	ip := net.ParseIP(iface.Address).To4()
	if ip == nil || iface.PrefixLen < 0 || iface.PrefixLen > 32 {
		return fmt.Errorf("configure %s: bad address %s/%d", iface.Name, iface.Address, iface.PrefixLen)
	}
	mask := net.CIDRMask(iface.PrefixLen, 32)
	for _, op := range []struct {
		name string
		req  uint
		addr []byte
	}{{"SIOCSIFADDR", unix.SIOCSIFADDR, ip}, {"SIOCSIFNETMASK", unix.SIOCSIFNETMASK, mask}} {
		ifr, err := unix.NewIfreq(iface.Name)
		if err != nil {
			return fmt.Errorf("configure %s: %w", iface.Name, err)
		}
		if err := ifr.SetInet4Addr(op.addr); err != nil {
			return fmt.Errorf("configure %s: %w", iface.Name, err)
		}
		if err := unix.IoctlIfreq(fd, op.req, ifr); err != nil {
			return fmt.Errorf("configure %s: %w", iface.Name, &os.SyscallError{Syscall: "ioctl " + op.name, Err: err})
		}
	}
	if err := linkUp(fd, iface.Name); err != nil {
		return err
	}
	if iface.Gateway == "" {
		return nil
	}
	gw := net.ParseIP(iface.Gateway).To4()
	if gw == nil {
		return fmt.Errorf("configure %s: bad gateway %q", iface.Name, iface.Gateway)
	}
	rt := rtentry{Flags: unix.RTF_UP | unix.RTF_GATEWAY}
	rt.Dst.Family = unix.AF_INET
	rt.Genmask.Family = unix.AF_INET
	rt.Gateway.Family = unix.AF_INET
	copy(rt.Gateway.Addr[:], gw)
	if _, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SIOCADDRT, uintptr(unsafe.Pointer(&rt))); errno != 0 {
		return fmt.Errorf("configure %s: default route via %s: %w", iface.Name, iface.Gateway, &os.SyscallError{Syscall: "ioctl SIOCADDRT", Err: errno})
	}
	return nil
}

// linkUp sets IFF_UP on the interface name.
func linkUp(fd int, name string) error {
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return fmt.Errorf("bring %s up: %w", name, err)
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("bring %s up: %w", name, &os.SyscallError{Syscall: "ioctl SIOCGIFFLAGS", Err: err})
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("bring %s up: %w", name, &os.SyscallError{Syscall: "ioctl SIOCSIFFLAGS", Err: err})
	}
	return nil
}

// rtentry is struct rtentry of <net/route.h> on 64-bit Linux.
type rtentry struct {
	pad1    uint64
	Dst     unix.RawSockaddrInet4
	Gateway unix.RawSockaddrInet4
	Genmask unix.RawSockaddrInet4
	Flags   uint16
	pad2    int16
	pad3    uint64
	pad4    uintptr
	Metric  int16
	Dev     uintptr
	MTU     uint64
	Window  uint64
	IRTT    uint16
}
