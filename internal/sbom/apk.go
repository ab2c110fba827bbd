package sbom

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"strings"
)

const apkInstalled = "lib/apk/db/installed"

// scanApk reads apk's installed database: one paragraph per package, "K:value" lines (P name,
// V version, A arch, o origin, m maintainer, L license), as syft's alpine cataloger reads it.
func scanApk(fsys fs.FS, d Distro) ([]Package, error) {
	data, err := fs.ReadFile(fsys, apkInstalled)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("/%s: %w", apkInstalled, err)
	}
	return parseApkInstalled(data, "/"+apkInstalled, d)
}

func parseApkInstalled(data []byte, loc string, d Distro) ([]Package, error) {
	var out []Package
	cur := map[byte]string{}
	flush := func() {
		if cur['P'] != "" {
			p := Package{Type: "apk", Name: cur['P'], Version: cur['V'], Arch: cur['A'], Source: cur['o'],
				Supplier: cur['m'], License: cur['L'], Location: loc}
			ns := d.ID
			if ns == "" {
				ns = "alpine"
			}
			q := [][2]string{{"arch", p.Arch}}
			if p.Source != "" && p.Source != p.Name {
				q = append(q, [2]string{"upstream", p.Source})
			}
			q = append(q, [2]string{"distro", d.qualifier()})
			p.PURL = PURL("apk", ns, p.Name, p.Version, q)
			out = append(out, p)
		}
		cur = map[byte]string{}
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64*1024), 16*1024*1024)
	line := 0
	for sc.Scan() {
		line++
		t := sc.Text()
		if strings.TrimSpace(t) == "" {
			flush()
			continue
		}
		if len(t) < 2 || t[1] != ':' {
			return nil, fmt.Errorf("%s: line %d: not a KEY:VALUE line: %q", loc, line, t)
		}
		if _, seen := cur[t[0]]; !seen {
			cur[t[0]] = t[2:] // repeated keys (R:, Z: of each file) keep the first; P, V, A are once
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", loc, err)
	}
	flush()
	return out, nil
}
