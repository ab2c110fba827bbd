package push

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"syscall"

	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// The retry policy of registry requests, written out (it is go-containerregistry's remote default)
// so that hoist's other HTTP fetches (ADD of a URL, a remote build context) follow the same rules.

// retryStatusCodes are the answers a request is sent again after.
var retryStatusCodes = []int{
	http.StatusRequestTimeout,
	http.StatusTooManyRequests,
	http.StatusInternalServerError,
	http.StatusBadGateway,
	http.StatusServiceUnavailable,
	http.StatusGatewayTimeout,
}

// Retryable reports whether a request that failed with err (or whose body failed with err) is worth
// another attempt: an error that says it is temporary (a retried status, a network blip) unless it is
// a deadline, a truncated body, a reset or broken connection.
func Retryable(err error) bool {
	if err == nil {
		return false
	}
	if tmp, ok := err.(interface{ Temporary() bool }); ok && tmp.Temporary() && !errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	return errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, net.ErrClosed)
}

// RetryTransport wraps inner with the registry requests' retry policy on schedule b: a request that
// fails Retryable, or is answered 408, 429, 500, 502, 503 or 504, is sent again, up to b.Steps times
// in all. The last answer is returned as it came.
func RetryTransport(inner http.RoundTripper, b remote.Backoff) http.RoundTripper {
	return transport.NewRetry(inner, transport.WithRetryBackoff(b), transport.WithRetryPredicate(Retryable),
		transport.WithRetryStatusCodes(retryStatusCodes...))
}

// retryOptions are the remote options that apply the policy to registry requests.
func retryOptions(b remote.Backoff) []remote.Option {
	return []remote.Option{remote.WithRetryBackoff(b), remote.WithRetryPredicate(Retryable),
		remote.WithRetryStatusCodes(retryStatusCodes...)}
}
