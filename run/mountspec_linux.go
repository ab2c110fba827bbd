package run

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// hostResolvConf is copied into sandboxes that share the host network.
const hostResolvConf = "/etc/resolv.conf"

// prepareMounts writes the generated /etc files into tmp, creates (and
// records in st) every mount point missing from the rootfs, and fills the
// resolved mount targets of cfg.
func prepareMounts(cfg *initConfig, tmp string, st *stubs) error {
	var err error
	ensure := st.ensure
	if cfg.Overlay != nil {
		// The rootfs is mounted by the child: it resolves the targets.
		cfg.ResolveInChild = true
		ensure = func(_, target string, _ bool) (string, error) { return target, nil }
	}
	for _, d := range []struct {
		dst  *string
		path string
	}{{&cfg.ProcDir, "/proc"}, {&cfg.SysDir, "/sys"}, {&cfg.DevDir, "/dev"}} {
		if *d.dst, err = ensure(cfg.Rootfs, d.path, true); err != nil {
			return err
		}
	}
	files, err := etcFiles(cfg)
	if err != nil {
		return err
	}
	for _, f := range files {
		src := filepath.Join(tmp, filepath.Base(f.path))
		if err := os.WriteFile(src, f.data, 0o644); err != nil {
			return fmt.Errorf("writing %s: %w", f.path, err)
		}
		target, err := ensure(cfg.Rootfs, f.path, false)
		if err != nil {
			return err
		}
		// --read-only covers them too, as with docker.
		cfg.Mounts = append(cfg.Mounts, initMount{
			Type: "bind", Source: src, Target: target, File: true,
			Flags: unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, ReadOnly: cfg.ReadOnlyRootfs,
		})
	}
	for _, m := range cfg.userMounts {
		if m.Target, err = ensure(cfg.Rootfs, m.Target, !m.File); err != nil {
			return err
		}
		cfg.Mounts = append(cfg.Mounts, m)
	}
	return nil
}

type etcFile struct {
	path string
	data []byte
}

// etcFiles generates /etc/hosts, /etc/hostname and /etc/resolv.conf.
func etcFiles(cfg *initConfig) ([]etcFile, error) {
	hosts := fmt.Sprintf("127.0.0.1\tlocalhost %s\n::1\tlocalhost ip6-localhost ip6-loopback\n", cfg.Hostname)
	for _, h := range cfg.extraHosts {
		hosts += h + "\n"
	}
	resolv := []byte("# network none: no name servers\n")
	if !cfg.NewNet || cfg.KeepResolv {
		b, err := os.ReadFile(hostResolvConf)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("reading host resolv.conf: %w", err)
		}
		resolv = b
		if cfg.NewNet {
			resolv = privateResolvConf(b, func() ([]byte, error) { return os.ReadFile(systemdResolvConf) })
		}
	}
	resolv = withDNS(resolv, cfg.dns)
	return []etcFile{
		{"/etc/hosts", []byte(hosts)},
		{"/etc/hostname", []byte(cfg.Hostname + "\n")},
		{"/etc/resolv.conf", resolv},
	}, nil
}

// mountFlag maps a mount(8) option to its MS_* flag; clear means the option
// turns the flag off.
func mountFlag(o string) (flag uintptr, clear, ok bool) {
	switch o {
	case "nosuid", "suid":
		return unix.MS_NOSUID, o == "suid", true
	case "nodev", "dev":
		return unix.MS_NODEV, o == "dev", true
	case "noexec", "exec":
		return unix.MS_NOEXEC, o == "exec", true
	case "noatime":
		return unix.MS_NOATIME, false, true
	case "nodiratime":
		return unix.MS_NODIRATIME, false, true
	case "relatime":
		return unix.MS_RELATIME, false, true
	case "strictatime":
		return unix.MS_STRICTATIME, false, true
	}
	return 0, false, false
}

