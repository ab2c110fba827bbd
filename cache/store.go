package cache

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/hoistbuild/hoist/internal/atomicfile"
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
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return fmt.Errorf("writing cache record: %w", err)
	}
	if err := atomicfile.WriteFile(s.path(k), data, 0o644); err != nil {
		return fmt.Errorf("writing cache record: %w", err)
	}
	return nil
}

// The member index of a layer blob the builder wrote (see snapshot.MemberCompressor) is kept beside
// the records, in members/<digest hex>, so that the next commit of the same step can copy the
// members that did not change. Losing one only costs that reuse.

func (s *Store) membersPath(digest v1.Hash) string {
	return filepath.Join(s.dir, "members", digest.Hex)
}

// PutMembers keeps the member index of layer blob digest, atomically.
func (s *Store) PutMembers(digest v1.Hash, index []byte) error {
	if err := os.MkdirAll(filepath.Dir(s.membersPath(digest)), 0o700); err != nil {
		return err
	}
	return writeAtomic(s.membersPath(digest), index)
}

// Members returns the member index of layer blob digest, or ErrMiss.
func (s *Store) Members(digest v1.Hash) ([]byte, error) {
	b, err := os.ReadFile(s.membersPath(digest))
	if err != nil {
		return nil, ErrMiss
	}
	return b, nil
}

// DeleteMembers drops the member index of a blob that is gone.
func (s *Store) DeleteMembers(digest v1.Hash) {
	_ = os.Remove(s.membersPath(digest))
}

// Entry is a stored record with the last time it was used (written or served by Get).
type Entry struct {
	Key      Key
	Record   Record
	LastUsed time.Time
}

// List returns every record. Unreadable ones are skipped.
func (s *Store) List() ([]Entry, error) {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, err
	}
	var out []Entry
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || len(name) != 64+5 || name[64:] != ".json" {
			continue
		}
		k := Key("sha256:" + name[:64])
		r, err := s.Get(k)
		if err != nil {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			continue
		}
		out = append(out, Entry{Key: k, Record: r, LastUsed: fi.ModTime()})
	}
	return out, nil
}

// Delete removes the record of k (a missing one is not an error).
func (s *Store) Delete(k Key) error {
	if err := os.Remove(s.path(k)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// Touch marks k as used now, for least-recently-used pruning.
func (s *Store) Touch(k Key) {
	now := time.Now()
	_ = os.Chtimes(s.path(k), now, now)
}
