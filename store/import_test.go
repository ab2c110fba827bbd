package store

import (
	"bytes"
	"context"
	"runtime"
	"slices"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"
)

func TestImport(t *testing.T) {
	ctx := context.Background()
	rootfs := rootfsTar(t, map[string]string{"bin/hello": "#!/bin/sh\necho hi\n", "etc/os-release": "ID=test\n"})
	created := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	opts := ImportOptions{
		Cmd: []string{"/bin/hello"}, Env: []string{"A=b"}, WorkingDir: "/w", User: "1000",
		Labels: map[string]string{"k": "v"}, ExposedPorts: []string{"80", "53/udp"}, Volumes: []string{"/data"},
		Comment: "from test", Created: created,
	}
	tests := []struct {
		name      string
		input     []byte
		ref       string
		opts      ImportOptions
		wantMT    types.MediaType
		wantLayer types.MediaType
		wantErr   error
		anyErr    bool // some error, cause unspecified
	}{
		{name: "plain tar", input: rootfs, ref: "imported:1", opts: opts, wantMT: types.DockerManifestSchema2, wantLayer: types.DockerLayer},
		{name: "gzip tar kept as is", input: gzipBytes(t, rootfs), opts: opts, wantMT: types.DockerManifestSchema2, wantLayer: types.DockerLayer},
		{name: "zstd tar gives OCI", input: zstdBytes(t, rootfs), opts: opts, wantMT: types.OCIManifestSchema1, wantLayer: types.OCILayerZStd},
		{name: "defaults", input: rootfs, wantMT: types.DockerManifestSchema2, wantLayer: types.DockerLayer},
		{name: "not a tar", input: bytes.Repeat([]byte("garbage!"), 200), anyErr: true},
		{name: "bzip2", input: []byte("BZh91AY&SY"), wantErr: ErrUnsupported},
		{name: "digest as name", input: rootfs, ref: "x@sha256:" + sha(nil).Hex, wantErr: ErrInvalidName},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t)
			m, err := s.Import(ctx, bytes.NewReader(tt.input), tt.ref, tt.opts)
			if tt.wantErr != nil || tt.anyErr {
				if err == nil {
					t.Fatal("Import succeeded")
				}
				if tt.wantErr != nil {
					wantErr(t, err, tt.wantErr)
				}
				if blobCount(t, s) != 0 || tmpCount(t, s) != 0 {
					t.Fatal("failed import left files")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			img, err := s.Image(m)
			if err != nil {
				t.Fatal(err)
			}
			if err := validate.Image(img, fastIf(tt.wantLayer == types.OCILayerZStd)...); err != nil {
				t.Fatal(err)
			}
			checkDiffIDs(t, img)
			man, _ := img.Manifest()
			if man.MediaType != tt.wantMT || len(man.Layers) != 1 || man.Layers[0].MediaType != tt.wantLayer {
				t.Fatalf("manifest %s layers %+v", man.MediaType, man.Layers)
			}
			cfg, _ := img.ConfigFile()
			if cfg.Architecture != runtime.GOARCH || cfg.OS != "linux" || len(cfg.History) != 1 || cfg.RootFS.Type != "layers" {
				t.Fatalf("config %+v", cfg)
			}
			if d, _ := partialDiffID(img); d != sha(rootfs) {
				t.Fatalf("diff ID %s, want sha256 of the rootfs tar %s", d, sha(rootfs))
			}
			if tt.opts.Created.IsZero() {
				if cfg.History[0].Comment != "Imported from -" || time.Since(cfg.Created.Time) > time.Hour {
					t.Fatalf("defaults: %+v", cfg.History)
				}
			} else {
				c := cfg.Config
				if !cfg.Created.Time.Equal(created) || !slices.Equal(c.Cmd, opts.Cmd) || !slices.Equal(c.Env, opts.Env) ||
					c.WorkingDir != "/w" || c.User != "1000" || c.Labels["k"] != "v" || cfg.History[0].Comment != "from test" {
					t.Fatalf("config %+v", c)
				}
				if _, ok := c.ExposedPorts["80/tcp"]; !ok {
					t.Fatalf("ports %v", c.ExposedPorts)
				}
				if _, ok := c.ExposedPorts["53/udp"]; !ok {
					t.Fatalf("ports %v", c.ExposedPorts)
				}
				if _, ok := c.Volumes["/data"]; !ok {
					t.Fatalf("volumes %v", c.Volumes)
				}
			}
			// Recorded, under the name if one was given.
			if tt.ref != "" {
				if got, err := s.Resolve(ctx, tt.ref); err != nil || got != m {
					t.Fatalf("Resolve(%s) = %s %v", tt.ref, got, err)
				}
			}
			if got, err := s.Resolve(ctx, m.String()); err != nil || got != m {
				t.Fatalf("image not recorded: %v", err)
			}
		})
	}
}

func partialDiffID(img v1.Image) (v1.Hash, error) {
	cfg, err := img.ConfigFile()
	if err != nil {
		return v1.Hash{}, err
	}
	return cfg.RootFS.DiffIDs[0], nil
}
