package builder

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	securejoin "github.com/cyphar/filepath-securejoin"
	"golang.org/x/sys/unix"
)

// copyInto performs a COPY/ADD of items into the mounted rootfs.
func (sr *stageRun) copyInto(ctx context.Context, sfs *stepFS, srcRoot string, items []copyItem, spec *copySpec) error {
	cp, err := sr.newCopier(sfs, spec)
	if err != nil {
		return err
	}
	for _, it := range items {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := sr.copyItem(ctx, cp, it, spec); err != nil {
			return err
		}
	}
	if cp.reuse != nil && cp.reuse.linked() > 0 {
		sr.bd.progress.printf("%s: %d unchanged files linked from the previous build's result\n",
			sr.label(sr.stepN), cp.reuse.linked())
	}
	return nil
}

// newCopier is the copier of a COPY/ADD into sfs: the owner it gives (the sources' own, 0 for the
// build context and heredocs, or --chown's, an unknown name warned about), and, when the step runs
// again on an overlay, the previous result's unchanged files to link (layerReuse).
func (sr *stageRun) newCopier(sfs *stepFS, spec *copySpec) (*copier, error) {
	uid, gid := -1, -1
	if (spec.fromCtx && !sr.bd.ctx.keepOwners) || len(spec.step.Heredocs) > 0 {
		uid, gid = 0, 0
	}
	if spec.chown != "" {
		u, g, warn, err := resolveChown(sfs.root, spec.chown)
		if err != nil {
			return nil, err
		}
		if warn != "" {
			sr.bd.progress.printf("[warning] %s\n", warn)
		}
		uid, gid = u, g
	}
	cp := &copier{root: sfs.root, uid: uid, gid: gid, chmod: spec.chmod, ctx: sr.bd.ctx, links: map[uint64]string{}}
	if !spec.fromCtx {
		cp.ctx = nil
	}
	if spec.ctxFiles != nil && sfs.upper != "" && !sr.bd.noCacheFor(sr.stage) {
		if prev, prevFiles := sr.previousResult(); prev != "" {
			cp.reuse = newLayerReuse(prev, sfs.upper, sfs.root, spec.ctxFiles, prevFiles)
			sfs.finish = cp.reuse.finish
		}
	}
	return cp, nil
}

// copyItem copies one source of a COPY/ADD: a heredoc, a URL, a git repository, a directory's
// contents, or a file (a local archive ADD extracts).
func (sr *stageRun) copyItem(ctx context.Context, cp *copier, it copyItem, spec *copySpec) error {
	dirUID, dirGID := max(cp.uid, 0), max(cp.gid, 0)
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
		return cp.writeFile(target, strings.NewReader(*it.data), mode, dirUID, dirGID, time.Now())
	case it.url != "":
		return sr.addURL(ctx, cp, it, spec, spec.checksum, dirUID, dirGID)
	case it.git != nil:
		return sr.addGit(ctx, cp, it, spec, dirUID, dirGID)
	case it.info.IsDir():
		dst, err := cp.mkdirAll(spec.dest, dirUID, dirGID)
		if err != nil {
			return err
		}
		return cp.copyTree(it, dst)
	}
	if spec.step.Add && (spec.step.Unpack == nil || *spec.step.Unpack) && spec.fromCtx {
		ok, err := cp.tryExtract(ctx, it.host, spec.dest, dirUID, dirGID)
		if err != nil || ok {
			return err
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
	return cp.copyEntry(it.host, target, it.info)
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
//
// Two lookups per entry are left out where their answer is known (they were most of a COPY's system
// calls through the overlay): the parents of an entry whose parent directory the walk already
// visited exist, and an entry of a directory this copy created (mkdir succeeded, so it was empty)
// does not, since nothing but this walk writes into it and the walk visits each path once. A
// directory made by ensureParents (the walk skipped it) could be visited later after all: once
// ensureParents has made one, every entry is looked up as before.
func (c *copier) copyTree(it copyItem, dst string) error {
	type job struct {
		host, target string
		fi           fs.FileInfo
		absent       bool
	}
	var files, dirs []job
	visited := map[string]bool{".": true} // directories (rel) that exist in dst
	made := map[string]bool{}             // directories (rel) this walk created
	sure := true                          // false once ensureParents made a directory
	err := walkSelected(it, c.ctx, func(rel, host string, fi fs.FileInfo) error {
		if rel == "" {
			// The destination directory keeps its own metadata (or, when COPY created it, 0755 or the
			// --chmod mode and the --chown owner); only what is inside is copied, as BuildKit does.
			return nil
		}
		target := filepath.Join(dst, filepath.FromSlash(rel))
		parent := path.Dir(rel)
		if !visited[parent] {
			mk, err := c.ensureParents(it.host, dst, rel)
			if err != nil {
				return err
			}
			sure = sure && !mk
		}
		absent := sure && made[parent]
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && fi.Mode().IsRegular() && st.Nlink == 1 {
			files = append(files, job{host, target, fi, absent})
			return nil
		}
		if fi.IsDir() {
			dirs = append(dirs, job{host, target, fi, absent})
		}
		// hardlinked files stay in walk order (c.links)
		created, err := c.copyEntryAt(host, target, fi, absent)
		if fi.IsDir() && err == nil {
			visited[rel], made[rel] = true, created
		}
		return err
	})
	if err != nil {
		return err
	}
	if err := parallel(len(files), func(k int) error {
		_, err := c.copyEntryAt(files[k].host, files[k].target, files[k].fi, files[k].absent)
		return err
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
// .dockerignore whose child an exception re-includes), with the source directories' metadata, and
// reports whether it created any.
func (c *copier) ensureParents(srcRoot, dst, rel string) (bool, error) {
	dir := path.Dir(rel)
	if dir == "." {
		return false, nil
	}
	if _, err := os.Lstat(filepath.Join(dst, filepath.FromSlash(dir))); err == nil {
		return false, nil
	}
	if _, err := c.ensureParents(srcRoot, dst, dir); err != nil {
		return false, err
	}
	src := filepath.Join(srcRoot, filepath.FromSlash(dir))
	fi, err := os.Lstat(src)
	if err != nil {
		return false, err
	}
	return true, c.copyHostEntry(src, filepath.Join(dst, filepath.FromSlash(dir)), fi)
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
	_, err := c.copyEntryAt(host, target, fi, false)
	return err
}

// copyEntryAt is copyHostEntry where the caller may know that target does not exist (absent), and
// reports whether target was created (false: an existing directory was kept).
func (c *copier) copyEntryAt(host, target string, fi fs.FileInfo, absent bool) (created bool, err error) {
	var (
		existing fs.FileInfo
		lerr     = fs.ErrNotExist
	)
	if !absent {
		existing, lerr = os.Lstat(target)
	}
	created = lerr != nil || !existing.IsDir()
	err = c.writeEntry(host, target, fi, existing, lerr)
	return created, err
}

// writeEntry creates target as a copy of host; existing and lerr are target's lstat.
func (c *copier) writeEntry(host, target string, fi fs.FileInfo, existing fs.FileInfo, lerr error) error {
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
