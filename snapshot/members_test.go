//go:build linux

package snapshot

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// commitMembers writes the layer of upper through a MemberCompressor and returns the blob, its index
// and how many members it copied from prev.
func commitMembers(t *testing.T, upper string, conc int, prev *MemberSource) ([]byte, []Member, int, Committed) {
	t.Helper()
	var blob bytes.Buffer
	mc, err := NewMemberCompressor(context.Background(), &blob, CompressOptions{Concurrency: conc}, prev)
	if err != nil {
		t.Fatal(err)
	}
	derr := WriteDiff(context.Background(), upper, mc, mc.Options(DiffOptions{}))
	c, err := mc.Close()
	if derr != nil || err != nil {
		t.Fatal(derr, err)
	}
	return blob.Bytes(), mc.Members(), mc.Reused(), c
}

func writeTree(t *testing.T, dir string, files map[string][]byte) {
	t.Helper()
	for name, data := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		mtime := time.Unix(1600000000, 0)
		if err := os.Chtimes(p, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{dir, filepath.Join(dir, "d")} {
		if err := os.Chtimes(d, time.Unix(1600000000, 0), time.Unix(1600000000, 0)); err != nil {
			t.Fatal(err)
		}
	}
}

// TestMemberCompressor: the blob is a gzip stream whose content is the layer tar (so DiffID and Digest
// are the sums of the tar and of the blob), the same for any parallelism; and a commit that copies
// an earlier blob's members gives byte for byte the blob a full compression gives, copying exactly
// the members whose bytes did not change, and none from a damaged earlier blob.
func TestMemberCompressor(t *testing.T) {
	big := mixedData(MemberChunk*2 + 12345) // three members
	base := map[string][]byte{"d/a": []byte("alpha\n"), "d/b": mixedData(100000), "d/c": []byte(strings.Repeat("c", 5000)), "big": big}
	dir1 := t.TempDir()
	writeTree(t, dir1, base)
	var tarBuf bytes.Buffer
	if err := WriteDiff(context.Background(), dir1, &tarBuf, DiffOptions{}); err != nil {
		t.Fatal(err)
	}
	blob1, index1, _, c1 := commitMembers(t, dir1, 2, nil)
	zr, err := gzip.NewReader(bytes.NewReader(blob1))
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(zr)
	if err != nil || !bytes.Equal(got, tarBuf.Bytes()) {
		t.Fatalf("the blob does not decompress to the layer tar (err %v)", err)
	}
	if c1.DiffID.Hex != hexSum(tarBuf.Bytes()) || c1.Digest.Hex != hexSum(blob1) || c1.Size != int64(len(blob1)) {
		t.Errorf("committed %+v does not describe the blob", c1)
	}
	if len(index1) != 8 {
		t.Errorf("%d members, want 8 (big in 3 chunks, d/, d/a, d/b, d/c, end of archive)", len(index1))
	}
	if blob, _, _, _ := commitMembers(t, dir1, 1, nil); !bytes.Equal(blob, blob1) {
		t.Errorf("the blob depends on the parallelism")
	}

	for _, tc := range []struct {
		name   string
		edit   func(t *testing.T, dir string)
		reused int
	}{
		{"nothing changed", func(*testing.T, string) {}, 8},
		{"a small file changed", func(t *testing.T, dir string) {
			writeTree(t, dir, map[string][]byte{"d/a": []byte("ALPHA\n")})
		}, 7},
		{"one chunk of a big file changed", func(t *testing.T, dir string) {
			b := bytes.Clone(big)
			b[MemberChunk+10] ^= 0xff
			writeTree(t, dir, map[string][]byte{"big": b})
		}, 7},
		{"a file added", func(t *testing.T, dir string) {
			writeTree(t, dir, map[string][]byte{"d/aa": []byte("new\n")})
		}, 8},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeTree(t, dir, base)
			tc.edit(t, dir)
			fresh, _, _, cf := commitMembers(t, dir, 2, nil)
			prev := NewMemberSource(bytes.NewReader(blob1), index1)
			reusing, _, reused, cr := commitMembers(t, dir, 2, prev)
			if !bytes.Equal(fresh, reusing) || cf != cr {
				t.Fatalf("copying members changed the blob")
			}
			if reused != tc.reused {
				t.Errorf("copied %d members, want %d", reused, tc.reused)
			}
			damaged := bytes.Clone(blob1)
			for i := range damaged {
				damaged[i] ^= 0x55
			}
			again, _, reused, _ := commitMembers(t, dir, 2, NewMemberSource(bytes.NewReader(damaged), index1))
			if !bytes.Equal(again, fresh) || reused != 0 {
				t.Errorf("a damaged earlier blob: %d members copied, same blob %v", reused, bytes.Equal(again, fresh))
			}
		})
	}
}

