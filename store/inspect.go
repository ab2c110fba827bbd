package store

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// imageConfig is the image config JSON with the docker-only fields that
// ggcr's ConfigFile does not carry.
type imageConfig struct {
	v1.ConfigFile
	Comment         string     `json:"comment,omitempty"`
	Parent          string     `json:"parent,omitempty"`
	ContainerConfig *v1.Config `json:"container_config,omitempty"`
}

func parseConfig(raw []byte) (*imageConfig, error) {
	var c imageConfig
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, fmt.Errorf("parsing image config: %w", err)
	}
	return &c, nil
}

// ImageInspect is the result of Inspect. Its JSON encoding has the field
// names and shape of `docker image inspect` (docker 20.10, recorded in
// testdata/docker-inspect-busybox.json).
type ImageInspect struct {
	ID              string `json:"Id"`
	RepoTags        []string
	RepoDigests     []string
	Parent          string
	Comment         string
	Created         string
	Container       string
	ContainerConfig *ContainerConfig
	DockerVersion   string
	Author          string
	Config          *ContainerConfig
	Architecture    string
	Variant         string `json:",omitempty"`
	Os              string
	OsVersion       string `json:",omitempty"`
	// Size and VirtualSize are the config size plus the compressed layer
	// sizes (docker reports the unpacked size; see ImageSummary.Size).
	Size        int64
	VirtualSize int64
	GraphDriver GraphDriverData
	RootFS      RootFS
	Metadata    ImageMetadata
	// Descriptor and Manifests describe an index (a multi-platform image), as docker 28's image
	// inspect does with its containerd store: the index's descriptor and one entry per manifest. The
	// other fields then show the image for this host's platform (or the index's first), and Id is
	// the index digest.
	Descriptor *v1.Descriptor    `json:",omitempty"`
	Manifests  []ManifestSummary `json:",omitempty"`
}

// ManifestSummary is one manifest of an index (docker's image.ManifestSummary, the fields hoist
// knows): its digest, descriptor (with the platform), whether its blobs are here, and its kind.
type ManifestSummary struct {
	ID         string
	Descriptor v1.Descriptor
	Available  bool
	Kind       string
}

// ContainerConfig is docker's container config (api/types/container.Config)
// with the same JSON field names and omitempty rules.
type ContainerConfig struct {
	Hostname        string
	Domainname      string
	User            string
	AttachStdin     bool
	AttachStdout    bool
	AttachStderr    bool
	ExposedPorts    map[string]struct{} `json:",omitempty"`
	Tty             bool
	OpenStdin       bool
	StdinOnce       bool
	Env             []string
	Cmd             []string
	Healthcheck     *HealthConfig `json:",omitempty"`
	ArgsEscaped     bool          `json:",omitempty"`
	Image           string
	Volumes         map[string]struct{}
	WorkingDir      string
	Entrypoint      []string
	NetworkDisabled bool   `json:",omitempty"`
	MacAddress      string `json:",omitempty"`
	OnBuild         []string
	Labels          map[string]string
	StopSignal      string   `json:",omitempty"`
	Shell           []string `json:",omitempty"`
}

// HealthConfig is docker's healthcheck config; durations are nanoseconds.
type HealthConfig struct {
	Test        []string      `json:",omitempty"`
	Interval    time.Duration `json:",omitempty"`
	Timeout     time.Duration `json:",omitempty"`
	StartPeriod time.Duration `json:",omitempty"`
	Retries     int           `json:",omitempty"`
}

// GraphDriverData mirrors docker's field; hoist reports Name "hoist" and no
// data (layers are not exposed as mounted directories by the store).
type GraphDriverData struct {
	Data map[string]string
	Name string
}

// RootFS lists the layer diff IDs, oldest first.
type RootFS struct {
	Type   string
	Layers []string `json:",omitempty"`
}

// ImageMetadata is docker's Metadata; LastTagTime is when the image was
// recorded in the store.
type ImageMetadata struct {
	LastTagTime time.Time `json:",omitempty"`
}

func toContainerConfig(c *v1.Config) *ContainerConfig {
	if c == nil {
		return &ContainerConfig{}
	}
	out := &ContainerConfig{
		Hostname: c.Hostname, Domainname: c.Domainname, User: c.User,
		AttachStdin: c.AttachStdin, AttachStdout: c.AttachStdout, AttachStderr: c.AttachStderr,
		ExposedPorts: c.ExposedPorts, Tty: c.Tty, OpenStdin: c.OpenStdin, StdinOnce: c.StdinOnce,
		Env: c.Env, Cmd: c.Cmd, ArgsEscaped: c.ArgsEscaped, Image: c.Image, Volumes: c.Volumes,
		WorkingDir: c.WorkingDir, Entrypoint: c.Entrypoint, NetworkDisabled: c.NetworkDisabled,
		MacAddress: c.MacAddress, OnBuild: c.OnBuild, Labels: c.Labels, StopSignal: c.StopSignal,
		Shell: c.Shell,
	}
	if h := c.Healthcheck; h != nil {
		out.Healthcheck = &HealthConfig{Test: h.Test, Interval: h.Interval, Timeout: h.Timeout,
			StartPeriod: h.StartPeriod, Retries: h.Retries}
	}
	return out
}