// parseMount validates m and turns its options into flags and data.
func parseMount(m Mount) (initMount, error) {
	im := initMount{Type: m.Type, Source: m.Source, Target: m.Target, ReadOnly: m.ReadOnly, Rec: true}
	if !filepath.IsAbs(m.Target) {
		return im, fmt.Errorf("%w: mount target %q is not absolute", ErrInvalidSpec, m.Target)
	}
	switch m.Type {
	case "bind":
		if !filepath.IsAbs(m.Source) {
			return im, fmt.Errorf("%w: bind source %q is not absolute", ErrInvalidSpec, m.Source)
		}
		fi, err := os.Stat(m.Source)
		if err != nil {
			return im, fmt.Errorf("bind mount source: %w", err)
		}
		im.File = !fi.IsDir()
		if m.CopyUp && im.File {
			return im, fmt.Errorf("%w: copy-up needs a directory, %s is not one", ErrInvalidSpec, m.Source)
		}
		im.CopyUp = m.CopyUp
		if m.Propagation != "" {
			p, ok := propagationFlags[m.Propagation]
			if !ok {
				return im, fmt.Errorf("%w: bind propagation %q of %s is not supported (private, rprivate, slave, rslave)", ErrInvalidSpec, m.Propagation, m.Target)
			}
			im.Propagation = p
		}
	case "tmpfs":
		if m.Propagation != "" {
			return im, fmt.Errorf("%w: a tmpfs mount has no propagation option (%s)", ErrInvalidSpec, m.Target)
		}
		im.Source = "tmpfs"
	default:
		return im, fmt.Errorf("%w: unsupported mount type %q for %s", ErrInvalidSpec, m.Type, m.Target)
	}
	var data []string
	for _, o := range m.Options {
		switch flag, clear, ok := mountFlag(o); {
		case o == "ro":
			im.ReadOnly = true
		case o == "rw":
			im.ReadOnly = false
		case ok && clear:
			im.Flags &^= flag
			im.Clear |= flag
		case ok:
			im.Flags |= flag
			im.Clear &^= flag
		case m.Type == "bind" && (o == "bind" || o == "rbind"):
			im.Rec = o == "rbind"
		case m.Type == "tmpfs" && o != "" && !strings.Contains(o, ","):
			data = append(data, o)
		default:
			return im, fmt.Errorf("%w: unsupported option %q for %s mount %s", ErrInvalidSpec, o, m.Type, m.Target)
		}
	}
	im.Data = strings.Join(data, ",")
	return im, nil
}

// propagationFlags maps docker's bind-propagation values to mount(2) flags.
var propagationFlags = map[string]uintptr{
	"private": unix.MS_PRIVATE, "rprivate": unix.MS_PRIVATE | unix.MS_REC,
	"slave": unix.MS_SLAVE, "rslave": unix.MS_SLAVE | unix.MS_REC,
}

// parseMounts parses every mount; rootSlave reports that one asks for slave propagation: "/" must
// then be rslave (not rprivate) for it to stay the host's slave, and every other bind mount gets
// rprivate explicitly, docker's default.
func parseMounts(ms []Mount) (mounts []initMount, rootSlave bool, err error) {
	mounts = make([]initMount, 0, len(ms))
	for _, m := range ms {
		im, err := parseMount(m)
		if err != nil {
			return nil, false, err
		}
		rootSlave = rootSlave || im.Propagation&unix.MS_SLAVE != 0
		mounts = append(mounts, im)
	}
	if rootSlave {
		for i := range mounts {
			if mounts[i].Type == "bind" && mounts[i].Propagation == 0 {
				mounts[i].Propagation = unix.MS_PRIVATE | unix.MS_REC
			}
		}
	}
	return mounts, rootSlave, nil
}

// CheckMountOptions reports whether options are valid for a mount of type
// typ ("bind" or "tmpfs"), as Run would parse them.
func CheckMountOptions(typ string, options []string) error {
	src := ""
	if typ == "bind" {
		src = "/"
	}
	_, err := parseMount(Mount{Type: typ, Source: src, Target: "/", Options: options})
	return err
}
