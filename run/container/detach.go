package container

import (
	"errors"
	"fmt"
	"io"
	"strings"
)

// ErrDetached is Attach's result when the user typed the detach keys: the container goes on.
var ErrDetached = errors.New("read escape sequence")

// DefaultDetachKeys is docker's ctrl-p,ctrl-q.
var DefaultDetachKeys = []byte{0x10, 0x11}

// ParseDetachKeys parses docker's --detach-keys: comma-separated keys, each a single character or
// ctrl-<c> for c in a-z, @, [, \, ], ^, _.
func ParseDetachKeys(s string) ([]byte, error) {
	var keys []byte
	for _, k := range strings.Split(s, ",") {
		switch {
		case len(k) == 1:
			keys = append(keys, k[0])
		case len(k) == 6 && strings.HasPrefix(strings.ToLower(k), "ctrl-"):
			c := k[5]
			switch {
			case c >= 'a' && c <= 'z':
				keys = append(keys, c-'a'+1)
			case c >= 'A' && c <= 'Z':
				keys = append(keys, c-'A'+1)
			case c == '@' || c == '[' || c == '\\' || c == ']' || c == '^' || c == '_':
				keys = append(keys, c-'@')
			default:
				return nil, fmt.Errorf("invalid detach keys (%s): unknown character %q", s, c)
			}
		default:
			return nil, fmt.Errorf("invalid detach keys (%s): unknown key %q", s, k)
		}
	}
	return keys, nil
}

// detachReader passes input through until the detach key sequence is read, then returns
// ErrDetached. Bytes that start the sequence are held back until it is clear they do not finish it,
// as docker's escapeProxy does.
type detachReader struct {
	r       io.Reader
	keys    []byte
	matched int    // bytes of keys seen so far
	pending []byte // bytes to hand out before reading more
	err     error  // returned once pending is empty
}

func newDetachReader(r io.Reader, keys []byte) io.Reader {
	if len(keys) == 0 {
		return r
	}
	return &detachReader{r: r, keys: keys}
}

func (d *detachReader) Read(p []byte) (int, error) {
	for len(d.pending) == 0 {
		if d.err != nil {
			return 0, d.err
		}
		buf := make([]byte, len(p))
		n, err := d.r.Read(buf)
		d.scan(buf[:n])
		if d.err == nil && err != nil {
			d.pending = append(d.pending, d.keys[:d.matched]...) // a partial sequence at the end is input
			d.matched, d.err = 0, err
		}
	}
	n := copy(p, d.pending)
	d.pending = d.pending[n:]
	return n, nil
}

// scan moves input bytes to pending, holding back a partial key sequence; the whole sequence ends
// the input with ErrDetached (what came before it is still handed out).
func (d *detachReader) scan(in []byte) {
	for _, b := range in {
		if b == d.keys[d.matched] {
			d.matched++
			if d.matched == len(d.keys) {
				d.err = ErrDetached
				return
			}
			continue
		}
		d.pending = append(d.pending, d.keys[:d.matched]...)
		d.matched = 0
		if b == d.keys[0] {
			d.matched = 1
			continue
		}
		d.pending = append(d.pending, b)
	}
}
