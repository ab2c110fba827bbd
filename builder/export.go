package builder

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/hoistbuild/hoist/internal/atomicfile"
	"github.com/hoistbuild/hoist/push"
	"github.com/hoistbuild/hoist/snapshot"
	"github.com/hoistbuild/hoist/store"
)

// export runs the build's outputs in order over the image res (already in the store) and the final
// state st, and returns the metadata buildx writes for them (--metadata-file). Files are written
// atomically (a failed output leaves no file); a push sends every layer and the config before the
// manifest, so a failed push leaves no manifest behind.
func (bd *build) export(ctx context.Context, res *Result, st *imageState, outs []Output, set AnnotationSet) (map[string]any, error) {
	md := map[string]any{}
	for _, o := range outs {
		var err error
		switch o.Type {
		case OutputImage:
			err = bd.exportImage(ctx, res, o, set, md)
		case OutputDocker, OutputOCI:
			err = bd.exportArchive(ctx, res, o, set, md)
		case OutputTar, OutputLocal:
			err = bd.exportFS(ctx, st, o)
		}
		if err != nil {
			return nil, fmt.Errorf("exporting to %s: %w", o.Type, err)
		}
	}
	return md, nil
}

// exportImage pushes the stored image to each name when asked; the store names were given when the
// image was written.
func (bd *build) exportImage(ctx context.Context, res *Result, o Output, set AnnotationSet, md map[string]any) error {
	if o.Push {
		for _, n := range o.Names {
			ref, err := pushRef(n, res.Manifest, o.PushByDigest)
			if err != nil {
				return err
			}
			bd.progress.printf("pushing %s\n", ref)
			p, err := push.Push(ctx, bd.b.store, res.Manifest, ref, bd.opts.Registry)
			if err != nil {
				return err
			}
			bd.progress.printf("pushing %s done (%d layers)\n", p.Digest, p.Layers)
		}
	}
	desc, err := bd.b.descriptor(res.Manifest, set.ManifestDescriptor)
	if err != nil {
		return err
	}
	imageMetadata(md, res, desc, o.Names)
	return nil
}

// pushRef is where a name is pushed: its tag (latest when none), or with byDigest its repository at
// the manifest digest.
func pushRef(n string, h v1.Hash, byDigest bool) (name.Reference, error) {
	ref, err := store.ParseName(n)
	if err != nil {
		return nil, fmt.Errorf("invalid name %q: %w", n, err)
	}
	if byDigest {
		return ref.Context().Digest(h.String()), nil
	}
	return ref, nil
}

// exportArchive writes a docker-archive or OCI layout tarball to Dest (stdout for "-"); a docker
// output without Dest is the store, named when the image was written.
func (bd *build) exportArchive(ctx context.Context, res *Result, o Output, set AnnotationSet, md map[string]any) error {
	desc, err := bd.b.descriptor(res.Manifest, set.ManifestDescriptor)
	if err != nil {
		return err
	}
	created := time.Now().UTC()
	if bd.opts.SourceDateEpoch != nil {
		created = bd.opts.SourceDateEpoch.UTC()
	}
	if desc.Annotations == nil {
		desc.Annotations = map[string]string{}
	}
	if _, ok := desc.Annotations["org.opencontainers.image.created"]; !ok {
		desc.Annotations["org.opencontainers.image.created"] = created.Format(time.RFC3339)
	}
	var names []string
	for _, n := range o.Names {
		ref, err := store.ParseName(n)
		if err != nil {
			return fmt.Errorf("invalid name %q: %w", n, err)
		}
		names = append(names, store.NormalizedName(ref))
	}
	imageMetadata(md, res, desc, names)
	if o.Type == OutputDocker && o.Dest == "" {
		return nil
	}
	format := store.FormatDockerArchive
	if o.Type == OutputOCI {
		format = store.FormatOCIArchive
	}
	return bd.writeDest(o.Dest, func(w io.Writer) error {
		return bd.b.store.SaveImage(ctx, w, res.Manifest, o.Names, format, desc.Annotations)
	})
}

// writeDest writes a file output: to Options.Stdout for "-", else atomically to the path.
func (bd *build) writeDest(dest string, fill func(io.Writer) error) error {
	if dest == "" || dest == StdoutDest {
		if bd.opts.Stdout == nil {
			return fmt.Errorf("no standard output to write to: give dest=FILE")
		}
		return fill(bd.opts.Stdout)
	}
	if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
		return err
	}
	return atomicfile.Write(dest, 0o644, fill)
}

// exportFS writes the final filesystem: a tar (tar) or a directory tree (local). The tar is the
// layer tar format of the build (sorted PAX entries, owners as in the image, mtimes clamped to
// SOURCE_DATE_EPOCH); the directory gets the files owned by the calling user, as BuildKit's client
// receives them, merged over what dest already holds.
func (bd *build) exportFS(ctx context.Context, st *imageState, o Output) error {
	if o.Type == OutputTar {
		root, done, err := bd.b.mountReadOnly(ctx, bd.scratch, st.layers)
		if err != nil {
			return err
		}
		defer done()
		return bd.writeDest(o.Dest, func(w io.Writer) error {
			return snapshot.WriteDiff(ctx, root, w, snapshot.DiffOptions{SourceDateEpoch: bd.opts.SourceDateEpoch})
		})
	}
	lowers, err := bd.b.snaps.Ensure(ctx, st.layers)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(o.Dest, 0o755); err != nil {
		return err
	}
	if err := snapshot.Flatten(ctx, lowers, o.Dest); err != nil {
		return err
	}
	return ownBy(o.Dest, os.Getuid(), os.Getgid())
}

// ownBy gives every entry under dir (dir included) to uid:gid, keeping the mode bits a chown clears
// (setuid, setgid).
func ownBy(dir string, uid, gid int) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if err := os.Lchown(p, uid, gid); err != nil {
			return err
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			return nil
		}
		return os.Chmod(p, fi.Mode()&(fs.ModePerm|fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky))
	})
}

// descriptor is the descriptor of the stored manifest h as BuildKit reports it: media type, digest,
// size, the image's platform, and the manifest-descriptor annotations.
func (b *Builder) descriptor(h v1.Hash, ann map[string]string) (v1.Descriptor, error) {
	img, err := b.store.Image(h)
	if err != nil {
		return v1.Descriptor{}, err
	}
	raw, err := img.RawManifest()
	if err != nil {
		return v1.Descriptor{}, err
	}
	mt, err := img.MediaType()
	if err != nil {
		return v1.Descriptor{}, err
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return v1.Descriptor{}, err
	}
	p := cfg.Platform()
	return v1.Descriptor{MediaType: mt, Digest: h, Size: int64(len(raw)), Platform: p, Annotations: cloneMap(ann)}, nil
}

// imageMetadata sets the keys BuildKit's image exporters return (buildx writes them to
// --metadata-file).
func imageMetadata(md map[string]any, res *Result, desc v1.Descriptor, names []string) {
	md["containerimage.digest"] = res.Manifest.String()
	md["containerimage.config.digest"] = res.ImageID.String()
	md["containerimage.descriptor"] = desc
	if len(names) > 0 {
		md["image.name"] = strings.Join(names, ",")
	}
}
