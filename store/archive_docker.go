package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"path"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// loadDocker stores every image listed in a docker-archive's manifest.json.
// Layers are ingested with ingestLayer (compressed layers kept byte for
// byte, uncompressed ones gzipped) and their diff IDs checked against the
// config; a new manifest (Docker schema 2) is written for each image.
func (s *Store) loadDocker(ctx context.Context, arc *tarArchive) ([]loadedImage, error) {
	raw, err := arc.readAll("manifest.json")
	if err != nil {
		return nil, err
	}
	var descs tarball.Manifest
	if err := json.Unmarshal(raw, &descs); err != nil {
		return nil, fmt.Errorf("parsing manifest.json: %w", err)
	}
	if len(descs) == 0 {
		return nil, fmt.Errorf("manifest.json lists no images: %w", ErrNotFound)
	}
	var out []loadedImage
	for i, d := range descs {
		li, err := s.loadDockerImage(ctx, arc, d)
		if err != nil {
			return nil, fmt.Errorf("image %d (%s): %w", i, d.Config, err)
		}
		out = append(out, li)
	}
	return out, nil
}

func (s *Store) loadDockerImage(ctx context.Context, arc *tarArchive, d tarball.Descriptor) (loadedImage, error) {
	names, err := normalizeTags(d.RepoTags)
	if err != nil {
		return loadedImage{}, err
	}
	cfgRaw, err := arc.readAll(d.Config)
	if err != nil {
		return loadedImage{}, fmt.Errorf("config: %w", err)
	}
	sum := sha256.Sum256(cfgRaw)
	cfgDigest := v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(sum[:])}
	// docker names the config "<id>.json" (old) or "blobs/sha256/<id>" (new).
	if base := strings.TrimSuffix(path.Base(d.Config), ".json"); len(base) == 64 && isHex(base) && base != cfgDigest.Hex {
		return loadedImage{}, fmt.Errorf("config %s has digest %s: %w", d.Config, cfgDigest, ErrCorrupt)
	}
	cfg, err := parseConfig(cfgRaw)
	if err != nil {
		return loadedImage{}, err
	}
	if len(cfg.RootFS.DiffIDs) != len(d.Layers) {
		return loadedImage{}, fmt.Errorf("config lists %d diff IDs but manifest.json %d layers: %w",
			len(cfg.RootFS.DiffIDs), len(d.Layers), ErrCorrupt)
	}
	layers := make([]layerInfo, 0, len(d.Layers))
	for i, lp := range d.Layers {
		if err := validateDigest(cfg.RootFS.DiffIDs[i]); err != nil {
			return loadedImage{}, fmt.Errorf("config diff ID %d: %w", i, err)
		}
		r, err := arc.open(lp)
		if err != nil {
			return loadedImage{}, fmt.Errorf("layer %d: %w", i, err)
		}
		li, err := s.ingestLayer(ctx, r, cfg.RootFS.DiffIDs[i])
		if err != nil {
			return loadedImage{}, fmt.Errorf("layer %d (%s): %w", i, lp, err)
		}
		layers = append(layers, li)
	}
	if _, _, err := s.writeBlob(ctx, bytes.NewReader(cfgRaw), cfgDigest, int64(len(cfgRaw))); err != nil {
		return loadedImage{}, fmt.Errorf("config: %w", err)
	}
	mraw, err := buildManifest(cfgDigest, int64(len(cfgRaw)), layers)
	if err != nil {
		return loadedImage{}, err
	}
	mh, _, err := s.writeBlob(ctx, bytes.NewReader(mraw), v1.Hash{}, int64(len(mraw)))
	if err != nil {
		return loadedImage{}, fmt.Errorf("manifest: %w", err)
	}
	return loadedImage{manifest: mh, id: cfgDigest, names: names}, nil
}
