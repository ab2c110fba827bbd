package push

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// Progress receives per-layer transfer progress. Implementations are safe for concurrent use.
type Progress interface {
	// Layer starts reporting one blob transfer: id is a short digest, action what happens
	// ("Downloading", "Pushing"), size the expected byte count (0 if unknown).
	Layer(id, action string, size int64) Bar
}

// Bar is one transfer's progress. Write counts transferred bytes (it never fails, so it can sit in
// an io.TeeReader); Restart says the transfer starts over; Done ends it with a status.
type Bar interface {
	io.Writer
	Restart(reason error)
	Done(status string)
}

type nopBar struct{}

func (nopBar) Write(p []byte) (int, error) { return len(p), nil }
func (nopBar) Restart(error)               {}
func (nopBar) Done(string)                 {}

// Printer renders progress on w: on a terminal (tty) one redrawn line per layer with bytes and rate,
// otherwise (CI logs) one plain line per state change. Close stops the redraw and prints the final
// state; call it once all transfers ended.
type Printer struct {
	w     io.Writer
	tty   bool
	mu    sync.Mutex
	bars  []*bar
	drawn int
	stop  chan struct{}
	done  chan struct{}
}

var _ Progress = (*Printer)(nil)

// NewPrinter returns a Printer writing to w; tty selects the redrawn bars.
func NewPrinter(w io.Writer, tty bool) *Printer {
	p := &Printer{w: w, tty: tty, stop: make(chan struct{}), done: make(chan struct{})}
	if tty {
		go p.loop()
	} else {
		close(p.done)
	}
	return p
}

func (p *Printer) loop() {
	defer close(p.done)
	t := time.NewTicker(150 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			p.redraw()
			return
		case <-t.C:
			p.redraw()
		}
	}
}

// Close implements io.Closer: it stops redrawing after a last frame.
func (p *Printer) Close() error {
	select {
	case <-p.stop:
	default:
		close(p.stop)
	}
	<-p.done
	return nil
}

// Layer implements Progress.
func (p *Printer) Layer(id, action string, size int64) Bar {
	b := &bar{p: p, id: id, action: action, size: size, start: time.Now()}
	p.mu.Lock()
	p.bars = append(p.bars, b)
	p.mu.Unlock()
	if !p.tty {
		p.line("%s: %s %s\n", id, action, humanBytes(size))
	}
	return b
}

func (p *Printer) line(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, format, args...)
}

func (p *Printer) redraw() {
	p.mu.Lock()
	defer p.mu.Unlock()
	var sb strings.Builder
	if p.drawn > 0 {
		fmt.Fprintf(&sb, "\x1b[%dA", p.drawn)
	}
	for _, b := range p.bars {
		sb.WriteString("\x1b[2K")
		sb.WriteString(b.render())
		sb.WriteByte('\n')
	}
	p.drawn = len(p.bars)
	io.WriteString(p.w, sb.String())
}

type bar struct {
	p      *Printer
	id     string
	action string
	size   int64
	start  time.Time
	mu     sync.Mutex
	n      int64
	status string
}

func (b *bar) Write(q []byte) (int, error) {
	b.mu.Lock()
	b.n += int64(len(q))
	b.mu.Unlock()
	return len(q), nil
}

func (b *bar) Restart(reason error) {
	b.mu.Lock()
	b.n = 0
	b.start = time.Now()
	b.mu.Unlock()
	if !b.p.tty {
		b.p.line("%s: retrying: %v\n", b.id, reason)
	}
}

func (b *bar) Done(status string) {
	b.mu.Lock()
	b.status = status
	n, el := b.n, time.Since(b.start)
	b.mu.Unlock()
	if !b.p.tty {
		b.p.line("%s: %s (%s in %.1fs)\n", b.id, status, humanBytes(n), el.Seconds())
	}
}

// render is the tty line: id, a 30-column bar, bytes done/total and the rate.
func (b *bar) render() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.status != "" {
		return fmt.Sprintf("%s: %s", b.id, b.status)
	}
	const width = 30
	fill := 0
	if b.size > 0 {
		fill = int(min(b.n, b.size) * width / b.size)
	}
	rate := float64(b.n) / max(time.Since(b.start).Seconds(), 0.001)
	return fmt.Sprintf("%s: %s [%s>%s] %s/%s %s/s", b.id, b.action, strings.Repeat("=", fill),
		strings.Repeat(" ", width-fill), humanBytes(b.n), humanBytes(b.size), humanBytes(int64(rate)))
}

// humanBytes formats n as docker does (decimal units: kB, MB, GB).
func humanBytes(n int64) string {
	f := float64(n)
	for _, u := range []string{"B", "kB", "MB", "GB"} {
		if f < 1000 || u == "GB" {
			if u == "B" {
				return fmt.Sprintf("%dB", n)
			}
			return fmt.Sprintf("%.3g%s", f, u)
		}
		f /= 1000
	}
	return ""
}
