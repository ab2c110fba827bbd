//go:build linux

package snapshot

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Info describes one unpacked layer.
type Info struct {
	ChainID v1.Hash
	DiffID  v1.Hash
	// Size is the disk space its files use (apparent sizes of regular files).
	Size int64
}

// List returns every snapshot; with sizes it also adds up their files (a walk of every tree).
func (s *Snapshotter) List(sizes bool) ([]Info, error) {
	entries, err := os.ReadDir(s.root)
	if err != nil {
		return nil, err
	}
	var out []Info
	for _, e := range entries {
		if !e.IsDir() || len(e.Name()) != 64 {
			continue
		}
		chain := v1.Hash{Algorithm: "sha256", Hex: e.Name()}
		info := Info{ChainID: chain}
		if data, err := os.ReadFile(filepath.Join(s.root, e.Name(), "diffid")); err == nil {
			if h, err := v1.NewHash(strings.TrimSpace(string(data))); err == nil {
				info.DiffID = h
			}
		}
		if sizes {
			_ = filepath.WalkDir(filepath.Join(s.root, e.Name(), "fs"), func(_ string, d fs.DirEntry, err error) error {
				if err == nil && d.Type().IsRegular() {
					if fi, err := d.Info(); err == nil {
						info.Size += fi.Size()
					}
				}
				return nil
			})
		}
		out = append(out, info)
	}
	return out, nil
}
