package builder

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/hoistbuild/hoist/internal/rootless"
	"github.com/hoistbuild/hoist/internal/rootpath"
	"github.com/hoistbuild/hoist/parser"
	"github.com/hoistbuild/hoist/run"
	"github.com/hoistbuild/hoist/snapshot"
)

var cacheIDRe = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)

// Secret is the source of a build secret (--secret id=ID,src=FILE or env=VAR): exactly one is set.
type Secret struct {
	File string
	Env  string // the value, already read from the environment by the caller
}

// runMounts is the RUN --mount flags of one step: what enters the cache key now, and how to make the
// sandbox mounts when (and only if) the step runs.
type runMounts struct {
	key []string
	env []string // secrets exposed as environment variables: never in the key or the image
	// sshSock is the target of the step's first ssh mount (SSH_AUTH_SOCK), "" without one.
	sshSock string
	makes   []func(ctx context.Context) (run.Mount, func(), error)
}

// materialize makes every mount and returns them with one function that releases them all.
func (rm *runMounts) materialize(ctx context.Context) ([]run.Mount, func(), error) {
	var mounts []run.Mount
	var cleanups []func()
	release := func() {
		for i := len(cleanups) - 1; i >= 0; i-- {
			cleanups[i]()
		}
	}
	for _, mk := range rm.makes {
		m, cleanup, err := mk(ctx)
		if err != nil {
			release()
			return nil, nil, err
		}
		mounts = append(mounts, m)
		if cleanup != nil {
			cleanups = append(cleanups, cleanup)
		}
	}
	return mounts, release, nil
}

// runMounts prepares the RUN --mount flags: bind (from the context or a stage/image; read-only, or rw
// over a throw-away layer),
// tmpfs, cache (kept under root/cachemounts, never in a layer; sharing shared, locked or private) and
// secret (from --secret; its content never enters a layer, the history or a cache key) and ssh (an
// agent socket forwarding to --ssh; see sshMount).
func (sr *stageRun) runMounts(ctx context.Context, s *parser.RunStep) (*runMounts, error) {
	rm := &runMounts{}
	nSSH := 0
	for _, m := range s.Mounts {
		target := m.Target
		if target == "" && m.Type == "secret" {
			id := m.ID
			if id == "" {
				return nil, errors.New("--mount=type=secret: id is required")
			}
			target = "/run/secrets/" + id
		}
		if target == "" && !(m.Type == "secret" && m.Env != nil) && m.Type != "ssh" {
			return nil, fmt.Errorf("--mount=type=%s: target is required", m.Type)
		}
		if target != "" && !path.IsAbs(target) {
			target = path.Join("/", sr.st.cfg.Config.WorkingDir, target)
		}
		var err error
		switch m.Type {
		case "tmpfs":
			t := target
			rm.makes = append(rm.makes, func(context.Context) (run.Mount, func(), error) {
				return run.Mount{Type: "tmpfs", Target: t}, nil, nil
			})
			rm.key = append(rm.key, "tmpfs:"+target)
		case "cache":
			err = sr.cacheMount(rm, m, target)
		case "bind":
			err = sr.bindMount(ctx, rm, m, target)
		case "secret":
			err = sr.secretMount(rm, m, target)
		case "ssh":
			err = sr.sshMount(rm, m, target, nSSH)
			nSSH++
		default:
			err = fmt.Errorf("RUN --mount=type=%s is not supported", m.Type)
		}
		if err != nil {
			return nil, err
		}
	}
	return rm, nil
}

func (sr *stageRun) cacheMount(rm *runMounts, m parser.RunMount, target string) error {
	id := m.ID
	if id == "" {
		id = target
	}
	safe := strings.Trim(strings.ReplaceAll(id, "/", "_"), "_")
	if safe == "" || !cacheIDRe.MatchString(safe) {
		return fmt.Errorf("--mount=type=cache: invalid id %q", id)
	}
	sharing := m.Sharing
	if sharing == "" {
		sharing = "shared"
	}
	if sharing != "shared" && sharing != "private" && sharing != "locked" {
		return fmt.Errorf("--mount=type=cache: invalid sharing %q (shared, private, locked)", sharing)
	}
	dir := filepath.Join(sr.bd.b.root, "cachemounts", safe)
	mode := os.FileMode(0o755)
	if m.Mode != nil {
		mode = os.FileMode(*m.Mode)
	}
	uid, gid := -1, -1
	if m.UID != nil {
		uid = int(*m.UID)
	}
	if m.GID != nil {
		gid = int(*m.GID)
	}
	ro := m.ReadOnly
	scratch := sr.bd.scratch
	sr.bd.mu.Lock()
	if sr.bd.usedMounts == nil {
		sr.bd.usedMounts = map[string]bool{}
	}
	sr.bd.usedMounts[safe] = true
	sr.bd.mu.Unlock()
	rm.makes = append(rm.makes, func(context.Context) (run.Mount, func(), error) {
		src, release, err := acquireCacheDir(dir, sharing, scratch)
		if err != nil {
			return run.Mount{}, nil, err
		}
		_ = os.Chmod(src, mode)
		if uid >= 0 || gid >= 0 {
			_ = os.Lchown(src, uid, gid)
		}
		return run.Mount{Type: "bind", Source: src, Target: target, ReadOnly: ro}, release, nil
	})
	// The contents of a cache mount never enter the key: that is the point of a cache.
	rm.key = append(rm.key, fmt.Sprintf("cache:%s:%s:%s:%v", id, target, sharing, ro))
	return nil
}

