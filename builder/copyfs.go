package builder

import (
	"bufio"
	"bytes"
	"compress/bzip2"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	securejoin "github.com/cyphar/filepath-securejoin"
	"github.com/klauspost/compress/gzip"
	"github.com/moby/sys/user"
	"github.com/ulikunitz/xz"
	"golang.org/x/sys/unix"

	"github.com/hoistbuild/hoist/snapshot"
)

// copyInto performs a COPY/ADD of items into the mounted rootfs.
func (sr *stageRun) copyInto(ctx context.Context, sfs *stepFS, srcRoot string, items []copyItem, spec *copySpec) error {
	rootfs := sfs.root
	uid, gid := -1, -1
	if (spec.fromCtx && !sr.bd.ctx.keepOwners) || len(spec.step.Heredocs) > 0 {
		uid, gid = 0, 0
	}
	if spec.chown != "" {
		u, g, warn, err := resolveChown(rootfs, spec.chown)
		if err != nil {
			return err
		}
		if warn != "" {
			sr.bd.progress.printf("[warning] %s\n", warn)
		}
		uid, gid = u, g
	}
	cp := &copier{root: rootfs, uid: uid, gid: gid, chmod: spec.chmod, ctx: sr.bd.ctx, links: map[uint64]string{}}
	if !spec.fromCtx {
		cp.ctx = nil
	}
	if spec.ctxFiles != nil && sfs.upper != "" && !sr.bd.noCacheFor(sr.stage) {
		if prev, prevFiles := sr.previousResult(); prev != "" {
			cp.reuse = newLayerReuse(prev, sfs.upper, rootfs, spec.ctxFiles, prevFiles)
			sfs.finish = cp.reuse.finish
		}
	}
	dirUID, dirGID := max(uid, 0), max(gid, 0)
	for _, it := range items {
		if err := ctx.Err(); err != nil {
			return err
		}
		switch {
		case it.data != nil:
			target := spec.dest
			if spec.destDir {
				target = path.Join(spec.dest, it.rel)
			}
			mode := os.FileMode(0o644)
			if spec.chmod != nil {
				mode = *spec.chmod
			}
			if err := cp.writeFile(target, strings.NewReader(*it.data), mode, dirUID, dirGID, time.Now()); err != nil {
				return err
			}
		case it.url != "":
			if err := sr.addURL(ctx, cp, it, spec, spec.checksum, dirUID, dirGID); err != nil {
				return err
			}
		case it.git != nil:
			if err := sr.addGit(ctx, cp, it, spec, dirUID, dirGID); err != nil {
				return err
			}
		case it.info.IsDir():
			dst, err := cp.mkdirAll(spec.dest, dirUID, dirGID)
			if err != nil {
				return err
			}
			if err := cp.copyTree(it, dst); err != nil {
				return err
			}
		default:
			if spec.step.Add && (spec.step.Unpack == nil || *spec.step.Unpack) && spec.fromCtx {
				ok, err := cp.tryExtract(ctx, it.host, spec.dest, dirUID, dirGID)
				if err != nil {
					return err
				}
				if ok {
					continue
				}
			}
			target := spec.dest
			if spec.destDir || cp.isDir(target) {
				target = path.Join(spec.dest, path.Base(it.rel))
			}
			// A destination that is a symlink in the image is written through, like BuildKit does
			// (COPY f /bin/ls replaces /bin/busybox); resolve it inside the rootfs.
			if resolved, ok := cp.followLink(target); ok {
				target = resolved
			}
			if err := cp.copyEntry(it.host, target, it.info); err != nil {
				return err
			}
		}
	}
	if cp.reuse != nil && cp.reuse.linked() > 0 {
		sr.bd.progress.printf("%s: %d unchanged files linked from the previous build's result\n",
			sr.label(sr.stepN), cp.reuse.linked())
	}
	return nil
}

// copier writes entries into a rootfs; every destination path is resolved inside root with chroot
// semantics, so a symlink in the image can never send a write outside it.
type copier struct {
	root     string
	uid, gid int // -1: keep the source's
	chmod    *os.FileMode
	ctx      *buildContext
	links    map[uint64]string // source inode → first destination (hardlinks)
	reuse    *layerReuse       // nil: every file is copied
}

