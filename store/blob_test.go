package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

func sha(b []byte) v1.Hash {
	s := sha256.Sum256(b)
	return v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(s[:])}
}

func TestWriteBlob(t *testing.T) {
	ctx := context.Background()
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<16)
	tests := []struct {
		name     string
		content  []byte
		expected v1.Hash
		wantErr  error
	}{
		{name: "empty no check", content: nil},
		{name: "small checked", content: []byte("hello"), expected: sha([]byte("hello"))},
		{name: "1MiB checked", content: big, expected: sha(big)},
		{name: "wrong digest", content: []byte("hello"), expected: sha([]byte("other")), wantErr: ErrCorrupt},
		{name: "sha512 rejected", content: []byte("x"), expected: v1.Hash{Algorithm: "sha512", Hex: strings.Repeat("a", 128)}, wantErr: ErrInvalidDigest},
		{name: "short hex rejected", content: []byte("x"), expected: v1.Hash{Algorithm: "sha256", Hex: "abc"}, wantErr: ErrInvalidDigest},
		{name: "uppercase rejected", content: []byte("x"), expected: v1.Hash{Algorithm: "sha256", Hex: strings.ToUpper(sha([]byte("x")).Hex)}, wantErr: ErrInvalidDigest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t)
			h, n, err := s.WriteBlob(ctx, bytes.NewReader(tt.content), tt.expected)
			wantErr(t, err, tt.wantErr)
			if tmpCount(t, s) != 0 {
				t.Errorf("temp files left: %v", dirEntries(t, filepath.Join(s.Root(), tmpDir)))
			}
			if tt.wantErr != nil {
				if blobCount(t, s) != 0 {
					t.Errorf("failed write left blobs: %v", dirEntries(t, filepath.Join(s.Root(), blobsDir, "sha256")))
				}
				return
			}
			if h != sha(tt.content) || n != int64(len(tt.content)) {
				t.Fatalf("got %s %d, want %s %d", h, n, sha(tt.content), len(tt.content))
			}
			if !s.HasBlob(h) {
				t.Fatal("HasBlob = false after write")
			}
			if size, err := s.BlobSize(h); err != nil || size != n {
				t.Fatalf("BlobSize = %d, %v", size, err)
			}
			rc, err := s.OpenBlob(h)
			if err != nil {
				t.Fatal(err)
			}
			defer rc.Close()
			got, err := io.ReadAll(rc)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tt.content) {
				t.Fatal("content differs")
			}
			// Idempotent.
			if h2, _, err := s.WriteBlob(ctx, bytes.NewReader(tt.content), h); err != nil || h2 != h {
				t.Fatalf("second write: %s %v", h2, err)
			}
		})
	}
}

