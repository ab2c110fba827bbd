package store

import (
	"bytes"
	"encoding/json"
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
)

// WithComment returns img with docker's top-level config field "comment" set (what `docker inspect
// -f '{{.Comment}}'` shows and `commit -m` sets), which ggcr's ConfigFile does not carry. The config
// keeps every other field; the manifest points at the new config. An empty comment returns img.
func WithComment(img v1.Image, comment string) (v1.Image, error) {
	if comment == "" {
		return img, nil
	}
	raw, err := img.RawConfigFile()
	if err != nil {
		return nil, err
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return nil, fmt.Errorf("parsing image config: %w", err)
	}
	if fields["comment"], err = json.Marshal(comment); err != nil {
		return nil, err
	}
	if raw, err = json.Marshal(fields); err != nil {
		return nil, err
	}
	m, err := img.Manifest()
	if err != nil {
		return nil, err
	}
	m = m.DeepCopy()
	if m.Config.Digest, m.Config.Size, err = v1.SHA256(bytes.NewReader(raw)); err != nil {
		return nil, err
	}
	rawManifest, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	return &rawConfigImage{Image: img, config: raw, manifest: m, rawManifest: rawManifest}, nil
}

// rawConfigImage is an image whose config bytes (and so manifest) replace its base's.
type rawConfigImage struct {
	v1.Image
	config, rawManifest []byte
	manifest            *v1.Manifest
}

var _ v1.Image = (*rawConfigImage)(nil)

func (i *rawConfigImage) RawConfigFile() ([]byte, error)  { return i.config, nil }
func (i *rawConfigImage) ConfigName() (v1.Hash, error)    { return i.manifest.Config.Digest, nil }
func (i *rawConfigImage) Manifest() (*v1.Manifest, error) { return i.manifest, nil }
func (i *rawConfigImage) RawManifest() ([]byte, error)    { return i.rawManifest, nil }
func (i *rawConfigImage) Digest() (v1.Hash, error)        { return partial.Digest(i) }
func (i *rawConfigImage) Size() (int64, error)            { return int64(len(i.rawManifest)), nil }
func (i *rawConfigImage) ConfigFile() (*v1.ConfigFile, error) {
	return v1.ParseConfigFile(bytes.NewReader(i.config))
}
