package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/hoistbuild/hoist/internal/ctxio"
)

// maxJSONBlob bounds manifests and configs read into memory.
const maxJSONBlob = 64 << 20

// validateDigest reports whether h is a well-formed sha256 digest. It is
// called before any filesystem access that uses h.
func validateDigest(h v1.Hash) error {
	if h.Algorithm != "sha256" {
		return fmt.Errorf("%w: %q: only sha256 is supported", ErrInvalidDigest, h.String())
	}
	if len(h.Hex) != 64 {
		return fmt.Errorf("%w: %q: want 64 hex characters", ErrInvalidDigest, h.String())
	}
	for _, c := range h.Hex {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return fmt.Errorf("%w: %q: not lowercase hex", ErrInvalidDigest, h.String())
		}
	}
	return nil
}

func isZeroHash(h v1.Hash) bool { return h == v1.Hash{} }

// BlobPath returns the path at which blob h is (or would be) stored, or ""
// if h is not a valid sha256 digest. The file must be treated as read-only.
func (s *Store) BlobPath(h v1.Hash) string {
	if validateDigest(h) != nil {
		return ""
	}
	return filepath.Join(s.root, blobsDir, h.Algorithm, h.Hex)
}

// HasBlob reports whether blob h is present. It does not verify content.
func (s *Store) HasBlob(h v1.Hash) bool {
	p := s.BlobPath(h)
	if p == "" {
		return false
	}
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular()
}

// BlobSize returns the size in bytes of blob h; a missing blob gives an
// error wrapping ErrNotFound.
func (s *Store) BlobSize(h v1.Hash) (int64, error) {
	if err := validateDigest(h); err != nil {
		return 0, err
	}
	fi, err := os.Stat(s.BlobPath(h))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return 0, fmt.Errorf("blob %s: %w", h, ErrNotFound)
		}
		return 0, fmt.Errorf("blob %s: %w", h, err)
	}
	return fi.Size(), nil
}

// OpenBlob opens blob h for reading. The returned reader hashes what it
// reads and, at the end of the content, returns an error wrapping
// ErrCorrupt instead of io.EOF if the content does not match h. A
// remote-backed blob (see lazy.go) is fetched into the store first; a blob
// that is neither present nor remote-backed gives an error wrapping
// ErrNotFound. The caller closes the reader.
func (s *Store) OpenBlob(h v1.Hash) (io.ReadCloser, error) {
	if err := validateDigest(h); err != nil {
		return nil, err
	}
	f, err := os.Open(s.BlobPath(h))
	if errors.Is(err, os.ErrNotExist) {
		// OpenBlob's callers, ggcr's layer readers among them, have no context to give: the
		// Fetcher is bound to its own (see Fetcher).
		if err := s.fetch(context.Background(), h); err != nil {
			return nil, err
		}
		f, err = os.Open(s.BlobPath(h))
	}
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("blob %s: %w", h, ErrNotFound)
		}
		return nil, fmt.Errorf("opening blob %s: %w", h, err)
	}
	return &verifyingReader{f: f, want: h, h: sha256.New()}, nil
}

// readBlob reads a whole (small) blob, verified.
func (s *Store) readBlob(h v1.Hash) ([]byte, error) {
	rc, err := s.OpenBlob(h)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, maxJSONBlob+1))
	if err != nil {
		return nil, fmt.Errorf("reading blob %s: %w", h, err)
	}
	if len(b) > maxJSONBlob {
		return nil, fmt.Errorf("reading blob %s: larger than %d bytes", h, maxJSONBlob)
	}
	return b, nil
}

type verifyingReader struct {
	f    *os.File
	want v1.Hash
	h    hash.Hash
	err  error // sticky terminal error
}

func (v *verifyingReader) Read(p []byte) (int, error) {
	if v.err != nil {
		return 0, v.err
	}
	n, err := v.f.Read(p)
	v.h.Write(p[:n])
	if err == io.EOF {
		if got := hex.EncodeToString(v.h.Sum(nil)); got != v.want.Hex {
			err = fmt.Errorf("blob %s: read sha256:%s: %w", v.want, got, ErrCorrupt)
		}
	}
	if err != nil {
		v.err = err
	}
	return n, err
}

func (v *verifyingReader) Close() error { return v.f.Close() }

// BlobWriter streams one blob into a temp file in root/tmp, hashing as it
// writes. Finish it with Commit or Abort (Close is Abort); both are safe to
// call after the other. A BlobWriter is not safe for concurrent use.
type BlobWriter struct {
	s    *Store
	f    *os.File
	h    hash.Hash
	w    io.Writer
	n    int64
	done bool
}

