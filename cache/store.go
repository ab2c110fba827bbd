package cache

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// ErrMiss is returned by Get when no result is recorded for a key.
var ErrMiss = errors.New("cache miss")

// Layer describes a committed layer blob.
type Layer struct {
	Digest    string `json:"digest"`
	DiffID    string `json:"diffID"`
	Size      int64  `json:"size"`
	MediaType string `json:"mediaType"`
}

// Record is what a step produced: a layer, or nothing (a step whose filesystem change was empty).
type Record struct {
	Layer   *Layer    `json:"layer,omitempty"`
	Created time.Time `json:"created"`
	// Step is the instruction text that produced it, for explanations.
	Step string `json:"step,omitempty"`
}

// Store maps keys to records on disk, one small JSON file per key under dir. Put is atomic (temp file +
// rename) and idempotent; concurrent use from several processes is safe. The store does not keep the
// layer blobs themselves alive: the image store does, and Get callers must check the blob exists.
type Store struct {
	dir string
}

// Open returns the store kept in dir, creating it.
func Open(dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating cache dir: %w", err)
	}
	return &Store{dir: dir}, nil
}

func (s *Store) path(k Key) string { return filepath.Join(s.dir, k.Hex()+".json") }

// Get returns the record of k, or ErrMiss.
func (s *Store) Get(k Key) (Record, error) {
	var r Record
	data, err := os.ReadFile(s.path(k))
	if errors.Is(err, os.ErrNotExist) {
		return r, ErrMiss
	}
	if err != nil {
		return r, fmt.Errorf("reading cache record: %w", err)
	}
	if err := json.Unmarshal(data, &r); err != nil {
		// A corrupt record is a miss: the step simply runs again and rewrites it.
		return r, ErrMiss
	}
	return r, nil
}

// Put records r for k atomically.
func (s *Store) Put(k Key, r Record) error {
	data, err := json.Marshal(r)
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(s.dir, ".tmp-*")
	if err != nil {
		return fmt.Errorf("writing cache record: %w", err)
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("writing cache record: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("writing cache record: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("writing cache record: %w", err)
	}
	if err := os.Rename(f.Name(), s.path(k)); err != nil {
		return fmt.Errorf("writing cache record: %w", err)
	}
	return nil
}
