package store

import (
	"archive/tar"
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"

	"github.com/klauspost/compress/gzip"

	"github.com/hoistbuild/hoist/internal/ctxio"
)

// tarArchive is a random-access view of an uncompressed tar archive: one
// pass records where each entry's data lives, later opens are section
// reads. It is used by Load.
type tarArchive struct {
	ra      io.ReaderAt
	entries map[string]tarEntry
}

type tarEntry struct {
	off, size int64
	typ       byte
	link      string
}

// indexTar reads the headers of the tar archive in ra[base:base+size].
func indexTar(ctx context.Context, ra io.ReaderAt, base, size int64) (*tarArchive, error) {
	sr := io.NewSectionReader(ra, base, size)
	tr := tar.NewReader(sr)
	a := &tarArchive{ra: ra, entries: map[string]tarEntry{}}
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("reading archive: %w", err)
		}
		// The tar reader reads headers exactly and skips data by seeking,
		// so the current offset is the start of this entry's data.
		off, err := sr.Seek(0, io.SeekCurrent)
		if err != nil {
			return nil, fmt.Errorf("reading archive: %w", err)
		}
		p := cleanTarPath(hdr.Name)
		if p == "" {
			continue
		}
		a.entries[p] = tarEntry{off: base + off, size: hdr.Size, typ: hdr.Typeflag, link: hdr.Linkname}
	}
	return a, nil
}

func cleanTarPath(p string) string {
	p = path.Clean("/" + p)
	return strings.TrimPrefix(p, "/")
}

func (a *tarArchive) has(p string) bool {
	_, ok := a.entries[cleanTarPath(p)]
	return ok
}

// open returns the data of regular file p, following symlinks and hard
// links inside the archive.
func (a *tarArchive) open(p string) (*io.SectionReader, error) {
	p = cleanTarPath(p)
	for range 16 {
		e, ok := a.entries[p]
		if !ok {
			return nil, fmt.Errorf("archive entry %q: %w", p, ErrNotFound)
		}
		switch e.typ {
		case tar.TypeReg, tar.TypeRegA:
			return io.NewSectionReader(a.ra, e.off, e.size), nil
		case tar.TypeSymlink:
			if path.IsAbs(e.link) {
				p = cleanTarPath(e.link)
			} else {
				p = cleanTarPath(path.Join(path.Dir(p), e.link))
			}
		case tar.TypeLink:
			p = cleanTarPath(e.link)
		default:
			return nil, fmt.Errorf("archive entry %q: not a regular file", p)
		}
	}
	return nil, fmt.Errorf("archive entry %q: too many links", p)
}

// readAll reads a small archive entry.
func (a *tarArchive) readAll(p string) ([]byte, error) {
	r, err := a.open(p)
	if err != nil {
		return nil, err
	}
	if r.Size() > maxJSONBlob {
		return nil, fmt.Errorf("archive entry %q: larger than %d bytes", p, maxJSONBlob)
	}
	return io.ReadAll(r)
}

// spool makes r randomly accessible. A regular, uncompressed *os.File is
// used in place from its current offset; anything else is copied (gzip
// decompressed) into a flocked temp file in root/tmp. The returned cleanup
// removes the temp file; it must be called.
func (s *Store) spool(ctx context.Context, r io.Reader) (io.ReaderAt, int64, int64, func(), error) {
	if f, ok := r.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() {
			if cur, err := f.Seek(0, io.SeekCurrent); err == nil {
				var magic [2]byte
				n, _ := f.ReadAt(magic[:], cur)
				if n < 2 || magic != [2]byte{0x1f, 0x8b} {
					return f, cur, fi.Size() - cur, func() {}, nil
				}
			}
		}
	}
	br := bufio.NewReaderSize(ctxio.Reader(ctx, r), 1<<16)
	var src io.Reader = br
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		gz, err := gzip.NewReader(br)
		if err != nil {
			return nil, 0, 0, nil, fmt.Errorf("decompressing archive: %w", err)
		}
		defer gz.Close()
		src = gz
	}
	f, err := s.createTemp("load")
	if err != nil {
		return nil, 0, 0, nil, err
	}
	cleanup := func() {
		os.Remove(f.Name())
		f.Close()
	}
	n, err := io.Copy(f, src)
	if err != nil {
		cleanup()
		return nil, 0, 0, nil, fmt.Errorf("spooling archive: %w", err)
	}
	return f, 0, n, cleanup, nil
}
