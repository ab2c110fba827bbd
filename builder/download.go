package builder

import (
	"bufio"
	"bytes"
	"compress/bzip2"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/moby/buildkit/util/archiveutil"
	"github.com/opencontainers/go-digest"
	"github.com/ulikunitz/xz"

	"github.com/hoistbuild/hoist/snapshot"
)

// Defaults of Options.MaxDownloadSize and Options.DownloadTimeout.
const (
	DefaultMaxDownloadSize = 8 << 30
	DefaultDownloadTimeout = time.Hour
)

// ErrDownloadTooLarge is returned when a download exceeds Options.MaxDownloadSize.
var ErrDownloadTooLarge = errors.New("download exceeds the size limit")

// downloaded is a file fetched over http(s) into the build's scratch dir.
type downloaded struct {
	file         string        // its path (removed with the scratch dir)
	digest       digest.Digest // of the content, in the algorithm of the expected checksum (sha256 if none)
	size         int64
	lastModified time.Time // zero if the server sent none
}

// downloader fetches URLs into a directory, streaming to a temp file: never more than max bytes,
// never longer than timeout, and a checksum is verified before anyone reads the file.
type downloader struct {
	dir     string
	max     int64
	timeout time.Duration
	client  *http.Client
}

func newDownloader(dir string, max int64, timeout time.Duration) *downloader {
	if max <= 0 {
		max = DefaultMaxDownloadSize
	}
	if timeout <= 0 {
		timeout = DefaultDownloadTimeout
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.ResponseHeaderTimeout = time.Minute
	tr.DialContext = (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	return &downloader{dir: dir, max: max, timeout: timeout, client: &http.Client{Transport: tr}}
}

// get downloads rawURL. With a non-empty checksum ("sha256:<hex>", or sha384/sha512) the content
// must match it, else the file is removed and the error names both digests.
func (d *downloader) get(ctx context.Context, rawURL, checksum string) (*downloaded, error) {
	var want digest.Digest
	var h hash.Hash = sha256.New()
	alg := digest.SHA256
	if checksum != "" {
		var err error
		if want, err = digest.Parse(checksum); err != nil {
			return nil, fmt.Errorf("invalid checksum %q: %w", checksum, err)
		}
		alg = want.Algorithm()
		h = alg.Hash()
	}
	if err := os.MkdirAll(d.dir, 0o700); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*downloaded, error) {
		if errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("timed out after %v", d.timeout)
		}
		return nil, fmt.Errorf("downloading %s: %w", redactURL(rawURL), err)
	}
	resp, err := d.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fail(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fail(errors.New(resp.Status))
	}
	if resp.ContentLength > d.max {
		return fail(fmt.Errorf("%w: %d bytes, more than %d", ErrDownloadTooLarge, resp.ContentLength, d.max))
	}
	f, err := os.CreateTemp(d.dir, "download-*")
	if err != nil {
		return nil, err
	}
	n, err := io.Copy(io.MultiWriter(f, h), io.LimitReader(resp.Body, d.max+1))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil && n > d.max {
		err = fmt.Errorf("%w: more than %d bytes", ErrDownloadTooLarge, d.max)
	}
	got := digest.NewDigest(alg, h)
	if err == nil && want != "" && got != want {
		err = fmt.Errorf("digest mismatch: expected %s, got %s", want, got)
	}
	if err != nil {
		os.Remove(f.Name())
		return fail(err)
	}
	dl := &downloaded{file: f.Name(), digest: got, size: n}
	if lm, err := http.ParseTime(resp.Header.Get("Last-Modified")); err == nil {
		dl.lastModified = lm
	}
	return dl, nil
}

// urlFileName is the name ADD gives a downloaded file in a directory destination (BuildKit's: the
// last element of the URL's path, "__unnamed__" if there is none).
func urlFileName(rawURL string) string {
	if u, err := url.Parse(rawURL); err == nil {
		if base := path.Base(u.Path); base != "." && base != "/" && base != "" {
			return base
		}
	}
	return "__unnamed__"
}

// redactURL drops a password from a URL for messages.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return s
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
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
