package builder

import (
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sys/unix"

	"github.com/hoistbuild/hoist/cache"
	"github.com/hoistbuild/hoist/snapshot"
)

// layerReuse makes a COPY from the context that must run again (one source file changed) cheap: a
// file it would write that the same step already produced in an earlier build, byte for byte and with
// the same owner, mode and mtime, is hardlinked from that build's snapshot instead of copied.
// Snapshots are immutable (overlay lowers are never written), so sharing the inode is safe, and the
// layer is the one a full copy would give: every reused file is checked against what the copy would
// create (type, size, owner, mode, mtime, no xattrs, content), a snapshot inode is linked at most once
// per layer (so no hardlink appears that the copy would not make), and the file's directory is
// touched through the overlay as creating the file would have (copy-up, mtime). The links are made
// in the upper dir after the overlay is unmounted (finish).
//
// The content is known to be the same without reading the snapshot file when the earlier build ran
// the same instruction on the same parent and its record gives the source the same digest (prev);
// otherwise the snapshot file is hashed.
type layerReuse struct {
	prev    string                // the earlier result's snapshot dir (overlay lower format)
	upper   string                // this step's overlay upper dir
	root    string                // this step's overlay mount
	sources map[string]sourceFile // source host path → its path and digest
	// prevFiles is the earlier step's per-file detail (source path → "mode sha256"), when it ran
	// the same instruction on the same parent; nil otherwise.
	prevFiles map[string]string

	mu      sync.Mutex
	claimed map[uint64]bool // snapshot inodes already linked into this layer
	touched map[string]bool // directories (in root) already touched
	dirs    map[string]bool // directories (relative) of prev checked by plainDir
	files   []reusedFile
}

type reusedFile struct {
	old, new, host string // snapshot file, its place in the upper dir, the source
	uid, gid       int
	mode           os.FileMode
	mtime          time.Time
}

func newLayerReuse(prev, upper, root string, sources map[string]sourceFile, prevFiles map[string]string) *layerReuse {
	return &layerReuse{prev: prev, upper: upper, root: root, sources: sources, prevFiles: prevFiles,
		claimed: map[uint64]bool{}, touched: map[string]bool{}, dirs: map[string]bool{}}
}

// previousResult is the snapshot of the layer this step produced in the nearest earlier build of the
// same Dockerfile on the same lowers ("" when there is none on disk) and, when that step ran the same
// instruction on the same parent, its per-file detail.
func (sr *stageRun) previousResult() (string, map[string]string) {
	b := sr.bd.b
	prev, layer := sr.previousLayer()
	if layer == nil {
		return "", nil
	}
	top, err := v1.NewHash(layer.DiffID)
	if err != nil {
		return "", nil
	}
	var diffIDs []v1.Hash
	if !sr.linked {
		for _, l := range sr.st.layers {
			d, err := l.DiffID()
			if err != nil {
				return "", nil
			}
			diffIDs = append(diffIDs, d)
		}
	}
	chain := snapshot.ChainIDs(append(diffIDs, top))
	id := chain[len(chain)-1]
	if !b.snaps.Has(id) {
		return "", nil
	}
	p, err := b.snaps.FSPath(id)
	if err != nil {
		return "", nil
	}
	if prev.Parent != sr.step.Parent || !sameInstruction(prev.Components, sr.step.Components) {
		return p, nil
	}
	return p, b.history.Files(prev)
}

// previousLayer is the step of the nearest earlier build of the same Dockerfile that corresponds to
// this one, and the layer it produced (nil when there is none, or it changed nothing).
func (sr *stageRun) previousLayer() (*cache.StepRecord, *cache.Layer) {
	prev := sr.bd.prev.Step(sr.step)
	if prev == nil {
		return nil, nil
	}
	rec, err := sr.bd.b.cache.Get(prev.Key)
	if err != nil {
		return nil, nil
	}
	return prev, rec.Layer
}

// sameInstruction reports whether two COPY keys differ at most in the content of their sources.
func sameInstruction(a, b []cache.Component) bool {
	strip := func(cs []cache.Component) []cache.Component {
		return slices.DeleteFunc(slices.Clone(cs), func(c cache.Component) bool { return c.Name == contentComponent })
	}
	return slices.EqualFunc(strip(a), strip(b), func(x, y cache.Component) bool {
		return x.Name == y.Name && slices.Equal(x.Values, y.Values)
	})
}

