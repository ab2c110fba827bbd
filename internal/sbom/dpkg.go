package sbom

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"
)

const (
	dpkgStatus  = "var/lib/dpkg/status"
	dpkgStatusD = "var/lib/dpkg/status.d"
)

// scanDpkg reads dpkg's status database and the distroless status.d directory (one file per
// package, as Google's distroless images write them; *.md5sums files are skipped).
func scanDpkg(fsys fs.FS, d Distro) ([]Package, error) {
	var out []Package
	data, err := fs.ReadFile(fsys, dpkgStatus)
	switch {
	case err == nil:
		ps, err := parseDpkgStatus(data, "/"+dpkgStatus, d)
		if err != nil {
			return nil, err
		}
		out = append(out, ps...)
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("/%s: %w", dpkgStatus, err)
	}
	ents, err := fs.ReadDir(fsys, dpkgStatusD)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("/%s: %w", dpkgStatusD, err)
	}
	for _, e := range ents {
		if !e.Type().IsRegular() || strings.HasSuffix(e.Name(), ".md5sums") {
			continue
		}
		p := path.Join(dpkgStatusD, e.Name())
		data, err := fs.ReadFile(fsys, p)
		if err != nil {
			return nil, fmt.Errorf("/%s: %w", p, err)
		}
		ps, err := parseDpkgStatus(data, "/"+p, d)
		if err != nil {
			return nil, err
		}
		out = append(out, ps...)
	}
	return out, nil
}

// parseDpkgStatus parses a dpkg status file (deb822 paragraphs) and returns its installed packages.
func parseDpkgStatus(data []byte, loc string, d Distro) ([]Package, error) {
	var out []Package
	paras, err := parseDeb822(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", loc, err)
	}
	for _, f := range paras {
		if f["Package"] == "" {
			continue
		}
		// A status file lists removed packages whose configuration is kept too ("deinstall ok
		// config-files"); distroless status.d files have no Status field.
		if st, ok := f["Status"]; ok && !installed(st) {
			continue
		}
		src, srcVersion := f["Source"], ""
		if name, v, ok := strings.Cut(src, " ("); ok {
			src, srcVersion = name, strings.TrimSuffix(v, ")")
		}
		p := Package{Type: "deb", Name: f["Package"], Version: f["Version"], Arch: f["Architecture"],
			Source: src, Supplier: f["Maintainer"], Location: loc}
		p.PURL = debPURL(p, srcVersion, d)
		out = append(out, p)
	}
	return out, nil
}

// installed reports whether a dpkg Status value (want flag state) says the package is installed.
func installed(status string) bool {
	f := strings.Fields(status)
	return len(f) == 3 && f[2] == "installed"
}

// debPURL is syft's package URL of a Debian package: namespace the distro ID (debian when unknown),
// arch, distro and, when the source package differs, upstream=SOURCE[@VERSION].
func debPURL(p Package, srcVersion string, d Distro) string {
	ns := d.ID
	if ns == "" {
		ns = "debian"
	}
	q := [][2]string{{"arch", p.Arch}}
	if p.Source != "" && p.Source != p.Name {
		up := p.Source
		if srcVersion != "" {
			up += "@" + srcVersion
		}
		q = append(q, [2]string{"upstream", up})
	}
	q = append(q, [2]string{"distro", d.qualifier()})
	return PURL("deb", ns, p.Name, p.Version, q)
}

// parseDeb822 splits deb822 data into paragraphs of fields (continuation lines are appended).
func parseDeb822(data []byte) ([]map[string]string, error) {
	var out []map[string]string
	cur := map[string]string{}
	last := ""
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64*1024), 16*1024*1024)
	line := 0
	for sc.Scan() {
		line++
		t := sc.Text()
		switch {
		case strings.TrimSpace(t) == "":
			if len(cur) > 0 {
				out = append(out, cur)
			}
			cur, last = map[string]string{}, ""
		case t[0] == ' ' || t[0] == '\t':
			if last == "" {
				return nil, fmt.Errorf("line %d: continuation line without a field", line)
			}
			cur[last] += "\n" + strings.TrimSpace(t)
		default:
			k, v, ok := strings.Cut(t, ":")
			if !ok {
				return nil, fmt.Errorf("line %d: no field name: %q", line, t)
			}
			last = k
			cur[k] = strings.TrimSpace(v)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out, nil
}

// PURL formats a package URL (https://github.com/package-url/purl-spec) as syft writes one: type,
// namespace segments, name and version percent-encoded, qualifiers in the order given (syft's) with
// empty values left out.
func PURL(typ, ns, name, version string, qualifiers [][2]string) string {
	var b strings.Builder
	b.WriteString("pkg:" + typ + "/")
	if ns != "" {
		for _, seg := range strings.Split(ns, "/") {
			b.WriteString(purlEscape(seg) + "/")
		}
	}
	b.WriteString(purlEscape(name))
	if version != "" {
		b.WriteString("@" + purlEscape(version))
	}
	sep := "?"
	for _, q := range qualifiers {
		if q[1] == "" {
			continue
		}
		b.WriteString(sep + q[0] + "=" + purlEscape(q[1]))
		sep = "&"
	}
	return b.String()
}

// purlEscape percent-encodes what a purl component may not hold unencoded (packageurl-go keeps
// unreserved characters and encodes the rest; ':' and '+' stay, as in syft's Debian versions).
func purlEscape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-._~:+", c) >= 0 {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", c)
	}
	return b.String()
}
