package container

import (
	"context"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/hoistbuild/hoist/store"
)

// ImageUsers returns the containers as users of the images they were created from (store.Users), so
// that the store refuses to remove those images and prunes keep them.
func (r *Runtime) ImageUsers(ctx context.Context) ([]store.ImageUser, error) {
	list, err := r.List(ctx)
	if err != nil {
		return nil, err
	}
	var out []store.ImageUser
	for _, c := range list {
		h, err := v1.NewHash(c.Config.Manifest)
		if err != nil {
			continue
		}
		out = append(out, store.ImageUser{ID: c.ID, Image: h, Running: c.State.Running()})
	}
	return out, nil
}

// OpenStore opens the image store of hoist root dir protected by the root's containers: store.Remove
// refuses to delete an image a container uses, and image and build-cache prunes keep them, as docker
// does. opts are passed to store.Open.
func OpenStore(root string, opts ...store.Option) (*store.Store, error) {
	var st *store.Store
	users := func(ctx context.Context) ([]store.ImageUser, error) {
		r, err := Open(root, st)
		if err != nil {
			return nil, err
		}
		return r.ImageUsers(ctx)
	}
	st, err := store.Open(root, append(opts[:len(opts):len(opts)], store.WithUsers(users))...)
	return st, err
}