func (c *copier) resolve(p string) (string, error) {
	return securejoin.SecureJoin(c.root, p)
}

func (c *copier) isDir(p string) bool {
	h, err := c.resolve(p)
	if err != nil {
		return false
	}
	fi, err := os.Stat(h)
	return err == nil && fi.IsDir()
}

// followLink resolves p when it is an existing symlink inside the rootfs, returning the rootfs path it
// points to (chroot semantics).
func (c *copier) followLink(p string) (string, bool) {
	parent, err := c.resolve(path.Dir(p))
	if err != nil {
		return "", false
	}
	fi, err := os.Lstat(filepath.Join(parent, path.Base(p)))
	if err != nil || fi.Mode()&fs.ModeSymlink == 0 {
		return "", false
	}
	h, err := c.resolve(p)
	if err != nil {
		return "", false
	}
	if st, err := os.Stat(h); err == nil && st.IsDir() {
		return "", false
	}
	rel, err := filepath.Rel(c.root, h)
	if err != nil || strings.HasPrefix(rel, "..") {
		return "", false
	}
	return "/" + filepath.ToSlash(rel), true
}

// mkdirAll creates p (inside the rootfs) and its missing parents, owned by uid:gid, mode 0755 (or the
// --chmod mode, as current BuildKit does), and returns its host path.
func (c *copier) mkdirAll(p string, uid, gid int) (string, error) {
	p = path.Clean("/" + p)
	if p == "/" {
		return c.root, nil
	}
	parent, err := c.mkdirAll(path.Dir(p), uid, gid)
	if err != nil {
		return "", err
	}
	h, err := c.resolve(p)
	if err != nil {
		return "", err
	}
	_ = parent
	fi, err := os.Stat(h)
	if err == nil {
		if !fi.IsDir() {
			return "", fmt.Errorf("cannot copy to %s: not a directory", p)
		}
		return h, nil
	}
	mode := os.FileMode(0o755)
	if c.chmod != nil {
		mode = *c.chmod
	}
	if err := os.Mkdir(h, mode); err != nil {
		return "", err
	}
	if err := os.Chmod(h, mode); err != nil {
		return "", err
	}
	if err := os.Lchown(h, uid, gid); err != nil {
		return "", err
	}
	return h, nil
}

