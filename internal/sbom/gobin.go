package sbom

import (
	"bytes"
	"debug/buildinfo"
	"fmt"
	"io"
	"io/fs"
	"strings"
)

// maxGoBinary is the largest file read for Go build information; bigger files are skipped.
const maxGoBinary = 512 << 20

// scanGo finds the executables with Go build information anywhere in fsys (regular files with an
// executable bit and an ELF header) and lists, for each, its main module, its dependencies (replaced
// modules as their replacement) and the Go toolchain as "stdlib", as syft's golang binary cataloger
// does.
func scanGo(fsys fs.FS) ([]Package, error) {
	var out []Package
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil // an unreadable directory holds nothing this scan can report
		}
		if p == "proc" || p == "sys" || p == "dev" {
			return fs.SkipDir
		}
		if !d.Type().IsRegular() {
			return nil
		}
		fi, err := d.Info()
		if err != nil || fi.Mode().Perm()&0o111 == 0 || fi.Size() < 4 || fi.Size() > maxGoBinary {
			return nil
		}
		ps, err := readGoBinary(fsys, p)
		if err != nil {
			return err
		}
		out = append(out, ps...)
		return nil
	})
	return out, err
}

// readGoBinary returns the packages of the Go executable p, nothing when p is not one.
func readGoBinary(fsys fs.FS, p string) ([]Package, error) {
	f, err := fsys.Open(p)
	if err != nil {
		return nil, nil
	}
	defer f.Close()
	magic := make([]byte, 4)
	if _, err := io.ReadFull(f, magic); err != nil || !bytes.Equal(magic, []byte("\x7fELF")) {
		return nil, nil
	}
	ra, ok := f.(io.ReaderAt)
	if !ok {
		data, err := fs.ReadFile(fsys, p)
		if err != nil {
			return nil, fmt.Errorf("/%s: %w", p, err)
		}
		ra = bytes.NewReader(data)
	}
	bi, err := buildinfo.Read(ra)
	if err != nil {
		return nil, nil // an ELF file that is not a Go binary
	}
	return goPackages(bi, "/"+p), nil
}

// goPackages are the packages of one binary's build information.
func goPackages(bi *buildinfo.BuildInfo, loc string) []Package {
	var out []Package
	add := func(path, version string) {
		if path == "" {
			return
		}
		out = append(out, Package{Type: "golang", Name: path, Version: version, Location: loc,
			PURL: PURL("golang", goNamespace(path), goName(path), version, nil)})
	}
	add(bi.Main.Path, bi.Main.Version)
	for _, m := range bi.Deps {
		if m.Replace != nil {
			m = m.Replace
		}
		add(m.Path, m.Version)
	}
	if bi.GoVersion != "" {
		out = append(out, Package{Type: "golang", Name: "stdlib", Version: bi.GoVersion, Location: loc,
			PURL: PURL("golang", "", "stdlib", strings.TrimPrefix(bi.GoVersion, "go"), nil)})
	}
	return out
}

// goNamespace and goName split a module path for its purl: pkg:golang/github.com/a/b@v1.
func goNamespace(path string) string {
	if i := strings.LastIndex(path, "/"); i >= 0 {
		return path[:i]
	}
	return ""
}

func goName(path string) string { return path[strings.LastIndex(path, "/")+1:] }
