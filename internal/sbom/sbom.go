// Package sbom lists the packages installed in an image's filesystem and writes them as an SPDX 2.3
// JSON document, the SBOM a build attaches with --sbom (BuildKit's predicate type
// https://spdx.dev/Document).
//
// It reads what syft's catalogers read for the same package managers, and names packages as syft
// does (name, version, package URL):
//
//   - dpkg: /var/lib/dpkg/status and the distroless /var/lib/dpkg/status.d/* files; packages whose
//     Status is "install ok installed" (syft's pkg/cataloger/debian):
//     pkg:deb/debian/NAME@VERSION?arch=ARCH&distro=debian-12 (the distro from /etc/os-release);
//   - apk: /lib/apk/db/installed (syft's pkg/cataloger/alpine): pkg:apk/alpine/NAME@VERSION?arch=...;
//   - Go: every executable with Go build information (debug/buildinfo, as syft's golang binary
//     cataloger): its main module, its dependencies and the toolchain as "stdlib",
//     pkg:golang/MODULE@VERSION.
//
// syft itself is not used: its module graph would add tens of megabytes to hoist's static binary (see
// docs/supplychain.md). The document is deterministic: packages are sorted, the namespace is derived
// from the content, and the creation time is the caller's (SOURCE_DATE_EPOCH when given).
package sbom

import (
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"sort"
	"strings"
)

// Package is one installed package.
type Package struct {
	// Type is the package manager: "deb", "apk" or "golang".
	Type    string
	Name    string
	Version string
	// Arch is the package's architecture as its manager writes it (amd64, x86_64, all); "" for Go.
	Arch string
	// Source is the package (or source package, Debian's Source field) it was built from, if named.
	Source string
	// Supplier is the maintainer ("Name <mail>") when the database names one.
	Supplier string
	// License is the license the database declares (apk's L:), "" when it declares none.
	License string
	// PURL is the package URL as syft writes it.
	PURL string
	// Location is the file the package was found in (/var/lib/dpkg/status, /usr/bin/app).
	Location string
}

// Distro is the operating system release of the filesystem (/etc/os-release), used in package URLs.
type Distro struct {
	ID        string // debian, alpine
	VersionID string // 12, 3.19.1
}

// Scan lists the packages of the filesystem fsys (rooted at the image's /): dpkg's, apk's and those
// of Go binaries, sorted by type, name, version and location. A database that cannot be parsed is an
// error naming its file; a missing one is not.
func Scan(fsys fs.FS) ([]Package, Distro, error) {
	d := readOSRelease(fsys)
	var out []Package
	debs, err := scanDpkg(fsys, d)
	if err != nil {
		return nil, d, err
	}
	out = append(out, debs...)
	apks, err := scanApk(fsys, d)
	if err != nil {
		return nil, d, err
	}
	out = append(out, apks...)
	gos, err := scanGo(fsys)
	if err != nil {
		return nil, d, err
	}
	out = append(out, gos...)
	sortPackages(out)
	return out, d, nil
}

func sortPackages(ps []Package) {
	sort.SliceStable(ps, func(i, j int) bool {
		a, b := ps[i], ps[j]
		if a.Type != b.Type {
			return a.Type < b.Type
		}
		if a.Name != b.Name {
			return a.Name < b.Name
		}
		if a.Version != b.Version {
			return a.Version < b.Version
		}
		if a.Arch != b.Arch {
			return a.Arch < b.Arch
		}
		return a.Location < b.Location
	})
}

// readOSRelease reads ID and VERSION_ID of /etc/os-release (or /usr/lib/os-release).
func readOSRelease(fsys fs.FS) Distro {
	var d Distro
	for _, p := range []string{"etc/os-release", "usr/lib/os-release"} {
		data, err := fs.ReadFile(fsys, p)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(data), "\n") {
			k, v, ok := strings.Cut(strings.TrimSpace(line), "=")
			if !ok {
				continue
			}
			v = strings.Trim(v, `"'`)
			switch k {
			case "ID":
				d.ID = v
			case "VERSION_ID":
				d.VersionID = v
			}
		}
		return d
	}
	return d
}

// distroQualifier is syft's distro= qualifier: ID-VERSION_ID.
func (d Distro) qualifier() string {
	if d.ID == "" {
		return ""
	}
	if d.VersionID == "" {
		return d.ID
	}
	return d.ID + "-" + d.VersionID
}

// spdxID is an SPDX identifier for p, unique in a document: the type and name (characters SPDX does
// not allow become "-") and a digest of the package URL and location, as syft adds an id.
func spdxID(p Package) string {
	h := sha256.Sum256([]byte(p.PURL + "\x00" + p.Location))
	clean := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' {
			return r
		}
		return '-'
	}, p.Name)
	return "SPDXRef-Package-" + p.Type + "-" + clean + "-" + hex.EncodeToString(h[:8])
}
