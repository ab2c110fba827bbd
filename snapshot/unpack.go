//go:build linux

package snapshot

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/opencontainers/umoci/oci/layer"
)

// ApplyTar extracts an uncompressed tar stream into the existing directory
// dst with chroot semantics: every entry's parent path is resolved as if dst
// were "/" (symlinks included), so nothing outside dst is created, changed
// or removed, whatever the archive contains. It is what `ADD archive.tar
// /dest` needs. Entries replace existing non-directories; existing
// directories are kept and get the archive's metadata; owners, modes,
// mtimes and xattrs come from the archive (security.selinux and
// trusted.overlay.* are not applied). Entries whose name starts with ".wh."
// are refused with ErrHostileEntry: extracting them would either delete
// files in dst (OCI whiteout semantics) or, in docker's ADD, create literal
// ".wh." files, and hoist supports neither. r is not closed. On error dst
// may hold part of the archive.
func ApplyTar(ctx context.Context, r io.Reader, dst string) error {
	fi, err := os.Stat(dst)
	if err != nil {
		return fmt.Errorf("applying tar: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("applying tar: %s is not a directory", dst)
	}
	abs, err := filepath.Abs(dst)
	if err != nil {
		return fmt.Errorf("applying tar: %w", err)
	}
	if err := extract(ctx, r, abs, layer.DirRootfs{}, false); err != nil {
		return fmt.Errorf("applying tar to %s: %w", dst, err)
	}
	return nil
}

// extract feeds every entry of the tar on r to umoci's TarExtractor (the
// loop of umoci's layer.UnpackLayer), after checkEntry has vetted it.
func extract(ctx context.Context, r io.Reader, dst string, format layer.OnDiskFormat, whiteouts bool) error {
	te := layer.NewTarExtractor(&layer.UnpackOptions{OnDiskFormat: format})
	tr := tar.NewReader(r)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading tar: %w", err)
		}
		skip, err := checkEntry(hdr, whiteouts)
		if err != nil {
			return err
		}
		if skip {
			continue
		}
		if err := te.UnpackEntry(dst, hdr, tr); err != nil {
			return fmt.Errorf("extracting %q: %w", hdr.Name, err)
		}
	}
}

// checkEntry vets a header before umoci sees it. It reports skip for PAX
// global headers (which carry no file) and for aufs metadata (any path
// component starting with ".wh..wh." other than the opaque marker, as
// docker does), and refuses whiteouts whose target is "", "." or "..":
// umoci joins that target onto the resolved parent directory unchecked, so
// ".wh..." at the top level would delete the parent of dst. When whiteouts
// is false every ".wh." entry is refused.
func checkEntry(hdr *tar.Header, whiteouts bool) (skip bool, err error) {
	if hdr.Typeflag == tar.TypeXGlobalHeader {
		return true, nil
	}
	clean := layer.CleanPath(hdr.Name)
	_, base := filepath.Split(clean)
	if !strings.Contains(clean, whiteoutPrefix) {
		return false, nil
	}
	if !whiteouts {
		for _, c := range strings.Split(clean, "/") {
			if strings.HasPrefix(c, whiteoutPrefix) {
				return false, fmt.Errorf("%q: whiteout entries are not allowed here: %w", hdr.Name, ErrHostileEntry)
			}
		}
		return false, nil
	}
	if base == whiteoutOpaque {
		return false, nil
	}
	for _, c := range strings.Split(clean, "/") {
		if strings.HasPrefix(c, whiteoutMetaPrefix) {
			return true, nil
		}
	}
	target, isWhiteout := strings.CutPrefix(base, whiteoutPrefix)
	if isWhiteout && (target == "" || target == "." || target == "..") {
		return false, fmt.Errorf("%q: whiteout of %q: %w", hdr.Name, target, ErrHostileEntry)
	}
	return false, nil
}
