package push

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"

	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// ErrNotFound means the registry has no such repository, tag, manifest or blob.
var ErrNotFound = errors.New("not found")

// describe turns ggcr and network errors into one-line messages that say what went wrong, wrapping
// ErrNotFound or ErrUnauthorized where they apply. Other errors are returned unchanged.
func describe(err error) error {
	if err == nil {
		return nil
	}
	var cve *tls.CertificateVerificationError
	if errors.As(err, &cve) {
		return fmt.Errorf("TLS certificate not trusted (%v): put the registry's CA in certs.d/HOST:PORT/ca.crt, or --tls-verify=false", cve.Err)
	}
	var te *transport.Error
	if errors.As(err, &te) {
		msg := ""
		if len(te.Errors) > 0 {
			msg = te.Errors[0].Message
			if msg == "" {
				msg = string(te.Errors[0].Code)
			}
		}
		switch te.StatusCode {
		case http.StatusNotFound:
			if msg == "" {
				msg = "not found"
			}
			return &described{msg: strings.ToLower(msg) + ": " + ErrNotFound.Error(), errs: []error{ErrNotFound, te}}
		case http.StatusUnauthorized, http.StatusForbidden:
			if msg == "" {
				msg = "authentication required"
			}
			return &described{msg: strings.ToLower(msg) + " (try hoist login): " + ErrUnauthorized.Error(), errs: []error{ErrUnauthorized, te}}
		}
		if msg != "" {
			return &described{msg: fmt.Sprintf("registry answered %d: %s", te.StatusCode, msg), errs: []error{te}}
		}
		return &described{msg: fmt.Sprintf("registry answered %d", te.StatusCode), errs: []error{te}}
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return fmt.Errorf("unknown registry host %s: %s", dnsErr.Name, dnsErr.Err)
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) && opErr.Op == "dial" {
		return fmt.Errorf("cannot connect to registry: %w", opErr)
	}
	return err
}

// transient reports whether a failed blob transfer is worth another attempt: dropped connections,
// truncated bodies, 5xx, 408 and 429 answers. Cancellation and definite answers (404, 401, a digest
// mismatch of a complete body) are not.
func transient(ctx context.Context, err error) bool {
	if ctx.Err() != nil || errors.Is(err, context.Canceled) {
		return false
	}
	var te *transport.Error
	if errors.As(err, &te) {
		return te.StatusCode >= 500 || te.StatusCode == http.StatusTooManyRequests || te.StatusCode == http.StatusRequestTimeout
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	s := err.Error()
	for _, frag := range []string{"unexpected EOF", "connection reset", "broken pipe", "EOF", "use of closed network connection", "http2", "verifying size"} {
		if strings.Contains(s, frag) {
			return true
		}
	}
	return false
}

// described is an error with a message of its own that keeps the errors it
// describes in its chain (errors.Is(err, ErrNotFound), errors.As(err,
// **transport.Error) both work), without repeating their text.
type described struct {
	msg  string
	errs []error
}

func (e *described) Error() string   { return e.msg }
func (e *described) Unwrap() []error { return e.errs }

var _ error = (*described)(nil)
