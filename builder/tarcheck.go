package builder

import (
	"archive/tar"
	"fmt"
	"io"
	"path"
	"strings"
)

// strictTar re-streams an ADD archive, failing on any entry that would land outside the destination:
// a path or hardlink target that climbs out with "..", or an entry written through a symlink that the
// same archive created. Docker refuses such archives too ("breakout"); the extractor behind this would
// only clamp them, which hides an attack instead of reporting it.
func strictTar(r io.Reader) io.ReadCloser {
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(copyStrict(r, pw)) }()
	return pr
}

func copyStrict(r io.Reader, w io.Writer) error {
	tr := tar.NewReader(r)
	tw := tar.NewWriter(w)
	links := map[string]bool{} // symlinks created by this archive
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return tw.Close()
		}
		if err != nil {
			return fmt.Errorf("reading archive: %w", err)
		}
		name, err := insidePath(hdr.Name)
		if err != nil {
			return err
		}
		for dir := path.Dir(name); dir != "." && dir != "/"; dir = path.Dir(dir) {
			if links[dir] {
				return fmt.Errorf("archive entry %q is written through the symlink %q it created: refusing to extract", hdr.Name, dir)
			}
		}
		switch hdr.Typeflag {
		case tar.TypeLink:
			if _, err := insidePath(hdr.Linkname); err != nil {
				return fmt.Errorf("archive hardlink %q -> %q: %w", hdr.Name, hdr.Linkname, err)
			}
		case tar.TypeSymlink:
			links[name] = true
		default:
			delete(links, name)
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if _, err := io.Copy(tw, tr); err != nil {
			return err
		}
	}
}

// insidePath cleans an archive path and rejects one that leaves the extraction root.
func insidePath(p string) (string, error) {
	c := path.Clean(strings.TrimPrefix(p, "/"))
	if c == ".." || strings.HasPrefix(c, "../") {
		return "", fmt.Errorf("archive entry %q points outside the destination: refusing to extract", p)
	}
	return c, nil
}