func TestOpenBlobDetectsCorruption(t *testing.T) {
	content := []byte(strings.Repeat("layer bytes ", 1000))
	tests := []struct {
		name    string
		damage  func(t *testing.T, p string)
		wantErr error
	}{
		{name: "intact", damage: func(*testing.T, string) {}},
		{name: "flipped byte", wantErr: ErrCorrupt, damage: func(t *testing.T, p string) {
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			b[len(b)/2] ^= 0x01
			if err := os.WriteFile(p, b, 0o644); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "truncated", wantErr: ErrCorrupt, damage: func(t *testing.T, p string) {
			if err := os.Truncate(p, 10); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "appended", wantErr: ErrCorrupt, damage: func(t *testing.T, p string) {
			f, err := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			f.Write([]byte("x"))
			f.Close()
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t)
			h, _, err := s.WriteBlob(context.Background(), bytes.NewReader(content), v1.Hash{})
			if err != nil {
				t.Fatal(err)
			}
			tt.damage(t, s.BlobPath(h))
			rc, err := s.OpenBlob(h)
			if err != nil {
				t.Fatal(err)
			}
			defer rc.Close()
			_, err = io.ReadAll(rc)
			wantErr(t, err, tt.wantErr)
			if tt.wantErr != nil {
				// The error is sticky.
				if _, err := rc.Read(make([]byte, 1)); !errors.Is(err, tt.wantErr) {
					t.Fatalf("second read error = %v", err)
				}
			}
		})
	}
}

func TestInvalidDigestsNeverTouchFilesystem(t *testing.T) {
	s := newStore(t)
	// Plant a file that a path-traversing digest could reach.
	if err := os.WriteFile(filepath.Join(s.Root(), "images.json"), []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	bad := []v1.Hash{
		{},
		{Algorithm: "sha256", Hex: "../../images.json"},
		{Algorithm: "sha256", Hex: strings.Repeat("g", 64)},
		{Algorithm: "sha512", Hex: strings.Repeat("a", 128)},
		{Algorithm: "md5", Hex: strings.Repeat("a", 32)},
		{Algorithm: "sha256", Hex: strings.Repeat("a", 63)},
	}
	for _, h := range bad {
		t.Run(h.String(), func(t *testing.T) {
			if p := s.BlobPath(h); p != "" {
				t.Errorf("BlobPath = %q", p)
			}
			if s.HasBlob(h) {
				t.Error("HasBlob = true")
			}
			if _, err := s.BlobSize(h); !errors.Is(err, ErrInvalidDigest) {
				t.Errorf("BlobSize error = %v", err)
			}
			_, err := s.OpenBlob(h)
			wantErr(t, err, ErrInvalidDigest)
			_, err = s.Image(h)
			wantErr(t, err, ErrInvalidDigest)
		})
	}
	_, err := s.OpenBlob(sha([]byte("absent")))
	wantErr(t, err, ErrNotFound)
	_, err = s.BlobSize(sha([]byte("absent")))
	wantErr(t, err, ErrNotFound)
}

func TestBlobWriterLifecycle(t *testing.T) {
	s := newStore(t)
	bw, err := s.NewBlobWriter()
	if err != nil {
		t.Fatal(err)
	}
	bw.Write([]byte("ab"))
	bw.Write([]byte("c"))
	if bw.Digest() != sha([]byte("abc")) {
		t.Fatalf("Digest() = %s, want the sum of the bytes written", bw.Digest())
	}
	if tmpCount(t, s) != 1 {
		t.Fatal("expected one temp file while writing")
	}
	// A concurrent Open must not remove a live writer's temp file.
	if _, err := Open(s.Root()); err != nil {
		t.Fatal(err)
	}
	if tmpCount(t, s) != 1 {
		t.Fatal("Open removed a live writer's temp file")
	}
	h, n, err := bw.Commit(sha([]byte("abc")))
	if err != nil || n != 3 {
		t.Fatalf("Commit: %v %d", err, n)
	}
	if err := bw.Abort(); err != nil {
		t.Fatalf("Abort after Commit: %v", err)
	}
	if err := bw.Close(); err != nil {
		t.Fatalf("Close after Commit: %v", err)
	}
	if !s.HasBlob(h) || tmpCount(t, s) != 0 {
		t.Fatal("blob missing or temp left after Commit+Abort")
	}
	if _, _, err := bw.Commit(v1.Hash{}); err == nil {
		t.Fatal("second Commit succeeded")
	}

	bw2, err := s.NewBlobWriter()
	if err != nil {
		t.Fatal(err)
	}
	bw2.Write([]byte("never committed"))
	if err := bw2.Abort(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := bw2.Commit(v1.Hash{}); err == nil {
		t.Fatal("Commit after Abort succeeded")
	}
	if blobCount(t, s) != 1 || tmpCount(t, s) != 0 {
		t.Fatalf("after abort: blobs %d tmp %d", blobCount(t, s), tmpCount(t, s))
	}
}

func TestCrashedWriterIsCleanedByOpen(t *testing.T) {
	s := newStore(t)
	cmd := runHelper(t, "crash", "HOIST_STORE_ROOT="+s.Root())
	if err := cmd.Run(); err != nil {
		t.Fatalf("helper: %v", err)
	}
	if tmpCount(t, s) != 1 {
		t.Fatalf("crashed writer should leave 1 temp file, found %d", tmpCount(t, s))
	}
	if blobCount(t, s) != 0 {
		t.Fatal("uncommitted write reached blobs/")
	}
	// A stray unlocked file (e.g. from a writer killed mid-rename) too.
	if err := os.WriteFile(filepath.Join(s.Root(), tmpDir, "stray"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(s.Root()); err != nil {
		t.Fatal(err)
	}
	if n := tmpCount(t, s); n != 0 {
		t.Fatalf("Open left %d temp files", n)
	}
}

func TestWriteBlobCancelled(t *testing.T) {
	s := newStore(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, _, err := s.WriteBlob(ctx, bytes.NewReader([]byte("x")), v1.Hash{})
	wantErr(t, err, context.Canceled)
	if blobCount(t, s) != 0 || tmpCount(t, s) != 0 {
		t.Fatal("cancelled write left files")
	}
}
