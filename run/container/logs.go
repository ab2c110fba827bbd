package container

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// logEntry is one line of docker's json-file log driver.
type logEntry struct {
	Log    string    `json:"log"`
	Stream string    `json:"stream"`
	Time   time.Time `json:"time"`
}

// logFile appends entries to a json-file log, rotated as docker's json-file driver rotates it
// (LogConfig.MaxSize, MaxFile: checked before each entry, so a file passes max-size by at most one
// entry). It is safe for concurrent use; each stream is split into entries at newlines, as docker
// does. With the none driver it keeps nothing.
type logFile struct {
	mu   sync.Mutex
	f    *os.File // nil: the none driver
	path string
	cfg  LogConfig
	size int64
}

func openLog(path string, cfg LogConfig) (*logFile, error) {
	l := &logFile{path: path, cfg: cfg}
	if cfg.Driver == LogNone {
		return l, nil
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return nil, fmt.Errorf("opening container log: %w", err)
	}
	l.f = f
	if fi, err := f.Stat(); err == nil {
		l.size = fi.Size()
	}
	return l, nil
}

func (l *logFile) Close() error {
	if l.f == nil {
		return nil
	}
	return l.f.Close()
}

func (l *logFile) write(stream string, p []byte) error {
	if l.f == nil {
		return nil
	}
	b, err := json.Marshal(logEntry{Log: string(p), Stream: stream, Time: time.Now().UTC()})
	if err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cfg.MaxSize > 0 && l.size >= l.cfg.MaxSize {
		if err := l.rotate(); err != nil {
			return fmt.Errorf("rotating the container log: %w", err)
		}
	}
	n, err := l.f.Write(append(b, '\n'))
	l.size += int64(n)
	return err
}

// rotate starts a new file, keeping the old ones as MaxFile says.
func (l *logFile) rotate() error {
	if err := l.f.Close(); err != nil {
		return err
	}
	if err := rotateLogs(l.path, l.cfg.MaxFile); err != nil {
		return err
	}
	f, err := os.OpenFile(l.path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC|os.O_APPEND, 0o640)
	if err != nil {
		return err
	}
	l.f, l.size = f, 0
	return nil
}

// streamWriter is an io.Writer feeding one stream of a logFile.
type streamWriter struct {
	l      *logFile
	stream string
	buf    []byte
	raw    bool // log every write as it is, not split into lines
}

// Write logs every complete line of p; a partial line waits for the rest
// (or for Flush) unless it grows past 16 KiB.
func (w *streamWriter) Write(p []byte) (int, error) {
	if w.raw {
		if err := w.l.write(w.stream, p); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		if err := w.l.write(w.stream, w.buf[:i+1]); err != nil {
			return 0, err
		}
		w.buf = w.buf[i+1:]
	}
	if len(w.buf) >= 16<<10 {
		if err := w.Flush(); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

// Flush logs a pending partial line.
func (w *streamWriter) Flush() error {
	if len(w.buf) == 0 {
		return nil
	}
	err := w.l.write(w.stream, w.buf)
	w.buf = w.buf[:0]
	return err
}

// LogOptions select what Logs prints.
type LogOptions struct {
	Follow     bool
	Tail       int // < 0: all
	Since      time.Time
	Until      time.Time // zero: no end; entries after it are left out, and Follow stops once it passed
	Timestamps bool
}

// Logs writes the container's log to stdout and stderr (each entry to its
// stream; a tty container's output is all stdout). With Follow it keeps
// going until the container stops (and is not restarting) or ctx ends.
func (r *Runtime) Logs(ctx context.Context, ref string, o LogOptions, stdout, stderr io.Writer) error {
	c, err := r.Get(ctx, ref)
	if err != nil {
		return err
	}
	return r.logs(ctx, c, o, stdout, stderr, func() {})
}

// logs is Logs for c; ready is called once the existing log has been
// written (the reader is at its end) and before following it.
func (r *Runtime) logs(ctx context.Context, c *Container, o LogOptions, stdout, stderr io.Writer, ready func()) error {
	if c.Config.Log.Driver == LogNone {
		return ErrLogNotReadable
	}
	path := r.LogPath(c.ID)
	// The rotated files first, oldest first; then the current one, which is followed.
	var older []io.Reader
	for _, p := range rotatedLogs(path) {
		of, err := os.Open(p)
		if err != nil {
			continue // rotated away meanwhile
		}
		defer of.Close()
		older = append(older, of)
	}
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		ready()
		return nil
	}
	if err != nil {
		return err
	}
	defer func() { f.Close() }()
	emit := func(line []byte) error {
		var e logEntry
		if err := json.Unmarshal(line, &e); err != nil {
			return nil // a torn last line; the writer completes it later
		}
		if !o.Since.IsZero() && e.Time.Before(o.Since) || !o.Until.IsZero() && e.Time.After(o.Until) {
			return nil
		}
		w := stdout
		if e.Stream == "stderr" {
			w = stderr
		}
		if o.Timestamps {
			if _, err := fmt.Fprintf(w, "%s ", e.Time.Format(time.RFC3339Nano)); err != nil {
				return err
			}
		}
		_, err := io.WriteString(w, e.Log)
		return err
	}
	var lines [][]byte
	var partial []byte
	var br *bufio.Reader
	for i, rd := range append(older, f) {
		br = bufio.NewReader(rd)
		for {
			line, err := br.ReadBytes('\n')
			if err == io.EOF {
				if i == len(older) {
					partial = line // the current file: the writer completes it later
				}
				break
			}
			if err != nil {
				return err
			}
			if o.Tail >= 0 {
				lines = append(lines, line)
				if len(lines) > o.Tail {
					lines = lines[1:]
				}
			} else if err := emit(line); err != nil {
				return err
			}
		}
	}
	for _, l := range lines {
		if err := emit(l); err != nil {
			return err
		}
	}
	ready()
	if !o.Follow {
		return nil
	}
	for {
		line, err := br.ReadBytes('\n')
		partial = append(partial, line...)
		if err == nil {
			if err := emit(partial); err != nil {
				return err
			}
			partial = nil
			continue
		}
		if err != io.EOF {
			return err
		}
		if !o.Until.IsZero() && time.Now().After(o.Until) {
			return nil // docker's --until ends a --follow
		}
		if nf := reopenRotated(f, path); nf != nil {
			// Rotated: what the old file still had, then the new one from its start.
			rest, _ := io.ReadAll(br)
			for _, l := range bytes.SplitAfter(append(partial, rest...), []byte("\n")) {
				if len(l) > 0 {
					if err := emit(l); err != nil {
						nf.Close()
						return err
					}
				}
			}
			f.Close()
			f, br, partial = nf, bufio.NewReader(nf), nil
			continue
		}
		c, gerr := r.Get(ctx, c.ID)
		if gerr != nil || !c.State.Running() {
			// One more read: the monitor writes the last lines before the state.
			rest, _ := io.ReadAll(br)
			for _, l := range bytes.SplitAfter(append(partial, rest...), []byte("\n")) {
				if len(l) > 0 {
					if err := emit(l); err != nil {
						return err
					}
				}
			}
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// reopenRotated returns path opened anew when it is no longer the file f (the log rotated), else nil.
func reopenRotated(f *os.File, path string) *os.File {
	cur, err := f.Stat()
	if err != nil {
		return nil
	}
	now, err := os.Stat(path)
	if err != nil || os.SameFile(cur, now) {
		return nil
	}
	nf, err := os.Open(path)
	if err != nil {
		return nil
	}
	return nf
}
