//go:build linux

package snapshot

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/klauspost/compress/zstd"
)

// mixedData returns n deterministic bytes mixing what layers hold: text,
// runs of zeros, and incompressible (random) blocks.
func mixedData(n int) []byte {
	rng := rand.New(rand.NewPCG(1, 2))
	words := []string{"usr", "lib", "x86_64-linux-gnu", "libc.so.6", "ELF", "\x00\x00\x00\x00", "config", "#!/bin/sh\n", "export PATH=", "{\"key\": 42}\n"}
	out := make([]byte, 0, n)
	for len(out) < n {
		chunk := 4096 + rng.IntN(60000)
		switch rng.IntN(4) {
		case 0, 1: // text-like
			for i := 0; i < chunk; {
				w := words[rng.IntN(len(words))]
				out = append(out, w...)
				out = append(out, ' ')
				i += len(w) + 1
			}
		case 2: // zeros
			out = append(out, make([]byte, chunk)...)
		case 3: // random
			b := make([]byte, chunk)
			for i := range b {
				b[i] = byte(rng.Uint32())
			}
			out = append(out, b...)
		}
	}
	return out[:n]
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

func decompress(t *testing.T, c Compression, blob []byte) []byte {
	t.Helper()
	var r io.Reader
	switch c {
	case CompressionGzip:
		zr, err := gzip.NewReader(bytes.NewReader(blob))
		must(t, err)
		r = zr
	case CompressionZstd:
		zr, err := zstd.NewReader(bytes.NewReader(blob))
		must(t, err)
		defer zr.Close()
		r = zr
	default:
		r = bytes.NewReader(blob)
	}
	out, err := io.ReadAll(r)
	must(t, err)
	return out
}

func TestCompress(t *testing.T) {
	input := mixedData(5<<20 + 12345) // several pgzip blocks plus a tail
	tests := []struct {
		name string
		opts CompressOptions
		mt   types.MediaType
	}{
		{"gzip default", CompressOptions{}, types.OCILayer},
		{"gzip docker", CompressOptions{DockerMediaTypes: true, Level: 1}, types.DockerLayer},
		{"zstd", CompressOptions{Compression: CompressionZstd}, types.OCILayerZStd},
		{"none", CompressOptions{Compression: CompressionNone}, types.OCIUncompressedLayer},
		{"none docker", CompressOptions{Compression: CompressionNone, DockerMediaTypes: true}, types.DockerUncompressedLayer},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var outputs [][]byte
			for _, conc := range []int{1, 2, 8} {
				opts := tc.opts
				opts.Concurrency = conc
				var blob bytes.Buffer
				got, err := Compress(context.Background(), bytes.NewReader(input), &blob, opts)
				must(t, err)
				if got.DiffID.String() != sha(input) {
					t.Errorf("DiffID = %s, want %s", got.DiffID, sha(input))
				}
				if got.Digest.String() != sha(blob.Bytes()) || got.Size != int64(blob.Len()) {
					t.Errorf("Digest/Size = %s/%d, blob is %s/%d", got.Digest, got.Size, sha(blob.Bytes()), blob.Len())
				}
				if got.MediaType != tc.mt {
					t.Errorf("MediaType = %s, want %s", got.MediaType, tc.mt)
				}
				if !bytes.Equal(decompress(t, tc.opts.Compression, blob.Bytes()), input) {
					t.Error("blob does not decompress to the input")
				}
				outputs = append(outputs, blob.Bytes())
			}
			for i := 1; i < len(outputs); i++ {
				if !bytes.Equal(outputs[0], outputs[i]) {
					t.Errorf("output depends on Concurrency (run %d differs)", i)
				}
			}
		})
	}
}

// TestCompressGzipGolden pins the gzip bytes: a change of block size, level
// or header would change every layer digest hoist produces.
func TestCompressGzipGolden(t *testing.T) {
	var blob bytes.Buffer
	got, err := Compress(context.Background(), bytes.NewReader(mixedData(3<<20)), &blob, CompressOptions{})
	must(t, err)
	if hdr := blob.Bytes()[:10]; !bytes.Equal(hdr, []byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255}) {
		t.Errorf("gzip header = % x, want no mtime/name and OS unknown", hdr)
	}
	checkGoldenString(t, "gzip_digest.golden", got.Digest.String())
}

func TestCompressErrors(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Compress(ctx, bytes.NewReader(mixedData(1000)), io.Discard, CompressOptions{}); !errors.Is(err, context.Canceled) {
		t.Errorf("canceled ctx: err = %v", err)
	}
	_, err := Compress(context.Background(), bytes.NewReader(nil), io.Discard, CompressOptions{Compression: CompressionZstd, DockerMediaTypes: true})
	if !errors.Is(err, ErrUnsupportedCompression) {
		t.Errorf("zstd+docker: err = %v", err)
	}
	readErr := errors.New("boom")
	_, err = Compress(context.Background(), io.MultiReader(bytes.NewReader(mixedData(100)), errReader{readErr}), io.Discard, CompressOptions{})
	if !errors.Is(err, readErr) {
		t.Errorf("read error: err = %v", err)
	}
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

const benchSize = 100 << 20

// BenchmarkCompress compares pgzip (as Compress runs it) with single-threaded
// compress/gzip on ~100 MB of mixed data; ratio is compressed/original.
func BenchmarkCompress(b *testing.B) {
	data := mixedData(benchSize)
	run := func(b *testing.B, compress func(w io.Writer) error) {
		b.SetBytes(int64(len(data)))
		var n countingWriter
		for b.Loop() {
			n = countingWriter{w: io.Discard}
			if err := compress(&n); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(n.n)/float64(len(data)), "ratio")
	}
	// members is how the builder commits layers: a gzip member per tar entry (here an entry every
	// 8-64 KiB, like a tree of source files, and big entries cut at MemberChunk), in parallel.
	memberRun := func(conc int) func(w io.Writer) error {
		return func(w io.Writer) error {
			mc, err := NewMemberCompressor(context.Background(), w, CompressOptions{Concurrency: conc}, nil)
			if err != nil {
				return err
			}
			for off, i := 0, 0; off < len(data); i++ {
				n := min(8<<10+(i*7919)%(56<<10), len(data)-off)
				mc.entryStart(strconv.Itoa(i))
				if _, err := mc.Write(data[off : off+n]); err != nil {
					return err
				}
				off += n
			}
			_, err = mc.Close()
			return err
		}
	}
	b.Run("members", func(b *testing.B) { run(b, memberRun(0)) })
	b.Run("members-1-thread", func(b *testing.B) { run(b, memberRun(1)) })
	b.Run("pgzip", func(b *testing.B) {
		run(b, func(w io.Writer) error {
			_, err := Compress(context.Background(), bytes.NewReader(data), w, CompressOptions{})
			return err
		})
	})
	b.Run("pgzip-1-thread", func(b *testing.B) {
		run(b, func(w io.Writer) error {
			_, err := Compress(context.Background(), bytes.NewReader(data), w, CompressOptions{Concurrency: 1})
			return err
		})
	})
	b.Run("compress-gzip", func(b *testing.B) {
		run(b, func(w io.Writer) error {
			zw, err := gzip.NewWriterLevel(w, DefaultGzipLevel)
			if err != nil {
				return err
			}
			if _, err := io.Copy(zw, bytes.NewReader(data)); err != nil {
				return err
			}
			return zw.Close()
		})
	})
	b.Run("zstd", func(b *testing.B) {
		run(b, func(w io.Writer) error {
			_, err := Compress(context.Background(), bytes.NewReader(data), w, CompressOptions{Compression: CompressionZstd})
			return err
		})
	})
}
