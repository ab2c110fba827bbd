//go:build linux

package snapshot

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// DiffOptions tune WriteDiff and WriteDiffCompare.
type DiffOptions struct {
	// SourceDateEpoch, when set, clamps every entry's mtime to this time
	// (SOURCE_DATE_EPOCH semantics: later times become the epoch, earlier
	// ones are kept).
	SourceDateEpoch *time.Time

	// Exclude, when set, is called with each path relative to the layer
	// root, slash-separated and without a leading slash ("etc/hosts");
	// returning true drops the path and, for a directory, everything below
	// it. Deletions of excluded paths are dropped as well.
	Exclude func(rel string) bool

	// Lowers, when set, are the lower dirs (base first, overlay lower-dir format) under the upper dir
	// WriteDiff reads. A regular file with several links that is unchanged from the lower view (a
	// copy-up made by linking to a file of a lower layer) is then left out, as BuildKit's overlay
	// differ leaves out every unchanged entry; a new link to it becomes a regular file. Only such
	// files that overlayfs copied up (trusted.overlay.origin, set where the lower filesystem has
	// file handles) are looked up: new files and links made by the COPY reuse cost nothing.
	Lowers []string

	// entryStart, when set, is called before each tar entry (and before the end-of-archive blocks,
	// with ""), once the stream written so far ends on that boundary (see MemberCompressor).
	entryStart func(name string)
}

// emitter writes layer tar entries; it owns hardlink bookkeeping.
type emitter struct {
	tw    *tar.Writer
	opts  DiffOptions
	links map[devIno]string // inode -> first tar name written for it
	buf   []byte            // file contents pass through it (copyBufSize)
}

func newEmitter(w io.Writer, opts DiffOptions) *emitter {
	return &emitter{tw: tar.NewWriter(w), opts: opts, links: make(map[devIno]string)}
}

func (e *emitter) excluded(rel string) bool {
	return e.opts.Exclude != nil && e.opts.Exclude(rel)
}

// checkName refuses names an extractor would take for whiteouts.
func checkName(rel string) error {
	_, base := splitRel(rel)
	if strings.HasPrefix(base, whiteoutPrefix) {
		return fmt.Errorf("%s: file name uses the reserved whiteout prefix %q: %w", rel, whiteoutPrefix, ErrHostileEntry)
	}
	return nil
}

// writeFile writes the entry for the file at abs (already lstat'ed into st)
// under the name rel. Regular files with more than one link become TypeLink
// entries pointing at the first name written for the same inode.
func (e *emitter) writeFile(ctx context.Context, rel, abs string, st *unix.Stat_t, xattrs map[string]string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := checkName(rel); err != nil {
		return err
	}
	var link string
	if fileType(st) == unix.S_IFLNK {
		l, err := os.Readlink(abs)
		if err != nil {
			return fmt.Errorf("reading symlink %s: %w", rel, err)
		}
		link = l
	}
	hdr := header(rel, st, link, xattrs, e.opts.SourceDateEpoch)
	if hdr == nil {
		return nil // socket: not representable in a tar
	}
	if hdr.Typeflag == tar.TypeReg && st.Nlink > 1 {
		key := devIno{dev: st.Dev, ino: st.Ino}
		if first, ok := e.links[key]; ok {
			hdr.Typeflag = tar.TypeLink
			hdr.Linkname = first
			hdr.Size = 0
			return e.writeHeader(hdr)
		}
		e.links[key] = rel
	}
	if err := e.writeHeader(hdr); err != nil {
		return err
	}
	if hdr.Typeflag != tar.TypeReg || hdr.Size == 0 {
		return nil
	}
	f, err := openFile(abs)
	if err != nil {
		return fmt.Errorf("opening %s: %w", rel, err)
	}
	defer f.Close()
	if e.buf == nil {
		e.buf = make([]byte, copyBufSize)
	}
	n, err := io.CopyBuffer(e.tw, io.LimitReader(f, hdr.Size), e.buf)
	if err != nil {
		return fmt.Errorf("copying %s into tar: %w", rel, err)
	}
	if n != hdr.Size {
		return fmt.Errorf("copying %s into tar: file shrank from %d to %d bytes: %w", rel, hdr.Size, n, io.ErrUnexpectedEOF)
	}
	return nil
}

// copyBufSize is the emitter's read size: one buffer for every file of a layer (io.Copy would
// allocate 32 KiB per file, and a layer of 10,000 small files made that most of the commit's garbage).
const copyBufSize = 256 << 10

// fdFile is a regular file read with plain read(2) calls. os.Open would first try to register the
// descriptor with the runtime's poller (fcntl, and an epoll_ctl that regular files always refuse):
// four wasted system calls per file in a layer of thousands.
type fdFile struct{ fd int }

// openFile opens path for reading, refusing a symlink in its last component.
func openFile(path string) (*fdFile, error) {
	for {
		fd, err := unix.Open(path, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, &pathError{op: "open", path: path, err: err}
		}
		return &fdFile{fd: fd}, nil
	}
}

func (f *fdFile) Read(p []byte) (int, error) {
	for {
		n, err := unix.Read(f.fd, p)
		switch {
		case err == unix.EINTR:
			continue
		case err != nil:
			return 0, err
		case n == 0 && len(p) > 0:
			return 0, io.EOF
		}
		return n, nil
	}
}

func (f *fdFile) Close() error { return unix.Close(f.fd) }

func (e *emitter) writeHeader(hdr *tar.Header) error {
	if err := e.boundary(hdr.Name); err != nil {
		return err
	}
	if err := e.tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("writing tar header %s: %w", hdr.Name, err)
	}
	return nil
}

// writeWhiteout writes the OCI whiteout entry for the deleted path rel.
func (e *emitter) writeWhiteout(rel string) error {
	return e.writeHeader(markerHeader(whiteoutName(rel)))
}

// writeOpaque writes the opaque marker for directory relDir.
func (e *emitter) writeOpaque(relDir string) error {
	return e.writeHeader(markerHeader(joinRel(relDir, whiteoutOpaque)))
}

// boundary ends the previous entry (its padding) and reports the start of the next one.
func (e *emitter) boundary(name string) error {
	if e.opts.entryStart == nil {
		return nil
	}
	if err := e.tw.Flush(); err != nil {
		return fmt.Errorf("writing tar padding: %w", err)
	}
	e.opts.entryStart(name)
	return nil
}

// close flushes the tar footer; it does not close the underlying writer.
func (e *emitter) close() error {
	if err := e.boundary(""); err != nil {
		return err
	}
	if err := e.tw.Close(); err != nil {
		return fmt.Errorf("finishing tar: %w", err)
	}
	return nil
}

// readDirNames returns the names in dir, sorted.
func readDirNames(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(ents))
	for i, ent := range ents {
		names[i] = ent.Name()
	}
	return names, nil
}