// acquireCacheDir returns the directory to mount for a cache id: shared mounts use it concurrently;
// locked ones wait for an exclusive lock; private ones use a fresh scratch dir when it is in use.
func acquireCacheDir(dir, sharing string, scratch *scratchDir) (string, func(), error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", nil, err
	}
	if sharing == "shared" {
		return dir, nil, nil
	}
	f, err := os.OpenFile(dir+".lock", os.O_CREATE|os.O_RDWR|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return "", nil, err
	}
	how := unix.LOCK_EX
	if sharing == "private" {
		how |= unix.LOCK_NB
	}
	if err := unix.Flock(int(f.Fd()), how); err != nil {
		f.Close()
		if sharing == "private" && errors.Is(err, unix.EWOULDBLOCK) {
			tmp, err := os.MkdirTemp(scratch.path, "cache-private-")
			return tmp, func() { os.RemoveAll(tmp) }, err
		}
		return "", nil, fmt.Errorf("locking cache mount: %w", err)
	}
	return dir, func() { f.Close() }, nil
}

func (sr *stageRun) bindMount(ctx context.Context, rm *runMounts, m parser.RunMount, target string) error {
	rw := !m.ReadOnly
	src := m.Source
	if src == "" {
		src = "/"
	}
	if m.From == "" {
		// Resolved inside the context like a COPY source: a link to /etc is the context's etc.
		e, err := sr.bd.ctx.tree().Resolve(src, true)
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("--mount=type=bind: %q not found in the build context", path.Clean("/"+src))
		}
		if err != nil {
			return fmt.Errorf("--mount=type=bind: %w", err)
		}
		host := e.Host
		rel := strings.TrimPrefix(path.Clean("/"+src), "/")
		digest, _, err := sr.bd.hashItems([]copyItem{{host: host, rel: rel, real: e.Rel, info: e.Info}})
		if err != nil {
			return err
		}
		rm.makes = append(rm.makes, func(ctx context.Context) (run.Mount, func(), error) {
			if rw {
				// Rootless, context files of other owners are unmapped: neither root of the user
				// namespace nor an overlay copy-up may write them. The step gets a copy owned by
				// root, as BuildKit's local source gives every context file to 0:0.
				return sr.throwAway(ctx, host, target, rootless.Active())
			}
			return run.Mount{Type: "bind", Source: host, Target: target, ReadOnly: true}, nil, nil
		})
		rm.key = append(rm.key, bindKey("bind:"+src+":"+target+":"+digest, rw))
		return nil
	}
	st, err := sr.sourceState(ctx, m.From)
	if err != nil {
		return err
	}
	layers := st.layers
	rm.makes = append(rm.makes, func(ctx context.Context) (run.Mount, func(), error) {
		root, done, err := sr.bd.b.mountReadOnly(ctx, sr.bd.scratch, layers)
		if err != nil {
			return run.Mount{}, nil, err
		}
		e, err := rootpath.New(root, nil).Resolve(src, true)
		host := e.Host
		if err != nil {
			done()
			return run.Mount{}, nil, fmt.Errorf("--mount=type=bind,from=%s: %s not found", m.From, src)
		}
		if rw {
			mnt, release, err := sr.throwAway(ctx, host, target, false)
			if err != nil {
				done()
				return run.Mount{}, nil, err
			}
			return mnt, func() { release(); done() }, nil
		}
		return run.Mount{Type: "bind", Source: host, Target: target, ReadOnly: true}, done, nil
	})
	rm.key = append(rm.key, bindKey("bind-from:"+string(st.key)+":"+src+":"+target, rw))
	return nil
}

// bindKey is the key component of a bind mount; rw only when set, so read-only mounts keep the keys
// they had.
func bindKey(k string, rw bool) string {
	if rw {
		return k + ":rw"
	}
	return k
}

