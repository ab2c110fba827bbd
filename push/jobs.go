package push

import (
	"context"
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/hoistbuild/hoist/store"
)

// Job is one image to push: the stored manifest Src to the reference Dst.
type Job struct {
	Src v1.Hash
	Dst name.Reference
}

// ImageJob resolves what `push IMAGE [DESTINATION]` pushes: the stored image named src to dst, or to
// src itself when dst is empty. dst may carry podman's docker:// prefix.
func ImageJob(ctx context.Context, st *store.Store, src, dst string) (Job, error) {
	h, err := st.Resolve(ctx, src)
	if err != nil {
		return Job{}, fmt.Errorf("no such image %s: %w", src, err)
	}
	if dst == "" {
		dst = src
	}
	dst = strings.TrimPrefix(dst, "docker://")
	ref, err := store.ParseName(dst)
	if err != nil {
		return Job{}, fmt.Errorf("invalid destination %q: %w", dst, err)
	}
	return Job{Src: h, Dst: ref}, nil
}

// TagJobs resolves `push --all-tags REPOSITORY`: every stored tag of repository (a name, whose tag,
// if any, is ignored), each to itself, in the store's List order. No tag is an error.
func TagJobs(ctx context.Context, st *store.Store, repository string) ([]Job, error) {
	repo, err := store.ParseName(repository)
	if err != nil {
		return nil, fmt.Errorf("invalid reference %q: %w", repository, err)
	}
	imgs, err := st.List(ctx)
	if err != nil {
		return nil, err
	}
	var jobs []Job
	for _, s := range imgs {
		for _, n := range s.Names {
			r, err := name.ParseReference(n)
			if err != nil || r.Context().Name() != repo.Context().Name() {
				continue
			}
			if _, ok := r.(name.Tag); ok {
				jobs = append(jobs, Job{Src: s.Manifest, Dst: r})
			}
		}
	}
	if len(jobs) == 0 {
		return nil, fmt.Errorf("no tagged image of %s in the store", store.FamiliarRepo(repo))
	}
	return jobs, nil
}
