package builder

import (
	"fmt"
	"io"
	"sort"
	"sync"
)

// progress serializes the human-readable build log (stderr).
type progress struct {
	mu sync.Mutex
	w  io.Writer
}

func newProgress(w io.Writer, quiet bool) *progress {
	if w == nil || quiet {
		w = io.Discard
	}
	return &progress{w: w}
}

func (p *progress) printf(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, format, args...)
}

// stepWriter returns a writer for a RUN step's output.
func (p *progress) stepWriter() io.Writer { return &lockedWriter{p: p} }

type lockedWriter struct{ p *progress }

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.p.mu.Lock()
	defer l.p.mu.Unlock()
	l.p.w.Write(b)
	return len(b), nil
}

func sortStrings(s []string) { sort.Strings(s) }
