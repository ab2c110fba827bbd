package sbom

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"
)

const dpkgStatusData = `Package: libc6
Status: install ok installed
Priority: optional
Architecture: amd64
Multi-Arch: same
Source: glibc
Version: 2.36-9+deb12u4
Maintainer: GNU Libc Maintainers <debian-glibc@lists.debian.org>
Description: GNU C Library: Shared libraries
 Contains the standard libraries.

Package: removed
Status: deinstall ok config-files
Architecture: amd64
Version: 1.0

Package: adduser
Status: install ok installed
Architecture: all
Version: 3.134
`

func TestScanDpkg(t *testing.T) {
	fsys := fstest.MapFS{
		"etc/os-release":                  {Data: []byte("PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\nVERSION_ID=\"12\"\n")},
		"var/lib/dpkg/status":             {Data: []byte(dpkgStatusData)},
		"var/lib/dpkg/status.d/tzdata":    {Data: []byte("Package: tzdata\nVersion: 2024a-0+deb12u1\nArchitecture: all\n")},
		"var/lib/dpkg/status.d/x.md5sums": {Data: []byte("not a paragraph")},
	}
	ps, d, err := Scan(fsys)
	if err != nil {
		t.Fatal(err)
	}
	if d != (Distro{ID: "debian", VersionID: "12"}) {
		t.Errorf("distro = %+v", d)
	}
	var got []string
	for _, p := range ps {
		got = append(got, p.Name+" "+p.Version+" "+p.Arch+" "+p.PURL+" "+p.Location)
	}
	want := []string{
		"adduser 3.134 all pkg:deb/debian/adduser@3.134?arch=all&distro=debian-12 /var/lib/dpkg/status",
		"libc6 2.36-9+deb12u4 amd64 pkg:deb/debian/libc6@2.36-9+deb12u4?arch=amd64&upstream=glibc&distro=debian-12 /var/lib/dpkg/status",
		"tzdata 2024a-0+deb12u1 all pkg:deb/debian/tzdata@2024a-0+deb12u1?arch=all&distro=debian-12 /var/lib/dpkg/status.d/tzdata",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("packages:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestScanApk(t *testing.T) {
	fsys := fstest.MapFS{
		"etc/os-release": {Data: []byte("ID=alpine\nVERSION_ID=3.19.1\n")},
		"lib/apk/db/installed": {Data: []byte("C:Q1abc=\nP:musl\nV:1.2.4_git20230717-r4\nA:x86_64\no:musl\nm:Timo Teräs <timo.teras@iki.fi>\nL:MIT\nF:lib\nR:libc.musl-x86_64.so.1\nZ:Q1x=\n\n" +
			"P:libcrypto3\nV:3.1.4-r5\nA:x86_64\no:openssl\nL:Apache-2.0\n")},
	}
	ps, _, err := Scan(fsys)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range ps {
		got = append(got, p.PURL)
	}
	want := "pkg:apk/alpine/libcrypto3@3.1.4-r5?arch=x86_64&upstream=openssl&distro=alpine-3.19.1\n" +
		"pkg:apk/alpine/musl@1.2.4_git20230717-r4?arch=x86_64&distro=alpine-3.19.1"
	if strings.Join(got, "\n") != want {
		t.Errorf("purls:\n%s\nwant:\n%s", strings.Join(got, "\n"), want)
	}
}

func TestScanBadDatabase(t *testing.T) {
	for name, fsys := range map[string]fstest.MapFS{
		"/var/lib/dpkg/status: line 2":  {"var/lib/dpkg/status": {Data: []byte("Package: a\nno colon here\n")}},
		"/lib/apk/db/installed: line 1": {"lib/apk/db/installed": {Data: []byte("Pmusl\n")}},
	} {
		_, _, err := Scan(fsys)
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("Scan: error %v, want one naming %q", err, name)
		}
	}
}

// TestScanGoBinary builds a small program with this test's toolchain and reads its modules back.
func TestScanGoBinary(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("go toolchain: %v", err) // the test runs under go test: go is there
	}
	dir := t.TempDir()
	write := func(p, s string) {
		if err := os.WriteFile(filepath.Join(dir, p), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("go.mod", "module example.com/hello\n\ngo 1.22\n")
	write("main.go", "package main\n\nfunc main() { println(\"hi\") }\n")
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "usr/bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(gobin, "build", "-o", filepath.Join(root, "usr/bin/hello"), ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=-mod=mod")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	write("notes.txt", "x")
	ps, _, err := Scan(os.DirFS(root))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range ps {
		got = append(got, p.Name+" "+p.PURL+" "+p.Location)
	}
	v := strings.TrimPrefix(runtimeGoVersion(t, gobin), "go")
	want := []string{
		"example.com/hello pkg:golang/example.com/hello@%28devel%29 /usr/bin/hello",
		"stdlib pkg:golang/stdlib@" + v + " /usr/bin/hello",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("packages:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func runtimeGoVersion(t *testing.T, gobin string) string {
	out, err := exec.Command(gobin, "env", "GOVERSION").Output()
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(out))
}

func TestDocumentDeterministic(t *testing.T) {
	fsys := fstest.MapFS{"var/lib/dpkg/status": {Data: []byte(dpkgStatusData)}}
	ps, _, err := Scan(fsys)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Unix(1700000000, 0)
	a, err := NewDocument("img", "hoist-test", at, ps).JSON()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := NewDocument("img", "hoist-test", at, ps).JSON()
	if !bytes.Equal(a, b) {
		t.Error("two documents of the same packages differ")
	}
	for _, want := range []string{`"spdxVersion":"SPDX-2.3"`, `"SPDXID":"SPDXRef-DOCUMENT"`, `"created":"2023-11-14T22:13:20Z"`,
		`"referenceType":"purl","referenceLocator":"pkg:deb/debian/adduser@3.134?arch=all"`, `"relationshipType":"DESCRIBES"`} {
		if !bytes.Contains(a, []byte(want)) {
			t.Errorf("document lacks %s:\n%s", want, a)
		}
	}
}
