package builder

import (
	"archive/tar"
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

// exportee is what a build's outputs act on: the image in the store (for several platforms, the
// index) with its descriptor as BuildKit reports it, and the final filesystem of each platform.
type exportee struct {
	res  *Result
	desc v1.Descriptor // with the manifest-descriptor (an index: index-descriptor) annotations
	fs   []platformFS
}

// platformFS is the final state of one platform for the filesystem outputs.
type platformFS struct {
	// dir is the platform's subdirectory (linux_amd64) when several platforms were built, as BuildKit's
	// local and tar exporters split them; "" for one platform.
	dir string
	st  *imageState
	// atts are the platform's attestations, written as files next to the filesystem.
	atts []attestation
}

// export runs the build's outputs in order over x (already in the store) and returns the metadata
// buildx writes for them (--metadata-file). Files are written atomically (a failed output leaves no
// file); a push sends every layer and the config before the manifest (an index: every image before
// the index), so a failed push leaves no manifest behind.
func (bd *build) export(ctx context.Context, x exportee, outs []Output) (map[string]any, error) {
	md := map[string]any{}
	for _, o := range outs {
		var err error
		switch o.Type {
		case OutputImage:
			err = bd.exportImage(ctx, x, o, md)
		case OutputDocker, OutputOCI:
			err = bd.exportArchive(ctx, x, o, md)
		case OutputTar, OutputLocal:
			err = bd.exportFS(ctx, x.fs, o)
		}
		if err != nil {
			return nil, fmt.Errorf("exporting to %s: %w", o.Type, err)
		}
	}
	return md, nil
}

// exportImage pushes the stored image (or index) to each name when asked; the store names were given
// when it was written.
func (bd *build) exportImage(ctx context.Context, x exportee, o Output, md map[string]any) error {
	if o.Push {
		for _, n := range o.Names {
			ref, err := pushRef(n, x.res.Manifest, o.PushByDigest)
			if err != nil {
				return err
			}
			bd.progress.printf("pushing %s\n", ref)
			p, err := push.Push(ctx, bd.b.store, x.res.Manifest, ref, bd.opts.Registry)
			if err != nil {
				return err
			}
			bd.progress.printf("pushing %s done (%d layers)\n", p.Digest, p.Layers)
		}
	}
	imageMetadata(md, x.res, x.desc, o.Names)
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
// output without Dest is the store, named when the image was written. An OCI layout of a
// multi-platform build holds the whole index (planOutputs refuses a docker archive of one).
func (bd *build) exportArchive(ctx context.Context, x exportee, o Output, md map[string]any) error {
	desc := x.desc
	desc.Annotations = cloneMap(desc.Annotations)
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
	imageMetadata(md, x.res, desc, names)
	if o.Type == OutputDocker && o.Dest == "" {
		return nil
	}
	format := store.FormatDockerArchive
	if o.Type == OutputOCI {
		format = store.FormatOCIArchive
	}
	return bd.writeDest(o.Dest, func(w io.Writer) error {
		return bd.b.store.SaveImage(ctx, w, x.res.Manifest, o.Names, format, desc.Annotations)
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
// receives them, merged over what dest already holds. Several platforms go in one subdirectory each
// (linux_amd64/, linux_arm64/), as BuildKit's exporters split them.
func (bd *build) exportFS(ctx context.Context, fss []platformFS, o Output) error {
	if o.Type == OutputTar {
		return bd.writeDest(o.Dest, func(w io.Writer) error {
			if len(fss) == 1 && fss[0].dir == "" && len(fss[0].atts) == 0 {
				return bd.writeFSTar(ctx, fss[0].st, w)
			}
			return bd.writeSplitTar(ctx, fss, w)
		})
	}
	for _, f := range fss {
		lowers, err := bd.b.snaps.Ensure(ctx, f.st.layers)
		if err != nil {
			return err
		}
		dest := filepath.Join(o.Dest, f.dir)
		if err := os.MkdirAll(dest, 0o755); err != nil {
			return err
		}
		if err := snapshot.Flatten(ctx, lowers, dest); err != nil {
			return err
		}
		if err := ownBy(dest, os.Getuid(), os.Getgid()); err != nil {
			return err
		}
		if len(f.atts) > 0 {
			if err := writeStatementFiles(dest, f.atts); err != nil {
				return err
			}
		}
	}
	return nil
}

// writeFSTar writes the filesystem of st to w as a tar.
func (bd *build) writeFSTar(ctx context.Context, st *imageState, w io.Writer) error {
	root, done, err := bd.b.mountReadOnly(ctx, bd.scratch, st.layers)
	if err != nil {
		return err
	}
	defer done()
	return snapshot.WriteDiff(ctx, root, w, snapshot.DiffOptions{SourceDateEpoch: bd.opts.SourceDateEpoch})
}

// writeSplitTar writes one tar of every platform's filesystem, each under its directory (mode 0755,
// owned by root, mtime SOURCE_DATE_EPOCH or 0, as BuildKit's tar exporter makes the directory), with
// the platform's attestations as files; one platform with attestations has no directory.
func (bd *build) writeSplitTar(ctx context.Context, fss []platformFS, w io.Writer) error {
	tw := tar.NewWriter(w)
	mtime := time.Unix(0, 0)
	if bd.opts.SourceDateEpoch != nil {
		mtime = *bd.opts.SourceDateEpoch
	}
	stmtTime := time.Now() // BuildKit's statement files: SOURCE_DATE_EPOCH, else the export's time
	if bd.opts.SourceDateEpoch != nil {
		stmtTime = mtime
	}
	for _, f := range fss {
		prefix := ""
		if f.dir != "" {
			prefix = f.dir + "/"
			hdr := &tar.Header{Typeflag: tar.TypeDir, Name: prefix, Mode: 0o755, ModTime: mtime, Format: tar.FormatPAX}
			if err := tw.WriteHeader(hdr); err != nil {
				return err
			}
		}
		pr, pw := io.Pipe()
		go func() { pw.CloseWithError(bd.writeFSTar(ctx, f.st, pw)) }()
		err := copyTarWithStatements(tw, pr, prefix, f.atts, stmtTime)
		pr.CloseWithError(err) // stops the writer if the copy failed
		if err != nil {
			return fmt.Errorf("%s: %w", f.dir, err)
		}
	}
	return tw.Close()
}

// prefixTar copies the entries of the tar r into tw with prefix before every name (and hard link
// target).
func prefixTar(tw *tar.Writer, r io.Reader, prefix string) error {
	return copyTarWithStatements(tw, r, prefix, nil, time.Time{})
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
// --metadata-file). An index has no config: BuildKit gives no containerimage.config.digest for it.
func imageMetadata(md map[string]any, res *Result, desc v1.Descriptor, names []string) {
	md["containerimage.digest"] = res.Manifest.String()
	if !desc.MediaType.IsIndex() {
		md["containerimage.config.digest"] = res.ImageID.String()
	}
	md["containerimage.descriptor"] = desc
	if len(names) > 0 {
		md["image.name"] = strings.Join(names, ",")
	}
}
