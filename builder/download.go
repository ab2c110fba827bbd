package builder

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/opencontainers/go-digest"

	"github.com/hoistbuild/hoist/internal/rootless"
	"github.com/hoistbuild/hoist/push"
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
// never longer than timeout, and a checksum is verified before anyone reads the file. Requests are
// retried as registry requests are (push.RetryTransport: a 503 or a dropped connection is tried
// again), and a body cut short is fetched again from the start on the same schedule.
type downloader struct {
	dir     string
	max     int64
	timeout time.Duration
	backoff remote.Backoff
	client  *http.Client
}

func newDownloader(dir string, max int64, timeout time.Duration) *downloader {
	return newDownloaderBackoff(dir, max, timeout, push.DefaultBackoff)
}

// newDownloaderBackoff is newDownloader retrying on schedule b.
func newDownloaderBackoff(dir string, max int64, timeout time.Duration, b remote.Backoff) *downloader {
	if max <= 0 {
		max = DefaultMaxDownloadSize
	}
	if timeout <= 0 {
		timeout = DefaultDownloadTimeout
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.ResponseHeaderTimeout = time.Minute
	tr.DialContext = rootless.HostDialer(&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second})
	return &downloader{dir: dir, max: max, timeout: timeout, backoff: b,
		client: &http.Client{Transport: push.RetryTransport(tr, b)}}
}

// get downloads rawURL. With a non-empty checksum ("sha256:<hex>", or sha384/sha512) the content
// must match it, else the file is removed and the error names both digests.
func (d *downloader) get(ctx context.Context, rawURL, checksum string) (*downloaded, error) {
	var want digest.Digest
	if checksum != "" {
		var err error
		if want, err = digest.Parse(checksum); err != nil {
			return nil, fmt.Errorf("invalid checksum %q: %w", checksum, err)
		}
	}
	if err := os.MkdirAll(d.dir, 0o700); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	dl, err := d.fetchRetrying(ctx, rawURL, want)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("timed out after %v", d.timeout)
		}
		return nil, fmt.Errorf("downloading %s: %w", redactURL(rawURL), err)
	}
	return dl, nil
}

// fetchRetrying is fetch, started again after a body cut short (a Retryable error while reading
// it), up to the backoff's steps. The transport has already retried the request itself.
func (d *downloader) fetchRetrying(ctx context.Context, rawURL string, want digest.Digest) (*downloaded, error) {
	delay := d.backoff.Duration
	for attempt := 1; ; attempt++ {
		dl, err := d.fetch(ctx, rawURL, want)
		var be *bodyError
		if err == nil || !errors.As(err, &be) || !push.Retryable(be.err) || attempt >= d.backoff.Steps {
			return dl, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(delay):
		}
		delay = time.Duration(float64(delay) * d.backoff.Factor)
	}
}

// bodyError is a failure reading a response's body (the request itself succeeded).
type bodyError struct{ err error }

func (e *bodyError) Error() string { return e.err.Error() }
func (e *bodyError) Unwrap() error { return e.err }

// fetch is one attempt at downloading rawURL into a new temp file, removed again on any error.
func (d *downloader) fetch(ctx context.Context, rawURL string, want digest.Digest) (*downloaded, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, err
	}
	resp, err := d.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, errors.New(resp.Status)
	}
	if resp.ContentLength > d.max {
		return nil, fmt.Errorf("%w: %d bytes, more than %d", ErrDownloadTooLarge, resp.ContentLength, d.max)
	}
	f, err := os.CreateTemp(d.dir, "download-*")
	if err != nil {
		return nil, err
	}
	dl, err := d.save(f, resp.Body, want)
	if err != nil {
		os.Remove(f.Name())
		return nil, err
	}
	if lm, err := http.ParseTime(resp.Header.Get("Last-Modified")); err == nil {
		dl.lastModified = lm
	}
	return dl, nil
}

// save streams body into f (closing it), at most d.max bytes, hashing it in want's algorithm
// (sha256 if there is no want) and checking it against want.
func (d *downloader) save(f *os.File, body io.Reader, want digest.Digest) (*downloaded, error) {
	alg := digest.SHA256
	if want != "" {
		alg = want.Algorithm()
	}
	h := alg.Hash()
	n, err := io.Copy(io.MultiWriter(f, h), io.LimitReader(body, d.max+1))
	if err != nil {
		err = &bodyError{err}
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	if n > d.max {
		return nil, fmt.Errorf("%w: more than %d bytes", ErrDownloadTooLarge, d.max)
	}
	got := digest.NewDigest(alg, h)
	if want != "" && got != want {
		return nil, fmt.Errorf("digest mismatch: expected %s, got %s", want, got)
	}
	return &downloaded{file: f.Name(), digest: got, size: n}, nil
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