var _ io.WriteCloser = (*BlobWriter)(nil)

// NewBlobWriter starts a new blob. The temp file is flocked until Commit or
// Abort, so a concurrent Open does not remove it.
func (s *Store) NewBlobWriter() (*BlobWriter, error) {
	f, err := s.createTemp("blob")
	if err != nil {
		return nil, err
	}
	h := sha256.New()
	return &BlobWriter{s: s, f: f, h: h, w: io.MultiWriter(f, h)}, nil
}

// Write implements io.Writer.
func (b *BlobWriter) Write(p []byte) (int, error) {
	if b.done {
		return 0, errors.New("blob writer: write after commit or abort")
	}
	n, err := b.w.Write(p)
	b.n += int64(n)
	return n, err
}

// Size returns the number of bytes written so far.
func (b *BlobWriter) Size() int64 { return b.n }

// Digest returns the sha256 of the bytes written so far (what Commit checks expected against).
func (b *BlobWriter) Digest() v1.Hash {
	return v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(b.h.Sum(nil))}
}

// Commit fsyncs the content, checks it against expected (the zero Hash means
// no check) and atomically renames it to blobs/sha256/<hex>. Committing
// content that is already stored is not an error (idempotent). On any
// failure the temp file is removed. It returns the digest and size.
func (b *BlobWriter) Commit(expected v1.Hash) (v1.Hash, int64, error) {
	return b.commit(expected, -1)
}

// commit is Commit with an optional size check (wantSize < 0: no check).
func (b *BlobWriter) commit(expected v1.Hash, wantSize int64) (v1.Hash, int64, error) {
	if b.done {
		return v1.Hash{}, 0, errors.New("blob writer: already committed or aborted")
	}
	got := v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(b.h.Sum(nil))}
	fail := func(err error) (v1.Hash, int64, error) {
		b.Abort()
		return v1.Hash{}, 0, err
	}
	if !isZeroHash(expected) {
		if err := validateDigest(expected); err != nil {
			return fail(err)
		}
		if got != expected {
			return fail(fmt.Errorf("committing blob: expected %s, got %s: %w", expected, got, ErrCorrupt))
		}
	}
	if wantSize >= 0 && wantSize != b.n {
		return fail(fmt.Errorf("committing blob %s: expected size %d, got %d: %w", got, wantSize, b.n, ErrCorrupt))
	}
	if err := b.f.Sync(); err != nil {
		return fail(fmt.Errorf("committing blob %s: %w", got, err))
	}
	if err := b.f.Chmod(0o644); err != nil {
		return fail(fmt.Errorf("committing blob %s: %w", got, err))
	}
	dst := b.s.BlobPath(got)
	// Rename even if dst exists: atomic, and it heals a damaged copy.
	if err := os.Rename(b.f.Name(), dst); err != nil {
		return fail(fmt.Errorf("committing blob %s: %w", got, err))
	}
	b.done = true
	b.f.Close() // releases the flock; the path is already gone from tmp/
	if err := syncDir(filepath.Dir(dst)); err != nil {
		return v1.Hash{}, 0, fmt.Errorf("committing blob %s: %w", got, err)
	}
	return got, b.n, nil
}

// Abort discards the blob and removes the temp file. It is idempotent and
// a no-op after a successful Commit.
func (b *BlobWriter) Abort() error {
	if b.done {
		return nil
	}
	b.done = true
	name := b.f.Name()
	b.f.Close()
	if err := os.Remove(name); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("removing temp blob: %w", err)
	}
	return nil
}

// Close implements io.Closer; it is Abort.
func (b *BlobWriter) Close() error { return b.Abort() }

// WriteBlob copies r into a new blob and commits it against expected (the
// zero Hash means no check). It is idempotent and atomic: on error nothing
// is added to blobs/. The caller closes r.
func (s *Store) WriteBlob(ctx context.Context, r io.Reader, expected v1.Hash) (v1.Hash, int64, error) {
	return s.writeBlob(ctx, r, expected, -1)
}

func (s *Store) writeBlob(ctx context.Context, r io.Reader, expected v1.Hash, size int64) (v1.Hash, int64, error) {
	if !isZeroHash(expected) {
		if err := validateDigest(expected); err != nil {
			return v1.Hash{}, 0, err
		}
	}
	bw, err := s.NewBlobWriter()
	if err != nil {
		return v1.Hash{}, 0, err
	}
	defer bw.Abort()
	if _, err := io.Copy(bw, ctxio.Reader(ctx, r)); err != nil {
		return v1.Hash{}, 0, fmt.Errorf("writing blob: %w", err)
	}
	return bw.commit(expected, size)
}