// copyTree copies the contents of the directory item into dst (a host path inside the rootfs).
//
// The walk creates directories and special files in order; regular files (the bulk of the work) are
// then copied on every core; last, directories get their source times back, which creating their
// children had changed.
func (c *copier) copyTree(it copyItem, dst string) error {
	type job struct {
		host, target string
		fi           fs.FileInfo
	}
	var files, dirs []job
	err := walkSelected(it, c.ctx, func(rel, host string, fi fs.FileInfo) error {
		if rel == "" {
			// The destination directory keeps its own metadata (or, when COPY created it, 0755 or the
			// --chmod mode and the --chown owner); only what is inside is copied, as BuildKit does.
			return nil
		}
		target := filepath.Join(dst, filepath.FromSlash(rel))
		if err := c.ensureParents(it.host, dst, rel); err != nil {
			return err
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && fi.Mode().IsRegular() && st.Nlink == 1 {
			files = append(files, job{host, target, fi})
			return nil
		}
		if fi.IsDir() {
			dirs = append(dirs, job{host, target, fi})
		}
		return c.copyHostEntry(host, target, fi) // hardlinked files stay in walk order (c.links)
	})
	if err != nil {
		return err
	}
	if err := parallel(len(files), func(k int) error {
		return c.copyHostEntry(files[k].host, files[k].target, files[k].fi)
	}); err != nil {
		return err
	}
	for i := len(dirs) - 1; i >= 0; i-- {
		t := unix.NsecToTimespec(dirs[i].fi.ModTime().UnixNano())
		if err := unix.UtimesNanoAt(unix.AT_FDCWD, dirs[i].target, []unix.Timespec{t, t}, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return err
		}
	}
	return nil
}

// ensureParents creates the parents of rel under dst that the walk skipped (a directory excluded by
// .dockerignore whose child an exception re-includes), with the source directories' metadata.
func (c *copier) ensureParents(srcRoot, dst, rel string) error {
	dir := path.Dir(rel)
	if dir == "." {
		return nil
	}
	if _, err := os.Lstat(filepath.Join(dst, filepath.FromSlash(dir))); err == nil {
		return nil
	}
	if err := c.ensureParents(srcRoot, dst, dir); err != nil {
		return err
	}
	src := filepath.Join(srcRoot, filepath.FromSlash(dir))
	fi, err := os.Lstat(src)
	if err != nil {
		return err
	}
	return c.copyHostEntry(src, filepath.Join(dst, filepath.FromSlash(dir)), fi)
}

// copyEntry copies one non-directory (or directory, recursively) source to p inside the rootfs.
func (c *copier) copyEntry(host, p string, fi fs.FileInfo) error {
	parent, err := c.mkdirAll(path.Dir(p), max(c.uid, 0), max(c.gid, 0))
	if err != nil {
		return err
	}
	return c.copyHostEntry(host, filepath.Join(parent, path.Base(p)), fi)
}

// copyHostEntry creates target (whose parent exists and is resolved) as a copy of host.
func (c *copier) copyHostEntry(host, target string, fi fs.FileInfo) error {
	existing, lerr := os.Lstat(target)
	if lerr == nil && !(fi.IsDir() && existing.IsDir()) {
		if err := os.RemoveAll(target); err != nil {
			return err
		}
	}
	switch {
	case fi.IsDir():
		if lerr != nil || !existing.IsDir() {
			if err := os.Mkdir(target, 0o755); err != nil {
				return err
			}
		}
	case fi.Mode()&fs.ModeSymlink != 0:
		t, err := os.Readlink(host)
		if err != nil {
			return err
		}
		if err := os.Symlink(t, target); err != nil {
			return err
		}
	case fi.Mode().IsRegular():
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Nlink > 1 {
			if first, ok := c.links[st.Ino]; ok {
				return os.Link(first, target)
			}
			c.links[st.Ino] = target
		} else if c.reuse != nil && lerr != nil {
			uid, gid, mode := c.metaFor(fi)
			if c.reuse.claim(host, target, fi, uid, gid, mode) {
				return nil
			}
		}
		if err := copyFileData(host, target); err != nil {
			return err
		}
	case fi.Mode()&fs.ModeNamedPipe != 0:
		if err := unix.Mkfifo(target, uint32(fi.Mode().Perm())); err != nil {
			return err
		}
	case fi.Mode()&fs.ModeDevice != 0:
		st := fi.Sys().(*syscall.Stat_t)
		mode := uint32(unix.S_IFBLK)
		if fi.Mode()&fs.ModeCharDevice != 0 {
			mode = unix.S_IFCHR
		}
		if err := unix.Mknod(target, mode|uint32(fi.Mode().Perm()), int(st.Rdev)); err != nil {
			return err
		}
	default:
		return nil // sockets are skipped, as docker does
	}
	return c.applyMeta(target, fi, fi.IsDir())
}

// applyMeta sets ownership, mode and times of target from the source's (or --chown/--chmod).
func (c *copier) applyMeta(target string, fi fs.FileInfo, isDir bool) error {
	uid, gid, mode := c.metaFor(fi)
	return setMeta(target, uid, gid, mode, fi.ModTime(), fi.Mode()&fs.ModeSymlink != 0)
}

// metaFor is the owner and mode the copy of fi gets: the source's, or --chown's and --chmod's.
func (c *copier) metaFor(fi fs.FileInfo) (uid, gid int, mode os.FileMode) {
	uid, gid = c.uid, c.gid
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		if uid < 0 {
			uid = int(st.Uid)
		}
		if gid < 0 {
			gid = int(st.Gid)
		}
	}
	mode = fi.Mode().Perm() | (fi.Mode() & (fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky))
	if c.chmod != nil {
		mode = *c.chmod
	}
	return uid, gid, mode
}

// setMeta gives target its owner, mode (not for a symlink) and modification time.
func setMeta(target string, uid, gid int, mode os.FileMode, mtime time.Time, symlink bool) error {
	if err := os.Lchown(target, uid, gid); err != nil {
		return err
	}
	if !symlink {
		if err := os.Chmod(target, mode); err != nil {
			return err
		}
	}
	ts := []unix.Timespec{unix.NsecToTimespec(mtime.UnixNano()), unix.NsecToTimespec(mtime.UnixNano())}
	return unix.UtimesNanoAt(unix.AT_FDCWD, target, ts, unix.AT_SYMLINK_NOFOLLOW)
}

