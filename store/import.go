package store

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/hoistbuild/hoist/parser"
)

// ImportOptions are the image settings of Import (docker import --change
// and --message, already parsed).
type ImportOptions struct {
	Cmd          []string
	Entrypoint   []string
	Env          []string
	WorkingDir   string
	User         string
	Labels       map[string]string
	ExposedPorts []string // "80/tcp"; a bare "80" means tcp
	Volumes      []string
	StopSignal   string
	// Changes are docker's --change instructions, applied after the fields above (ApplyChanges).
	Changes []string
	// Comment is the history and image comment; default "Imported from -".
	Comment string
	// Created is the creation time; the zero value means now.
	Created time.Time
	// Platform overrides the default linux/runtime.GOARCH.
	Platform *v1.Platform
}

// Import creates an image from a root filesystem tar (uncompressed, gzip or
// zstd), like docker import: one layer (the tar, gzip-compressed unless it
// already was compressed), a config for linux/runtime.GOARCH with the
// options applied, rootfs diff IDs and one history entry. If ref is not
// empty (a tag) the image gets that name. It returns the manifest digest.
// The caller closes rootfsTar.
func (s *Store) Import(ctx context.Context, rootfsTar io.Reader, ref string, opts ImportOptions) (v1.Hash, error) {
	var names []string
	if ref != "" {
		t, err := parseTag(ref)
		if err != nil {
			return v1.Hash{}, fmt.Errorf("importing: %w", err)
		}
		names = []string{NormalizedName(t)}
	}
	if _, _, err := parser.ParseChanges(opts.Changes); err != nil { // before any work
		return v1.Hash{}, fmt.Errorf("importing: %w", err)
	}
	layer, err := s.ingestLayer(ctx, rootfsTar, v1.Hash{})
	if err != nil {
		return v1.Hash{}, fmt.Errorf("importing: %w", err)
	}
	cfgRaw, err := importConfig(layer.diffID, opts)
	if err != nil {
		return v1.Hash{}, fmt.Errorf("importing: %w", err)
	}
	cfgDigest, cfgSize, err := s.WriteBlob(ctx, bytes.NewReader(cfgRaw), v1.Hash{})
	if err != nil {
		return v1.Hash{}, fmt.Errorf("importing: config: %w", err)
	}
	mraw, err := buildManifest(cfgDigest, cfgSize, []layerInfo{layer})
	if err != nil {
		return v1.Hash{}, fmt.Errorf("importing: %w", err)
	}
	mh, _, err := s.WriteBlob(ctx, bytes.NewReader(mraw), v1.Hash{})
	if err != nil {
		return v1.Hash{}, fmt.Errorf("importing: manifest: %w", err)
	}
	if err := s.recordImages(ctx, []pendingImage{{manifest: mh, names: names}}); err != nil {
		return v1.Hash{}, fmt.Errorf("importing: %w", err)
	}
	return mh, nil
}

func importConfig(diffID v1.Hash, o ImportOptions) ([]byte, error) {
	created := o.Created
	if created.IsZero() {
		created = time.Now()
	}
	created = created.UTC()
	comment := o.Comment
	if comment == "" {
		comment = "Imported from -"
	}
	cfg := imageConfig{
		ConfigFile: v1.ConfigFile{
			Architecture: runtime.GOARCH,
			OS:           "linux",
			Created:      v1.Time{Time: created},
			Config: v1.Config{
				Cmd: o.Cmd, Entrypoint: o.Entrypoint, Env: o.Env, WorkingDir: o.WorkingDir,
				User: o.User, Labels: o.Labels, StopSignal: o.StopSignal,
			},
			RootFS:  v1.RootFS{Type: "layers", DiffIDs: []v1.Hash{diffID}},
			History: []v1.History{{Created: v1.Time{Time: created}, Comment: comment}},
		},
		Comment: comment,
	}
	if p := o.Platform; p != nil {
		if p.OS != "" {
			cfg.OS = p.OS
		}
		if p.Architecture != "" {
			cfg.Architecture = p.Architecture
		}
		cfg.Variant = p.Variant
	}
	for _, port := range o.ExposedPorts {
		if cfg.Config.ExposedPorts == nil {
			cfg.Config.ExposedPorts = map[string]struct{}{}
		}
		if !strings.Contains(port, "/") {
			port += "/tcp"
		}
		cfg.Config.ExposedPorts[port] = struct{}{}
	}
	for _, v := range o.Volumes {
		if cfg.Config.Volumes == nil {
			cfg.Config.Volumes = map[string]struct{}{}
		}
		cfg.Config.Volumes[v] = struct{}{}
	}
	if err := ApplyChanges(&cfg.Config, o.Changes); err != nil {
		return nil, err
	}
	return json.Marshal(cfg)
}
