package builder

import (
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/hoistbuild/hoist/push"
)

// downloadDir returns a fresh download dir and a check that nothing was left in it.
func downloadDir(t *testing.T) (string, func()) {
	t.Helper()
	dir := t.TempDir()
	return dir, func() {
		t.Helper()
		entries, _ := os.ReadDir(dir)
		if len(entries) != 0 {
			t.Errorf("a failed download left %d files behind", len(entries))
		}
	}
}

// TestDownloadTimeout: a server that stops sending, before the headers or in the middle of the body,
// fails the download at the timeout with an error naming the URL and the timeout.
func TestDownloadTimeout(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/body" {
			w.Header().Set("Content-Length", "1000")
			w.Write([]byte("some of it"))
			w.(http.Flusher).Flush()
		}
		<-r.Context().Done()
	}))
	defer srv.Close()
	for _, p := range []string{"/headers", "/body"} {
		t.Run(p, func(t *testing.T) {
			dir, clean := downloadDir(t)
			start := time.Now()
			_, err := newDownloader(dir, 0, 300*time.Millisecond).get(context.Background(), srv.URL+p, "")
			if err == nil {
				t.Fatal("a stalled download succeeded")
			}
			for _, want := range []string{"downloading " + srv.URL + p, "timed out after 300ms"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q lacks %q", err, want)
				}
			}
			if d := time.Since(start); d > 10*time.Second {
				t.Errorf("the download took %v to time out after 300ms", d)
			}
			clean()
		})
	}
}

// TestDownloadSizeLimit: a body over the limit fails, whether the server announces its length or not,
// and nothing is kept; one at the limit is fine.
func TestDownloadSizeLimit(t *testing.T) {
	body := strings.Repeat("x", 2000)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		if r.URL.Path == "/announced" {
			w.Header().Set("Content-Length", strconv.Itoa(n))
		}
		for i := 0; i < n; i += 100 { // several writes: chunked when unannounced
			w.Write([]byte(body[i : i+100]))
			w.(http.Flusher).Flush()
		}
	}))
	defer srv.Close()
	for _, p := range []string{"/announced", "/chunked"} {
		t.Run(p, func(t *testing.T) {
			dir, clean := downloadDir(t)
			d := newDownloader(dir, 1000, time.Minute)
			_, err := d.get(context.Background(), srv.URL+p+"?n=2000", "")
			if !errors.Is(err, ErrDownloadTooLarge) || !strings.Contains(err.Error(), "size limit") {
				t.Errorf("2000 bytes with a 1000-byte limit: %v, want ErrDownloadTooLarge", err)
			}
			clean()
			dl, err := d.get(context.Background(), srv.URL+p+"?n=1000", "")
			if err != nil {
				t.Fatalf("1000 bytes with a 1000-byte limit: %v", err)
			}
			if dl.size != 1000 {
				t.Errorf("size %d, want 1000", dl.size)
			}
		})
	}
}

// TestDownloadRetries: answers a registry request is retried after (503, 429, 502) are retried
// until a 200, a body cut short is fetched again, a definite answer (404) is not retried, and a
// server that keeps failing fails the download after the registry's number of attempts.
func TestDownloadRetries(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := calls.Add(1)
		switch {
		case r.URL.Path == "/503-then-200" && n == 1:
			w.WriteHeader(http.StatusServiceUnavailable)
		case r.URL.Path == "/429-502-then-200" && n == 1:
			w.WriteHeader(http.StatusTooManyRequests)
		case r.URL.Path == "/429-502-then-200" && n == 2:
			w.WriteHeader(http.StatusBadGateway)
		case r.URL.Path == "/cut-then-200" && n == 1:
			w.Header().Set("Content-Length", "7")
			w.Write([]byte("con"))
			w.(http.Flusher).Flush()
			conn, _, _ := w.(http.Hijacker).Hijack()
			conn.Close()
		case r.URL.Path == "/404":
			http.NotFound(w, r)
		case r.URL.Path == "/always-503":
			w.WriteHeader(http.StatusServiceUnavailable)
		default:
			w.Write([]byte("content"))
		}
	}))
	defer srv.Close()
	for _, tc := range []struct {
		path    string
		calls   int32
		wantErr string
	}{
		{"/503-then-200", 2, ""},
		{"/429-502-then-200", 3, ""},
		{"/cut-then-200", 2, ""},
		{"/404", 1, "404 Not Found"},
		{"/always-503", int32(push.DefaultBackoff.Steps), "503 Service Unavailable"},
	} {
		t.Run(tc.path, func(t *testing.T) {
			calls.Store(0)
			dir, clean := downloadDir(t)
			d := newDownloader(dir, 0, time.Minute)
			if tc.path == "/always-503" { // the registry's number of attempts, without its 6 s of waiting
				d = newDownloaderBackoff(dir, 0, time.Minute, remote.Backoff{Duration: time.Millisecond, Factor: 1, Steps: push.DefaultBackoff.Steps})
			}
			dl, err := d.get(context.Background(), srv.URL+tc.path, "")
			if got := calls.Load(); got != tc.calls {
				t.Errorf("%d requests, want %d", got, tc.calls)
			}
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), srv.URL+tc.path) {
					t.Errorf("error %v, want one naming the URL and %q", err, tc.wantErr)
				}
				clean()
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if b, _ := os.ReadFile(dl.file); string(b) != "content" {
				t.Errorf("downloaded %q, want %q", b, "content")
			}
		})
	}
}

// TestDownloadChecksum: ADD --checksum's digest (sha256 or sha512) is verified before the file is
// kept; a mismatch names both digests and leaves nothing.
func TestDownloadChecksum(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("content")) }))
	defer srv.Close()
	s256 := sha256.Sum256([]byte("content"))
	s512 := sha512.Sum512([]byte("content"))
	good256, good512 := "sha256:"+hex.EncodeToString(s256[:]), "sha512:"+hex.EncodeToString(s512[:])
	for _, sum := range []string{good256, good512} {
		dir, _ := downloadDir(t)
		dl, err := newDownloader(dir, 0, time.Minute).get(context.Background(), srv.URL+"/f", sum)
		if err != nil {
			t.Fatalf("%s: %v", sum, err)
		}
		if string(dl.digest) != sum {
			t.Errorf("digest %s, want %s", dl.digest, sum)
		}
	}
	dir, clean := downloadDir(t)
	bad := "sha256:" + strings.Repeat("0", 64)
	_, err := newDownloader(dir, 0, time.Minute).get(context.Background(), srv.URL+"/f", bad)
	if err == nil || !strings.Contains(err.Error(), "digest mismatch") || !strings.Contains(err.Error(), bad) || !strings.Contains(err.Error(), good256) {
		t.Errorf("wrong checksum: %v, want a mismatch naming %s and %s", err, bad, good256)
	}
	clean()
	if _, err := newDownloader(dir, 0, time.Minute).get(context.Background(), srv.URL+"/f", "sha256:xyz"); err == nil || !strings.Contains(err.Error(), "invalid checksum") {
		t.Errorf("malformed checksum: %v", err)
	}
}