// claim reports whether target (a path under root that does not exist yet) will be a link to the
// earlier result's copy of host instead of a copy; uid, gid and mode are what the copy would set.
func (r *layerReuse) claim(host, target string, fi fs.FileInfo, uid, gid int, mode os.FileMode) bool {
	src, ok := r.sources[host]
	rel, err := filepath.Rel(r.root, target)
	if !ok || err != nil || rel == "." || strings.HasPrefix(rel, "..") {
		return false
	}
	// The earlier result is a tree made from an earlier context: a symlink on the way (a directory
	// that was a link then) must not lead the link or the hash out of it.
	if !r.plainDir(filepath.Dir(rel)) {
		return false
	}
	old := filepath.Join(r.prev, rel)
	var st unix.Stat_t
	if err := unix.Lstat(old, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFREG ||
		st.Size != fi.Size() || st.Uid != uint32(uid) || st.Gid != uint32(gid) ||
		st.Mode&0o7777 != unixPerm(mode) || st.Mtim != unix.NsecToTimespec(fi.ModTime().UnixNano()) {
		return false
	}
	if n, err := unix.Llistxattr(old, nil); err != nil || n != 0 {
		return false
	}
	r.mu.Lock()
	taken := r.claimed[st.Ino]
	r.claimed[st.Ino] = true
	r.mu.Unlock()
	if taken {
		return false
	}
	if !r.sameAsBefore(src) {
		if d, err := cache.HashFile(old); err != nil || d != src.digest {
			return false
		}
	}
	if err := r.touch(filepath.Dir(target)); err != nil {
		return false
	}
	r.mu.Lock()
	r.files = append(r.files, reusedFile{old: old, new: filepath.Join(r.upper, rel), host: host,
		uid: uid, gid: gid, mode: mode, mtime: fi.ModTime()})
	r.mu.Unlock()
	return true
}

// plainDir reports whether dir (relative) is a directory of the earlier result reached without a
// symlink, decided once per directory: dir is, when its parent is and dir itself is a directory (not
// a symlink to one). Resolving the whole path instead (rootpath) gave the same answers with a lookup
// per component.
func (r *layerReuse) plainDir(dir string) bool {
	dir = filepath.Clean(dir)
	if dir == "." {
		return true
	}
	if dir == ".." || strings.HasPrefix(dir, "../") || filepath.IsAbs(dir) {
		return false
	}
	r.mu.Lock()
	ok, done := r.dirs[dir]
	r.mu.Unlock()
	if done {
		return ok
	}
	var st unix.Stat_t
	ok = r.plainDir(filepath.Dir(dir)) && unix.Lstat(filepath.Join(r.prev, dir), &st) == nil &&
		st.Mode&unix.S_IFMT == unix.S_IFDIR
	r.mu.Lock()
	r.dirs[dir] = ok
	r.mu.Unlock()
	return ok
}

// sameAsBefore reports whether the earlier run of the same instruction on the same parent read src
// with the same content, so that the file it produced at the same place holds src's bytes (claim
// checks its metadata itself).
func (r *layerReuse) sameAsBefore(src sourceFile) bool {
	before, ok := r.prevFiles[src.path]
	return ok && strings.HasSuffix(before, " "+src.digest)
}

// touch does to dir what creating a file in it does: copy it up into the upper dir and set its mtime.
func (r *layerReuse) touch(dir string) error {
	r.mu.Lock()
	done := r.touched[dir]
	r.touched[dir] = true
	r.mu.Unlock()
	if done {
		return nil
	}
	ts := []unix.Timespec{{Nsec: unix.UTIME_OMIT}, {Nsec: unix.UTIME_NOW}}
	return unix.UtimesNanoAt(unix.AT_FDCWD, dir, ts, unix.AT_SYMLINK_NOFOLLOW)
}

// finish makes the claimed links in the upper dir (the overlay is unmounted by now). Linking into a
// directory changes its mtime, which the copy had already set: the times are put back. A snapshot
// file that went away meanwhile (a concurrent prune) is copied from the source after all.
func (r *layerReuse) finish() error {
	dirTimes := map[string][]unix.Timespec{}
	for _, f := range r.files {
		dir := filepath.Dir(f.new)
		if _, ok := dirTimes[dir]; !ok {
			var st unix.Stat_t
			if err := unix.Lstat(dir, &st); err != nil {
				return err
			}
			dirTimes[dir] = []unix.Timespec{st.Atim, st.Mtim}
		}
		if err := os.Link(f.old, f.new); err == nil {
			continue
		}
		if err := copyFileData(f.host, f.new); err != nil {
			return err
		}
		if err := setMeta(f.new, f.uid, f.gid, f.mode, f.mtime, false); err != nil {
			return err
		}
	}
	for dir, ts := range dirTimes {
		if err := unix.UtimesNanoAt(unix.AT_FDCWD, dir, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return err
		}
	}
	return nil
}

// linked is how many files the copy took from the earlier result.
func (r *layerReuse) linked() int { return len(r.files) }

// unixPerm is mode's permission and setuid/setgid/sticky bits in stat(2)'s encoding.
func unixPerm(mode os.FileMode) uint32 {
	p := uint32(mode.Perm())
	if mode&fs.ModeSetuid != 0 {
		p |= unix.S_ISUID
	}
	if mode&fs.ModeSetgid != 0 {
		p |= unix.S_ISGID
	}
	if mode&fs.ModeSticky != 0 {
		p |= unix.S_ISVTX
	}
	return p
}