// Inspect returns docker-inspect-shaped metadata of the image ref resolves
// to (see Resolve). RepoTags are familiar names; RepoDigests are
// "<familiar repo>@<manifest digest>" for each repository the image is
// named in.
func (s *Store) Inspect(ctx context.Context, ref string) (*ImageInspect, error) {
	idx, err := s.readIndex(ctx)
	if err != nil {
		return nil, err
	}
	r, err := s.resolveIn(idx, ref)
	if err != nil {
		return nil, fmt.Errorf("inspecting %s: %w", ref, err)
	}
	rec := idx.Images[r.manifest.String()]
	mh, im, err := s.defaultManifest(r.manifest)
	if err != nil {
		return nil, fmt.Errorf("inspecting %s: %w", ref, err)
	}
	img, err := s.imageCore(mh)
	if err != nil {
		return nil, fmt.Errorf("inspecting %s: %w", ref, err)
	}
	raw, err := img.RawConfigFile()
	if err != nil {
		return nil, fmt.Errorf("inspecting %s: config: %w", ref, err)
	}
	cfg, err := parseConfig(raw)
	if err != nil {
		return nil, fmt.Errorf("inspecting %s: %w", ref, err)
	}
	size := manifestSize(img.manifest)
	out := &ImageInspect{
		ID:              img.manifest.Config.Digest.String(),
		RepoTags:        []string{},
		RepoDigests:     []string{},
		Parent:          cfg.Parent,
		Comment:         cfg.Comment,
		Created:         cfg.Created.UTC().Format(time.RFC3339Nano),
		Container:       cfg.Container,
		ContainerConfig: toContainerConfig(cfg.ContainerConfig),
		DockerVersion:   cfg.DockerVersion,
		Author:          cfg.Author,
		Config:          toContainerConfig(&cfg.Config),
		Architecture:    cfg.Architecture,
		Variant:         cfg.Variant,
		Os:              cfg.OS,
		OsVersion:       cfg.OSVersion,
		Size:            size,
		VirtualSize:     size,
		GraphDriver:     GraphDriverData{Name: "hoist"},
		RootFS:          RootFS{Type: cfg.RootFS.Type},
		Metadata:        ImageMetadata{LastTagTime: rec.Added},
	}
	for _, n := range rec.Names {
		ref, err := ParseName(n)
		if err != nil {
			continue
		}
		out.RepoTags = append(out.RepoTags, FamiliarName(ref))
		d := FamiliarRepo(ref) + "@" + r.manifest.String()
		if !slices.Contains(out.RepoDigests, d) {
			out.RepoDigests = append(out.RepoDigests, d)
		}
	}
	for _, d := range cfg.RootFS.DiffIDs {
		out.RootFS.Layers = append(out.RootFS.Layers, d.String())
	}
	if im != nil {
		if err := s.inspectIndex(out, r.manifest, im); err != nil {
			return nil, fmt.Errorf("inspecting %s: %w", ref, err)
		}
	}
	return out, nil
}

// HistoryEntry is one line of `hoist history`, as docker's image history.
type HistoryEntry struct {
	// ID is "sha256:<image ID>" on the newest entry, "<missing>" otherwise.
	ID        string
	Created   time.Time
	CreatedBy string
	// Size is the compressed size of the entry's layer; 0 for empty layers.
	Size       int64
	Comment    string
	Tags       []string // familiar names, on the newest entry only
	EmptyLayer bool
}

// History returns the config history of the image ref resolves to, newest
// first, pairing each non-empty entry with its layer. An image without
// history gets one synthesized entry per layer.
func (s *Store) History(ctx context.Context, ref string) ([]HistoryEntry, error) {
	idx, err := s.readIndex(ctx)
	if err != nil {
		return nil, err
	}
	r, err := s.resolveIn(idx, ref)
	if err != nil {
		return nil, fmt.Errorf("history of %s: %w", ref, err)
	}
	mh, _, err := s.defaultManifest(r.manifest)
	if err != nil {
		return nil, fmt.Errorf("history of %s: %w", ref, err)
	}
	img, err := s.imageCore(mh)
	if err != nil {
		return nil, fmt.Errorf("history of %s: %w", ref, err)
	}
	raw, err := img.RawConfigFile()
	if err != nil {
		return nil, fmt.Errorf("history of %s: config: %w", ref, err)
	}
	cfg, err := parseConfig(raw)
	if err != nil {
		return nil, fmt.Errorf("history of %s: %w", ref, err)
	}
	hist := cfg.History
	if len(hist) == 0 {
		for range img.manifest.Layers {
			hist = append(hist, v1.History{Created: cfg.Created})
		}
	}
	layers := img.manifest.Layers
	var out []HistoryEntry
	for _, h := range hist {
		e := HistoryEntry{ID: "<missing>", Created: h.Created.Time, CreatedBy: h.CreatedBy,
			Comment: h.Comment, EmptyLayer: h.EmptyLayer}
		if !h.EmptyLayer && len(layers) > 0 {
			e.Size = layers[0].Size
			layers = layers[1:]
		}
		out = append(out, e)
	}
	slices.Reverse(out)
	if len(out) > 0 {
		out[0].ID = img.manifest.Config.Digest.String()
		for _, n := range idx.Images[r.manifest.String()].Names {
			out[0].Tags = append(out[0].Tags, familiar(n))
		}
	}
	return out, nil
}