func hexSum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// TestMemberCompressorRecyclesBuffers: commits running at the same time share the recycled member
// buffers (and the emitter reads every file through one buffer); each still gets exactly its own
// layer, whatever the sizes around the buffers' edges, with members copied from an earlier blob or not.
func TestMemberCompressorRecyclesBuffers(t *testing.T) {
	sizes := []int{0, 1, 511, 512, copyBufSize - 1, copyBufSize, copyBufSize + 1, 3 * copyBufSize, MemberChunk - 1024, MemberChunk + 7}
	dirs := make([]string, 4)
	tars := make([][]byte, len(dirs))
	for i := range dirs {
		files := map[string][]byte{}
		for k, n := range sizes {
			b := mixedData(n + i) // every tree different
			if len(b) > 0 {
				b[0] = byte(i)
			}
			files["d/f"+strings.Repeat("x", k)] = b
		}
		dirs[i] = t.TempDir()
		writeTree(t, dirs[i], files)
		var tb bytes.Buffer
		if err := WriteDiff(context.Background(), dirs[i], &tb, DiffOptions{}); err != nil {
			t.Fatal(err)
		}
		tars[i] = tb.Bytes()
	}
	first, index, _, _ := commitMembers(t, dirs[0], 2, nil)
	for round := 0; round < 3; round++ {
		errs := make(chan string, len(dirs))
		for i := range dirs {
			go func() {
				var prev *MemberSource
				if i%2 == 0 {
					prev = NewMemberSource(bytes.NewReader(first), index)
				}
				var blob bytes.Buffer
				mc, err := NewMemberCompressor(context.Background(), &blob, CompressOptions{Concurrency: 3}, prev)
				if err != nil {
					errs <- err.Error()
					return
				}
				derr := WriteDiff(context.Background(), dirs[i], mc, mc.Options(DiffOptions{}))
				c, err := mc.Close()
				if derr != nil || err != nil {
					errs <- fmt.Sprint(derr, err)
					return
				}
				zr, err := gzip.NewReader(&blob)
				if err != nil {
					errs <- err.Error()
					return
				}
				got, err := io.ReadAll(zr)
				switch {
				case err != nil:
					errs <- err.Error()
				case !bytes.Equal(got, tars[i]) || c.DiffID.Hex != hexSum(tars[i]):
					errs <- fmt.Sprintf("tree %d: the blob is not its layer tar", i)
				case i == 0 && mc.Reused() != len(index):
					errs <- fmt.Sprintf("tree 0 again: %d of %d members copied", mc.Reused(), len(index))
				default:
					errs <- ""
				}
			}()
		}
		for range dirs {
			if e := <-errs; e != "" {
				t.Error(e)
			}
		}
	}
}

// hashingWriter is a BlobDigester like store.BlobWriter.
type hashingWriter struct {
	bytes.Buffer
	h hash.Hash
}

func (w *hashingWriter) Write(p []byte) (int, error) {
	w.h.Write(p)
	return w.Buffer.Write(p)
}

func (w *hashingWriter) Digest() v1.Hash {
	return v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(w.h.Sum(nil))}
}

// TestMemberCompressorTakesTheWritersDigest: written to a writer that hashes what it stores, the
// compressor reports that writer's digest (hashing nothing twice), and it is the blob's.
func TestMemberCompressorTakesTheWritersDigest(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string][]byte{"d/a": []byte("alpha\n"), "d/b": mixedData(MemberChunk + 99)})
	blob, _, _, plain := commitMembers(t, dir, 2, nil)
	w := &hashingWriter{h: sha256.New()}
	mc, err := NewMemberCompressor(context.Background(), w, CompressOptions{Concurrency: 2}, nil)
	if err != nil {
		t.Fatal(err)
	}
	derr := WriteDiff(context.Background(), dir, mc, mc.Options(DiffOptions{}))
	c, err := mc.Close()
	if derr != nil || err != nil {
		t.Fatal(derr, err)
	}
	if c != plain || !bytes.Equal(w.Bytes(), blob) || c.Digest.Hex != hexSum(blob) {
		t.Errorf("through a digesting writer: %+v, want %+v (the sum of the blob)", c, plain)
	}
	// The digest is the writer's: one that lies shows through.
	w = &hashingWriter{h: sha256.New()}
	w.h.Write([]byte("not the blob"))
	mc, err = NewMemberCompressor(context.Background(), w, CompressOptions{Concurrency: 2}, nil)
	if err != nil {
		t.Fatal(err)
	}
	derr = WriteDiff(context.Background(), dir, mc, mc.Options(DiffOptions{}))
	if c, err = mc.Close(); derr != nil || err != nil {
		t.Fatal(derr, err)
	}
	if c.Digest == plain.Digest || c.Digest != w.Digest() {
		t.Errorf("the digest %s is not the writer's %s", c.Digest, w.Digest())
	}
}

// TestMemberIndex: the index reads back as written, an index in the JSON earlier versions wrote
// still reads, and a truncated or damaged one is an error, never a shorter index.
func TestMemberIndex(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string][]byte{"d/a": []byte("alpha\n"), "d/ü b": mixedData(2*MemberChunk + 5)})
	_, index, _, _ := commitMembers(t, dir, 2, nil)
	if len(index) < 5 {
		t.Fatalf("only %d members", len(index))
	}
	var buf bytes.Buffer
	if err := WriteMembers(&buf, index); err != nil {
		t.Fatal(err)
	}
	got, err := ReadMembers(bytes.NewReader(buf.Bytes()))
	if err != nil || !slices.Equal(got, index) {
		t.Fatalf("read back %v (%v), want %v", got, err, index)
	}
	old, err := json.Marshal(index)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := ReadMembers(bytes.NewReader(old)); err != nil || !slices.Equal(got, index) {
		t.Errorf("the JSON index: %v (%v)", got, err)
	}
	raw := buf.Bytes()
	for n := len(membersMagic); n < len(raw); n++ {
		if got, err := ReadMembers(bytes.NewReader(raw[:n])); err == nil {
			t.Fatalf("cut to %d of %d bytes: read %d members, no error", n, len(raw), len(got))
		}
	}
	if _, err := ReadMembers(bytes.NewReader(append(bytes.Clone(raw), 0))); err == nil {
		t.Error("trailing bytes read without an error")
	}
	huge := append([]byte(membersMagic), 0xff, 0xff, 0xff, 0xff, 0x0f)
	if _, err := ReadMembers(bytes.NewReader(huge)); err == nil {
		t.Error("a count the data cannot hold read without an error")
	}
	bad := slices.Clone(index)
	bad[1].Sum = "not hex"
	if err := WriteMembers(io.Discard, bad); err == nil {
		t.Error("a member with a malformed sum was written")
	}
}
