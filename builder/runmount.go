package builder

import (
	"context"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"

	securejoin "github.com/cyphar/filepath-securejoin"

	"github.com/hoistbuild/hoist/parser"
	"github.com/hoistbuild/hoist/run"
)

var cacheIDRe = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)

// runMounts turns RUN --mount flags into sandbox mounts and the strings that enter the cache key.
// Supported: bind (from the context, read-only by default), tmpfs, cache (kept under root/cachemounts,
// never in a layer). secret and ssh are not supported yet.
func (sr *stageRun) runMounts(ctx context.Context, s *parser.RunStep) ([]run.Mount, []string, error) {
	var mounts []run.Mount
	var key []string
	for _, m := range s.Mounts {
		target := m.Target
		if target == "" {
			return nil, nil, fmt.Errorf("--mount=type=%s: target is required", m.Type)
		}
		if !path.IsAbs(target) {
			wd := sr.st.cfg.Config.WorkingDir
			target = path.Join("/", wd, target)
		}
		switch m.Type {
		case "tmpfs":
			mounts = append(mounts, run.Mount{Type: "tmpfs", Target: target})
			key = append(key, "tmpfs:"+target)
		case "cache":
			id := m.ID
			if id == "" {
				id = target
			}
			safe := strings.Trim(strings.ReplaceAll(id, "/", "_"), "_")
			if safe == "" || !cacheIDRe.MatchString(safe) {
				return nil, nil, fmt.Errorf("--mount=type=cache: invalid id %q", id)
			}
			dir := filepath.Join(sr.bd.b.root, "cachemounts", safe)
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return nil, nil, err
			}
			mode := os.FileMode(0o755)
			if m.Mode != nil {
				mode = os.FileMode(*m.Mode)
			}
			_ = os.Chmod(dir, mode)
			if m.UID != nil || m.GID != nil {
				uid, gid := 0, 0
				if m.UID != nil {
					uid = int(*m.UID)
				}
				if m.GID != nil {
					gid = int(*m.GID)
				}
				_ = os.Lchown(dir, uid, gid)
			}
			mounts = append(mounts, run.Mount{Type: "bind", Source: dir, Target: target, ReadOnly: m.ReadOnly})
			// The contents of a cache mount never enter the key: that is the point of a cache.
			key = append(key, "cache:"+id+":"+target)
		case "bind":
			if m.From != "" {
				return nil, nil, fmt.Errorf("--mount=type=bind,from=%s is not supported yet", m.From)
			}
			src := m.Source
			if src == "" {
				src = "/"
			}
			host, err := securejoin.SecureJoin(sr.bd.ctx.dir, src)
			if err != nil {
				return nil, nil, err
			}
			fi, err := os.Lstat(host)
			if err != nil {
				return nil, nil, fmt.Errorf("--mount=type=bind: %s not found in the build context", src)
			}
			rel := strings.TrimPrefix(path.Clean("/"+src), "/")
			digest, _, err := sr.bd.hashItems([]copyItem{{host: host, rel: rel, info: fi}})
			if err != nil {
				return nil, nil, err
			}
			mounts = append(mounts, run.Mount{Type: "bind", Source: host, Target: target, ReadOnly: true})
			if !m.ReadOnly {
				return nil, nil, fmt.Errorf("--mount=type=bind,rw is not supported yet")
			}
			key = append(key, "bind:"+src+":"+target+":"+digest)
		default:
			return nil, nil, fmt.Errorf("RUN --mount=type=%s is not supported yet", m.Type)
		}
	}
	return mounts, key, nil
}
