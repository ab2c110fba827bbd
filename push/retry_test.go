package push

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// TestRetryTransport: the answers of the policy are retried until another comes, on the schedule's
// number of attempts at most; others are returned at once.
func TestRetryTransport(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		first, _ := strconv.Atoi(r.URL.Query().Get("first"))
		times, _ := strconv.Atoi(r.URL.Query().Get("times"))
		if int(calls.Add(1)) <= times {
			w.WriteHeader(first)
			return
		}
		w.Write([]byte("ok"))
	}))
	defer srv.Close()
	b := remote.Backoff{Duration: time.Millisecond, Factor: 1, Steps: 4}
	client := &http.Client{Transport: RetryTransport(http.DefaultTransport, b)}
	for _, tc := range []struct {
		first, times int
		wantStatus   int
		wantCalls    int32
	}{
		{503, 1, 200, 2},
		{408, 1, 200, 2},
		{429, 2, 200, 3},
		{500, 1, 200, 2},
		{502, 1, 200, 2},
		{504, 1, 200, 2},
		{503, 10, 503, 4}, // gives up after b.Steps attempts, with the last answer
		{404, 1, 404, 1},
		{401, 1, 401, 1},
		{501, 1, 501, 1},
	} {
		t.Run(fmt.Sprintf("%d×%d", tc.first, tc.times), func(t *testing.T) {
			calls.Store(0)
			resp, err := client.Get(fmt.Sprintf("%s/?first=%d&times=%d", srv.URL, tc.first, tc.times))
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.wantStatus || calls.Load() != tc.wantCalls {
				t.Errorf("status %d after %d requests, want %d after %d", resp.StatusCode, calls.Load(), tc.wantStatus, tc.wantCalls)
			}
		})
	}
}

func TestRetryable(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{nil, false},
		{errors.New("digest mismatch"), false},
		{context.DeadlineExceeded, false},
		{context.Canceled, false},
		{io.ErrUnexpectedEOF, true},
		{fmt.Errorf("reading body: %w", io.ErrUnexpectedEOF), true},
		{&net.OpError{Op: "read", Err: syscall.ECONNRESET}, true},
		{syscall.EPIPE, true},
		{net.ErrClosed, true},
	} {
		if got := Retryable(tc.err); got != tc.want {
			t.Errorf("Retryable(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}
