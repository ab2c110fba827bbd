package container

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/hoistbuild/hoist/snapshot"
	"github.com/hoistbuild/hoist/store"
)

// CommitOptions are docker commit's flags.
type CommitOptions struct {
	Ref     string // repository[:tag] to name the image; "" for none
	Message string
	Author  string
	// Changes are the -c Dockerfile instructions applied to the new image's config.
	Changes []string
	// Pause freezes a running container (its cgroup's freezer) while its changes are read, so the
	// layer is one moment's state (docker's default, --pause).
	Pause bool
}

// Commit makes an image of the container's changes on top of its image and
// returns the image ID (config digest).
func (r *Runtime) Commit(ctx context.Context, ref string, o CommitOptions) (v1.Hash, error) {
	c, err := r.Get(ctx, ref)
	if err != nil {
		return v1.Hash{}, err
	}
	h, err := v1.NewHash(c.Config.Manifest)
	if err != nil {
		return v1.Hash{}, err
	}
	base, err := r.store.Image(h)
	if err != nil {
		return v1.Hash{}, fmt.Errorf("%w: %s: %w", ErrNoImage, c.Config.Image, err)
	}
	mt, err := base.MediaType()
	if err != nil {
		return v1.Hash{}, err
	}
	docker := mt == types.DockerManifestSchema2
	if o.Pause && c.State.Running() && c.State.Cgroup != nil {
		if err := c.State.Cgroup.Freeze(ctx); err != nil {
			return v1.Hash{}, fmt.Errorf("pausing container %s for the commit (--pause=false commits without): %w", c.ID[:12], err)
		}
		defer func() { _ = c.State.Cgroup.Thaw() }()
	}
	pr, pw := io.Pipe()
	go func() {
		pw.CloseWithError(snapshot.WriteDiff(ctx, filepath.Join(r.Dir(c.ID), "upper"), pw, snapshot.DiffOptions{}))
	}()
	defer pr.Close()
	bw, err := r.store.NewBlobWriter()
	if err != nil {
		return v1.Hash{}, err
	}
	defer bw.Abort()
	res, err := snapshot.Compress(ctx, pr, bw, snapshot.CompressOptions{DockerMediaTypes: docker})
	if err != nil {
		return v1.Hash{}, fmt.Errorf("committing container layer: %w", err)
	}
	if _, _, err := bw.Commit(res.Digest); err != nil {
		return v1.Hash{}, fmt.Errorf("committing container layer: %w", err)
	}
	layer, err := r.store.Layer(v1.Descriptor{MediaType: res.MediaType, Size: res.Size, Digest: res.Digest}, res.DiffID)
	if err != nil {
		return v1.Hash{}, err
	}
	now := time.Now().UTC()
	img, err := mutate.Append(base, mutate.Addendum{Layer: layer, History: v1.History{
		Created: v1.Time{Time: now}, CreatedBy: strings.Join(c.Command(), " "), Comment: o.Message, Author: o.Author,
	}})
	if err != nil {
		return v1.Hash{}, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return v1.Hash{}, err
	}
	cf = cf.DeepCopy()
	cf.Created = v1.Time{Time: now}
	cf.Author = o.Author
	cf.Config.Env = c.Config.Env
	if err := store.ApplyChanges(&cf.Config, o.Changes); err != nil {
		return v1.Hash{}, err
	}
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		return v1.Hash{}, err
	}
	if img, err = store.WithComment(img, o.Message); err != nil { // docker's .Comment
		return v1.Hash{}, err
	}
	mh, err := r.store.WriteImage(ctx, img)
	if err != nil {
		return v1.Hash{}, err
	}
	var names []string
	if o.Ref != "" {
		n, err := store.ParseName(o.Ref)
		if err != nil {
			return v1.Hash{}, err
		}
		names = append(names, store.NormalizedName(n))
	}
	if err := r.store.AddImage(ctx, mh, names...); err != nil {
		return v1.Hash{}, err
	}
	return img.ConfigName()
}