// The bytes move inside the kernel with sendfile(2) (copy_file_range cannot cross from the context's
// filesystem into an overlay file); io.Copy is the fallback where sendfile is refused.
//
// src is a resolved path (no symlink in it); one in its last component is refused, not followed.
func copyFileData(src, dst string) error {
	in, err := openNoFollow(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if err := sendfileAll(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// sendfileAll copies in to out (both at offset 0) with sendfile, falling back to io.Copy.
func sendfileAll(out, in *os.File) error {
	var sent int64
	for {
		n, err := unix.Sendfile(int(out.Fd()), int(in.Fd()), nil, 1<<30)
		if n > 0 {
			sent += int64(n)
		}
		switch {
		case err == unix.EINTR || err == unix.EAGAIN:
			continue
		case err != nil && sent == 0 && (err == unix.EINVAL || err == unix.ENOSYS || err == unix.EOPNOTSUPP):
			_, err = io.Copy(out, in)
			return err
		case err != nil:
			return err
		case n == 0:
			return nil
		}
	}
}

// writeFile writes r to p inside the rootfs (creating parents).
func (c *copier) writeFile(p string, r io.Reader, mode os.FileMode, uid, gid int, mtime time.Time) error {
	parent, err := c.mkdirAll(path.Dir(p), uid, gid)
	if err != nil {
		return err
	}
	target := filepath.Join(parent, path.Base(p))
	if fi, err := os.Lstat(target); err == nil && fi.IsDir() {
		return fmt.Errorf("cannot write %s: is a directory", p)
	}
	os.Remove(target)
	f, err := os.OpenFile(target, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Lchown(target, uid, gid); err != nil {
		return err
	}
	if err := os.Chmod(target, mode); err != nil {
		return err
	}
	return os.Chtimes(target, mtime, mtime)
}

// tryExtract extracts a local tar archive (plain, gzip, bzip2 or xz) into dest if host is one.
func (c *copier) tryExtract(ctx context.Context, host, dest string, uid, gid int) (bool, error) {
	f, err := openNoFollow(host) // resolved in the context by selectContext
	if err != nil {
		return false, err
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 1<<16)
	head, _ := br.Peek(512 + 8)
	var r io.Reader = br
	switch {
	case bytes.HasPrefix(head, []byte{0x1f, 0x8b}):
		zr, err := gzip.NewReader(br)
		if err != nil {
			return false, nil
		}
		defer zr.Close()
		r = zr
	case bytes.HasPrefix(head, []byte("BZh")):
		r = bzip2.NewReader(br)
	case bytes.HasPrefix(head, []byte{0xfd, '7', 'z', 'X', 'Z', 0}):
		xr, err := xz.NewReader(br)
		if err != nil {
			return false, nil
		}
		r = xr
	}
	// Is it a tar? Peek at the decompressed header's magic.
	tb := bufio.NewReaderSize(r, 1<<16)
	hdr, err := tb.Peek(512)
	if err != nil || !isTarHeader(hdr) {
		return false, nil
	}
	dst, err := c.mkdirAll(dest, uid, gid)
	if err != nil {
		return false, err
	}
	checked := strictTar(tb)
	defer checked.Close()
	if err := snapshot.ApplyTar(ctx, checked, dst); err != nil {
		return false, fmt.Errorf("extracting %s: %w", filepath.Base(host), err)
	}
	return true, nil
}

func isTarHeader(b []byte) bool {
	if len(b) < 512 {
		return false
	}
	if string(b[257:262]) == "ustar" {
		return true
	}
	// V7 tar: verify the header checksum.
	sum := 0
	for i, c := range b {
		if i >= 148 && i < 156 {
			c = ' '
		}
		sum += int(c)
	}
	want, err := strconv.ParseInt(strings.TrimRight(strings.TrimSpace(string(b[148:156])), "\x00"), 8, 64)
	return err == nil && int64(sum) == want && b[0] != 0
}

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