// throwAway mounts src (a directory or file on the host) writable at target with BuildKit's rw bind
// semantics: writes go to a throw-away layer over the source and are discarded with it after the
// step; the source never changes. A directory gets an overlay with a fresh upper dir (a copy without
// overlayfs), a file a copy. With asRoot the source is copied and the copy owned by root.
func (sr *stageRun) throwAway(ctx context.Context, src, target string, asRoot bool) (run.Mount, func(), error) {
	fi, err := os.Stat(src)
	if err != nil {
		return run.Mount{}, nil, fmt.Errorf("--mount=type=bind,rw: %w", err)
	}
	dir, err := os.MkdirTemp(sr.bd.scratch.path, "bind-rw-")
	if err != nil {
		return run.Mount{}, nil, err
	}
	cleanup := func() { os.RemoveAll(dir) }
	fail := func(err error) (run.Mount, func(), error) {
		cleanup()
		return run.Mount{}, nil, fmt.Errorf("--mount=type=bind,rw: %w", err)
	}
	if asRoot {
		cp := filepath.Join(dir, "copy")
		if err := copyTreeAsRoot(ctx, src, cp); err != nil {
			return fail(err)
		}
		return run.Mount{Type: "bind", Source: cp, Target: target}, cleanup, nil
	}
	if !fi.IsDir() {
		f := filepath.Join(dir, "file")
		if err := copyFileTo(src, f, fi); err != nil {
			return fail(err)
		}
		return run.Mount{Type: "bind", Source: f, Target: target}, cleanup, nil
	}
	overlay, err := sr.bd.b.useOverlay()
	if err != nil {
		return fail(err)
	}
	// The kernel's overlay only (fuse-overlayfs, or a kernel refusing, falls through to a copy).
	if overlay {
		upper, work, merged := filepath.Join(dir, "upper"), filepath.Join(dir, "work"), filepath.Join(dir, "merged")
		for _, d := range []string{upper, work, merged} {
			if err := os.Mkdir(d, 0o755); err != nil {
				return fail(err)
			}
		}
		if err := snapshot.MountOverlayDirs([]string{src}, upper, work, merged); err == nil {
			return run.Mount{Type: "bind", Source: merged, Target: target}, func() {
				_ = snapshot.Unmount(merged)
				cleanup()
			}, nil
		}
		os.RemoveAll(upper)
		os.RemoveAll(work)
		os.RemoveAll(merged)
	}
	cp := filepath.Join(dir, "copy")
	if err := os.Mkdir(cp, fi.Mode().Perm()); err != nil {
		return fail(err)
	}
	if err := snapshot.Flatten(ctx, []string{src}, cp); err != nil {
		return fail(err)
	}
	return run.Mount{Type: "bind", Source: cp, Target: target}, cleanup, nil
}

// copyFileTo copies the regular file src (lstat fi) to dst with its mode and owner.
func copyFileTo(src, dst string, fi fs.FileInfo) error {
	data, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	if err := os.WriteFile(dst, data, fi.Mode().Perm()); err != nil {
		return err
	}
	if err := os.Chmod(dst, fi.Mode()&(fs.ModePerm|fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky)); err != nil {
		return err
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return os.Lchown(dst, int(st.Uid), int(st.Gid))
	}
	return nil
}

func (sr *stageRun) secretMount(rm *runMounts, m parser.RunMount, target string) error {
	id := m.ID
	if id == "" {
		id = path.Base(target)
	}
	sec, ok := sr.bd.opts.Secrets[id]
	if !ok {
		if m.Required {
			return fmt.Errorf("secret %q is required but was not given (--secret id=%s,src=FILE)", id, id)
		}
		rm.key = append(rm.key, "secret-absent:"+id+":"+target)
		return nil
	}
	if m.Env != nil {
		value, err := secretValue(sec)
		if err != nil {
			return err
		}
		rm.env = append(rm.env, *m.Env+"="+value)
		rm.key = append(rm.key, "secret-env:"+id+":"+*m.Env)
		if m.Target == "" {
			return nil
		}
	}
	mode := os.FileMode(0o400)
	if m.Mode != nil {
		mode = os.FileMode(*m.Mode)
	}
	uid, gid := 0, 0
	if m.UID != nil {
		uid = int(*m.UID)
	}
	if m.GID != nil {
		gid = int(*m.GID)
	}
	scratch := sr.bd.scratch
	rm.makes = append(rm.makes, func(context.Context) (run.Mount, func(), error) {
		value, err := secretValue(sec)
		if err != nil {
			return run.Mount{}, nil, err
		}
		dir, err := os.MkdirTemp(scratch.path, "secret-")
		if err != nil {
			return run.Mount{}, nil, err
		}
		f := filepath.Join(dir, "secret")
		if err := os.WriteFile(f, []byte(value), mode); err == nil {
			err = os.Chmod(f, mode)
			if err == nil {
				err = os.Lchown(f, uid, gid)
			}
		}
		if err != nil {
			os.RemoveAll(dir)
			return run.Mount{}, nil, fmt.Errorf("secret %s: %w", id, err)
		}
		return run.Mount{Type: "bind", Source: f, Target: target, ReadOnly: true}, func() { os.RemoveAll(dir) }, nil
	})
	// Only the id and where it is mounted: never the content.
	rm.key = append(rm.key, fmt.Sprintf("secret:%s:%s:%o:%d:%d", id, target, mode, uid, gid))
	return nil
}

func secretValue(s Secret) (string, error) {
	if s.File != "" {
		data, err := os.ReadFile(s.File)
		if err != nil {
			return "", fmt.Errorf("reading secret: %w", err)
		}
		return string(data), nil
	}
	return s.Env, nil
}
