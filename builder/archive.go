package builder

import (
	"bufio"
	"bytes"
	"compress/bzip2"
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/moby/buildkit/util/archiveutil"
	"github.com/ulikunitz/xz"

	"github.com/hoistbuild/hoist/snapshot"
)

// Archives that ADD (a local file, or a URL with --unpack) and a remote build context extract:
// recognised by their first bytes, decompressed, and applied with ADD's checks (strictTar).

// tryExtract extracts a local tar archive (plain, gzip, bzip2 or xz) into dest if host is one.
func (c *copier) tryExtract(ctx context.Context, host, dest string, uid, gid int) (bool, error) {
	f, err := openNoFollow(host) // resolved in the context by selectContext
	if err != nil {
		return false, err
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 1<<16)
	head, _ := br.Peek(512 + 8)
	var r io.Reader = br
	switch {
	case bytes.HasPrefix(head, []byte{0x1f, 0x8b}):
		zr, err := gzip.NewReader(br)
		if err != nil {
			return false, nil
		}
		defer zr.Close()
		r = zr
	case bytes.HasPrefix(head, []byte("BZh")):
		r = bzip2.NewReader(br)
	case bytes.HasPrefix(head, []byte{0xfd, '7', 'z', 'X', 'Z', 0}):
		xr, err := xz.NewReader(br)
		if err != nil {
			return false, nil
		}
		r = xr
	}
	// Is it a tar? Peek at the decompressed header's magic.
	tb := bufio.NewReaderSize(r, 1<<16)
	hdr, err := tb.Peek(512)
	if err != nil || !isTarHeader(hdr) {
		return false, nil
	}
	dst, err := c.mkdirAll(dest, uid, gid)
	if err != nil {
		return false, err
	}
	checked := strictTar(tb)
	defer checked.Close()
	if err := snapshot.ApplyTar(ctx, checked, dst); err != nil {
		return false, fmt.Errorf("extracting %s: %w", filepath.Base(host), err)
	}
	return true, nil
}

func isTarHeader(b []byte) bool {
	if len(b) < 512 {
		return false
	}
	if string(b[257:262]) == "ustar" {
		return true
	}
	// V7 tar: verify the header checksum.
	sum := 0
	for i, c := range b {
		if i >= 148 && i < 156 {
			c = ' '
		}
		sum += int(c)
	}
	want, err := strconv.ParseInt(strings.TrimRight(strings.TrimSpace(string(b[148:156])), "\x00"), 8, 64)
	return err == nil && int64(sum) == want && b[0] != 0
}

// isArchiveHeader reports whether the first bytes of a stream are a tar archive, plain or
// compressed (gzip, bzip2, xz, zstd): BuildKit's rule for an http context and docker's for stdin.
func isArchiveHeader(head []byte) bool { return archiveutil.IsArchive(head) }

// decompress returns the stream br decompressed (gzip, bzip2, xz, zstd or none, by magic).
func decompress(br *bufio.Reader) (io.ReadCloser, error) {
	head, _ := br.Peek(8)
	switch {
	case bytes.HasPrefix(head, []byte{0x1f, 0x8b}):
		return gzip.NewReader(br)
	case bytes.HasPrefix(head, []byte("BZh")):
		return io.NopCloser(bzip2.NewReader(br)), nil
	case bytes.HasPrefix(head, []byte{0xfd, '7', 'z', 'X', 'Z', 0}):
		xr, err := xz.NewReader(br)
		return io.NopCloser(xr), err
	case archiveutil.HasZstdPrefix(head):
		zr, err := zstd.NewReader(br)
		if err != nil {
			return nil, err
		}
		return zr.IOReadCloser(), nil
	}
	return io.NopCloser(br), nil
}

// extractArchive unpacks a (possibly compressed) tar stream into dst with the checks of ADD: no
// entry may land outside dst or be written through a symlink the archive made.
func extractArchive(ctx context.Context, r io.Reader, dst string) error {
	dr, err := decompress(bufio.NewReaderSize(r, 1<<16))
	if err != nil {
		return err
	}
	defer dr.Close()
	checked := strictTar(dr)
	defer checked.Close()
	return snapshot.ApplyTar(ctx, checked, dst)
}
