package push

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/hoistbuild/hoist/store"
)

// Uploader sends layers to repositories while the build that makes them still runs (build --push),
// so that the push at the end finds them there (one HEAD each) and sends only the config and the
// manifest. Layers are read from the store as committed: nothing is compressed again. A layer is
// uploaded at most once per repository. Nothing here pushes a manifest, so an image is never
// visible before Push. Safe for concurrent use.
type Uploader struct {
	ctx    context.Context
	cancel context.CancelFunc
	st     *store.Store
	repos  []name.Repository
	o      Options
	done   func(v1.Hash) // called after each layer is in every repository (may be nil)

	mu   sync.Mutex
	seen map[v1.Hash]bool
	err  error
	wg   sync.WaitGroup
	sem  chan struct{}
}

// NewUploader starts an uploader to repos of layers stored in st; done, when not nil, is told of each
// layer uploaded. A layer known in another repository of the same registry is mounted from there, as
// Push does. Call Wait (or Abort) when the build ends.
func NewUploader(ctx context.Context, st *store.Store, repos []name.Repository, o Options, done func(v1.Hash)) *Uploader {
	ctx, cancel := context.WithCancel(ctx)
	o.Progress = nil // the build's own progress reports the uploads
	return &Uploader{ctx: ctx, cancel: cancel, st: st, repos: repos, o: o, done: done, seen: map[v1.Hash]bool{},
		sem: make(chan struct{}, o.jobs())}
}

// Add starts uploading l (a layer whose blob is in the store) unless it was added before.
func (u *Uploader) Add(l v1.Layer) {
	d, err := l.Digest()
	if err != nil {
		u.fail(err)
		return
	}
	u.mu.Lock()
	if u.seen[d] || u.err != nil {
		u.mu.Unlock()
		return
	}
	u.seen[d] = true
	u.mu.Unlock()
	u.wg.Add(1)
	go func() {
		defer u.wg.Done()
		select {
		case u.sem <- struct{}{}:
		case <-u.ctx.Done():
			return
		}
		defer func() { <-u.sem }()
		if err := u.upload(l); err != nil {
			u.fail(fmt.Errorf("pushing layer %s: %w", d, err))
			return
		}
		if u.done != nil {
			u.done(d)
		}
	}()
}

func (u *Uploader) upload(l v1.Layer) error {
	ropts, err := u.o.remoteOptions(u.ctx, nil)
	if err != nil {
		return err
	}
	d, err := l.Digest()
	if err != nil {
		return err
	}
	for _, repo := range u.repos {
		up := l
		if srcs, err := mountSources(u.ctx, u.st, []v1.Descriptor{{Digest: d}}, repo); err == nil {
			if src, ok := srcs[d]; ok {
				up = &remote.MountableLayer{Layer: l, Reference: src.Tag("latest")}
			}
		}
		if err := remote.WriteLayer(u.o.repository(repo), up, ropts...); err != nil {
			return describe(err)
		}
	}
	return nil
}

// fail records the first error and stops the other uploads.
func (u *Uploader) fail(err error) {
	u.mu.Lock()
	if u.err == nil && !errors.Is(err, context.Canceled) {
		u.err = err
	}
	u.mu.Unlock()
	u.cancel()
}

// Wait waits for every upload and returns the first error.
func (u *Uploader) Wait() error {
	u.wg.Wait()
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.err == nil && u.ctx.Err() != nil {
		return u.ctx.Err()
	}
	return u.err
}

// Abort stops the uploads and waits for them to end.
func (u *Uploader) Abort() {
	u.cancel()
	u.wg.Wait()
}
