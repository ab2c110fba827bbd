package snapshot

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"runtime"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/klauspost/compress/zstd"
	"github.com/klauspost/pgzip"

	"github.com/hoistbuild/hoist/internal/ctxio"
)

// Compression selects the layer blob encoding produced by Compress.
type Compression int

const (
	// CompressionGzip is parallel gzip (klauspost/pgzip) with a fixed block
	// size, so the output depends only on the input and the level.
	CompressionGzip Compression = iota
	// CompressionZstd is zstd (klauspost/compress/zstd).
	CompressionZstd
	// CompressionNone stores the tar as is; Digest equals DiffID.
	CompressionNone
)

// String returns "gzip", "zstd" or "none".
func (c Compression) String() string {
	switch c {
	case CompressionGzip:
		return "gzip"
	case CompressionZstd:
		return "zstd"
	case CompressionNone:
		return "none"
	}
	return fmt.Sprintf("Compression(%d)", int(c))
}

// GzipBlockSize is the fixed pgzip block size. pgzip compresses blocks of
// this size independently (each primed with the previous block's tail), so
// changing it changes the output bytes and therefore layer digests.
const GzipBlockSize = 1 << 20

// DefaultGzipLevel is the gzip level used when CompressOptions.Level is 0.
const DefaultGzipLevel = 6

// DefaultZstdLevel is the zstd level (zstd's 1..22 scale) used when
// CompressOptions.Level is 0.
const DefaultZstdLevel = 3

// CompressOptions tune Compress. The zero value is gzip at
// DefaultGzipLevel with OCI media types.
type CompressOptions struct {
	// Compression is the blob encoding.
	Compression Compression

	// Level is the compression level (gzip 1..9, zstd 1..22); 0 selects the
	// default. Different levels give different bytes.
	Level int

	// Concurrency bounds the number of blocks compressed in parallel; 0
	// means GOMAXPROCS. It affects speed and memory only, never the output.
	Concurrency int

	// DockerMediaTypes selects the Docker schema 2 layer media types instead
	// of the OCI ones. zstd has no Docker media type
	// (ErrUnsupportedCompression).
	DockerMediaTypes bool
}

// Committed describes a layer blob produced by Compress.
type Committed struct {
	// Digest is the sha256 of the bytes written to w (the blob).
	Digest v1.Hash
	// DiffID is the sha256 of the uncompressed tar stream.
	DiffID v1.Hash
	// Size is the number of bytes written to w.
	Size int64
	// MediaType is the layer media type matching the compression.
	MediaType types.MediaType
}

// Compress reads an uncompressed layer tar from tarStream and writes the
// compressed blob to w in a single streaming pass: the tar bytes are hashed
// for the DiffID while they are compressed (in parallel blocks for gzip), and
// the compressed bytes are hashed for the Digest and counted as they are
// written. Neither tarStream nor w is closed. Output is deterministic for a
// given input and options (Concurrency excluded). On error (including ctx
// cancellation, checked between reads) w holds a partial blob the caller
// must discard.
func Compress(ctx context.Context, tarStream io.Reader, w io.Writer, opts CompressOptions) (Committed, error) {
	mt, err := mediaTypeFor(opts)
	if err != nil {
		return Committed{}, err
	}
	conc := opts.Concurrency
	if conc <= 0 {
		conc = runtime.GOMAXPROCS(0)
	}
	blobHash := sha256.New()
	out := &countingWriter{w: io.MultiWriter(w, blobHash)}
	enc, err := newEncoder(out, opts.Compression, opts.Level, conc)
	if err != nil {
		return Committed{}, err
	}
	diffHash := sha256.New()
	buf := make([]byte, 1<<20)
	_, copyErr := io.CopyBuffer(io.MultiWriter(diffHash, enc), ctxio.Reader(ctx, tarStream), buf)
	closeErr := enc.Close()
	if copyErr != nil {
		return Committed{}, fmt.Errorf("compressing layer (%s): %w", opts.Compression, copyErr)
	}
	if closeErr != nil {
		return Committed{}, fmt.Errorf("finishing %s stream: %w", opts.Compression, closeErr)
	}
	return Committed{
		Digest:    sumHash(blobHash),
		DiffID:    sumHash(diffHash),
		Size:      out.n,
		MediaType: mt,
	}, nil
}

func mediaTypeFor(opts CompressOptions) (types.MediaType, error) {
	switch opts.Compression {
	case CompressionGzip:
		if opts.DockerMediaTypes {
			return types.DockerLayer, nil
		}
		return types.OCILayer, nil
	case CompressionZstd:
		if opts.DockerMediaTypes {
			return "", fmt.Errorf("zstd with docker media types: %w", ErrUnsupportedCompression)
		}
		return types.OCILayerZStd, nil
	case CompressionNone:
		if opts.DockerMediaTypes {
			return types.DockerUncompressedLayer, nil
		}
		return types.OCIUncompressedLayer, nil
	}
	return "", fmt.Errorf("%s: %w", opts.Compression, ErrUnsupportedCompression)
}

func newEncoder(w io.Writer, c Compression, level, conc int) (io.WriteCloser, error) {
	switch c {
	case CompressionGzip:
		if level == 0 {
			level = DefaultGzipLevel
		}
		z, err := pgzip.NewWriterLevel(w, level)
		if err != nil {
			return nil, fmt.Errorf("creating gzip writer: %w", err)
		}
		if err := z.SetConcurrency(GzipBlockSize, conc); err != nil {
			return nil, fmt.Errorf("configuring gzip writer: %w", err)
		}
		// pgzip writes the low 32 bits of ModTime.Unix(), which for the zero
		// time is not 0; pin it to the epoch like compress/gzip does.
		z.ModTime = time.Unix(0, 0)
		return z, nil
	case CompressionZstd:
		if level == 0 {
			level = DefaultZstdLevel
		}
		z, err := zstd.NewWriter(w,
			zstd.WithEncoderLevel(zstd.EncoderLevelFromZstd(level)),
			zstd.WithEncoderConcurrency(conc))
		if err != nil {
			return nil, fmt.Errorf("creating zstd writer: %w", err)
		}
		return z, nil
	case CompressionNone:
		return nopWriteCloser{w}, nil
	}
	return nil, fmt.Errorf("%s: %w", c, ErrUnsupportedCompression)
}

func sumHash(h hash.Hash) v1.Hash {
	return v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(h.Sum(nil))}
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

type nopWriteCloser struct{ io.Writer }

func (nopWriteCloser) Close() error { return nil }
