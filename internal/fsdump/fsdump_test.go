package fsdump

import (
	"archive/tar"
	"bytes"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// ent describes one tar entry of a test layer.
type ent struct {
	name   string
	typ    byte // tar.Type*; 0 means tar.TypeReg
	mode   int64
	uid    int
	gid    int
	body   string
	link   string
	major  int64
	minor  int64
	xattrs map[string]string
	mtime  int64
}

func file(name, body string, mode int64) ent { return ent{name: name, body: body, mode: mode} }
func dir(name string, mode int64) ent        { return ent{name: name, typ: tar.TypeDir, mode: mode} }
func symlink(name, target string) ent {
	return ent{name: name, typ: tar.TypeSymlink, link: target, mode: 0o777}
}
func hardlink(name, target string) ent {
	return ent{name: name, typ: tar.TypeLink, link: target, mode: 0o644}
}

// layer builds an uncompressed tar from entries, in order.
func layer(t *testing.T, ents ...ent) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range ents {
		typ := e.typ
		if typ == 0 {
			typ = tar.TypeReg
		}
		hdr := &tar.Header{
			Name:     e.name,
			Typeflag: typ,
			Mode:     e.mode,
			Uid:      e.uid,
			Gid:      e.gid,
			Linkname: e.link,
			Devmajor: e.major,
			Devminor: e.minor,
			ModTime:  time.Unix(e.mtime, 0),
			Format:   tar.FormatPAX,
		}
		if typ == tar.TypeReg {
			hdr.Size = int64(len(e.body))
		}
		for k, v := range e.xattrs {
			if hdr.PAXRecords == nil {
				hdr.PAXRecords = map[string]string{}
			}
			hdr.PAXRecords["SCHILY.xattr."+k] = v
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatalf("writing header %s: %v", e.name, err)
		}
		if typ == tar.TypeReg {
			if _, err := io.WriteString(tw, e.body); err != nil {
				t.Fatalf("writing %s: %v", e.name, err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatalf("closing tar: %v", err)
	}
	return buf.Bytes()
}

func readers(layers ...[]byte) []io.Reader {
	rs := make([]io.Reader, len(layers))
	for i, l := range layers {
		rs[i] = bytes.NewReader(l)
	}
	return rs
}

// checkGolden compares got with testdata/<name>, rewriting it under -update.
func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	p := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("reading golden (run with -update to create it): %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s mismatch\n--- got\n%s--- want\n%s", p, got, want)
	}
}

func TestFlatten(t *testing.T) {
	cases := []struct {
		name   string
		layers func(t *testing.T) [][]byte
	}{
		{"types", func(t *testing.T) [][]byte {
			return [][]byte{layer(t,
				dir("./", 0o755),
				dir("./bin/", 0o755),
				file("./bin/tool", "#!/bin/sh\necho hi\n", 0o755),
				ent{name: "bin/su", body: "su", mode: 0o4755},
				ent{name: "srv/", typ: tar.TypeDir, mode: 0o2775, uid: 1000, gid: 1001},
				ent{name: "tmp/", typ: tar.TypeDir, mode: 0o1777},
				symlink("bin/sh", "/bin/busybox"),
				symlink("rel", "../../etc/../x"),
				ent{name: "dev/null", typ: tar.TypeChar, mode: 0o666, major: 1, minor: 3},
				ent{name: "dev/sda", typ: tar.TypeBlock, mode: 0o660, major: 8, minor: 0, gid: 6},
				ent{name: "run/fifo", typ: tar.TypeFifo, mode: 0o600},
				ent{name: "bin/ping", body: "ping", mode: 0o755, xattrs: map[string]string{
					"security.capability": "\x01\x00\x00\x02\x00\x20\x00\x00",
					"user.comment":        "x",
				}},
				ent{name: "empty", mode: 0o600, uid: 65534, gid: 65534},
				file("odd name\twith\"quotes", "q", 0o644),
			)}
		}},
		{"whiteout", func(t *testing.T) [][]byte {
			return [][]byte{
				layer(t, dir("a", 0o755), file("a/f", "f", 0o644), file("a/g", "g", 0o644),
					dir("b", 0o755), dir("b/c", 0o755), file("b/c/x", "x", 0o644), file("keep", "k", 0o644)),
				layer(t, file("a/.wh.f", "", 0o644), file(".wh.b", "", 0o644), file(".wh.notthere", "", 0o644)),
			}
		}},
		{"whiteout-same-layer", func(t *testing.T) [][]byte {
			// a whiteout only hides lower layers, even if it comes after the
			// re-added entry in the archive
			return [][]byte{
				layer(t, dir("a", 0o755), file("a/f", "old", 0o644)),
				layer(t, file("a/f", "new", 0o600), file("a/.wh.f", "", 0o644)),
			}
		}},
		{"opaque", func(t *testing.T) [][]byte {
			return [][]byte{
				layer(t, dir("d", 0o755), file("d/old", "o", 0o644), dir("d/sub", 0o755),
					file("d/sub/x", "x", 0o644), file("d2", "sibling with common prefix", 0o644)),
				layer(t, dir("d", 0o700), file("d/.wh..wh..opq", "", 0o644), file("d/new", "n", 0o644),
					file(".wh..wh.plnk", "", 0o644)),
			}
		}},
		{"hardlink", func(t *testing.T) [][]byte {
			return [][]byte{
				layer(t, dir("lower", 0o755), file("lower/orig", "lower content", 0o640)),
				layer(t,
					dir("z", 0o755), ent{name: "z/file", body: "shared", mode: 0o755, uid: 1, gid: 2},
					hardlink("a/link", "z/file"), hardlink("m/link2", "./z/file"),
					hardlink("up", "lower/orig"),
				),
			}
		}},
		{"hardlink-broken-by-replace", func(t *testing.T) [][]byte {
			return [][]byte{
				layer(t, file("x", "same", 0o644), hardlink("y", "x"), hardlink("z", "x")),
				layer(t, file("x", "changed", 0o644)),
			}
		}},
		{"replace", func(t *testing.T) [][]byte {
			return [][]byte{
				layer(t, dir("x", 0o755), dir("x/sub", 0o755), file("x/sub/f", "f", 0o644),
					file("y", "y", 0o644), symlink("s", "x"), file("xy", "xy", 0o644)),
				layer(t, file("x", "now a file", 0o600), dir("y", 0o711), file("y/child", "c", 0o644),
					file("s", "no longer a link", 0o644)),
			}
		}},
		{"dir-over-dir", func(t *testing.T) [][]byte {
			return [][]byte{
				layer(t, dir("d", 0o755), file("d/a", "a", 0o644), dir("d/e", 0o755), file("d/e/b", "b", 0o644)),
				layer(t, ent{name: "d", typ: tar.TypeDir, mode: 0o1770, uid: 7, gid: 8}, file("d/c", "c", 0o644)),
			}
		}},
		{"implicit-parents", func(t *testing.T) [][]byte {
			return [][]byte{layer(t, file("deep/er/file", "d", 0o644))}
		}},
		{"symlinked-parent", func(t *testing.T) [][]byte {
			return [][]byte{
				layer(t, dir("usr", 0o755), dir("usr/bin", 0o755), symlink("bin", "usr/bin"),
					symlink("abs", "/usr"), symlink("escape", "../../../usr")),
				layer(t, file("bin/tool", "t", 0o755), file("abs/share/doc", "d", 0o644),
					file("escape/bin/esc", "e", 0o644), file("bin/.wh.tool2", "", 0o644)),
				layer(t, file("abs/bin/.wh.tool", "", 0o644)),
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			layers := tc.layers(t)
			tree, err := Flatten(readers(layers...))
			if err != nil {
				t.Fatalf("Flatten: %v", err)
			}
			got := tree.Dump()
			if again := tree.Dump(); !bytes.Equal(got, again) {
				t.Errorf("Dump is not deterministic")
			}
			checkGolden(t, filepath.Join("flatten", tc.name+".golden"), got)
		})
	}
}

// TestDumpIgnoresTimestamps checks that only metadata Dump documents matters.
func TestDumpIgnoresTimestamps(t *testing.T) {
	mk := func(mtime int64) []byte {
		return layer(t,
			ent{name: "d", typ: tar.TypeDir, mode: 0o755, mtime: mtime},
			ent{name: "d/f", body: "x", mode: 0o644, mtime: mtime},
		)
	}
	a, err := Flatten(readers(mk(0)))
	if err != nil {
		t.Fatal(err)
	}
	b, err := Flatten(readers(mk(1700000000)))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Dump(), b.Dump()) {
		t.Errorf("dumps differ by mtime:\n%s\n%s", a.Dump(), b.Dump())
	}
	if a.Len() != 2 {
		t.Errorf("Len = %d, want 2", a.Len())
	}
}

// TestDumpDistinguishes checks that every dumped attribute changes the dump.
func TestDumpDistinguishes(t *testing.T) {
	base := ent{name: "f", body: "x", mode: 0o644}
	variants := map[string]ent{
		"mode":    {name: "f", body: "x", mode: 0o4644},
		"uid":     {name: "f", body: "x", mode: 0o644, uid: 1},
		"gid":     {name: "f", body: "x", mode: 0o644, gid: 1},
		"content": {name: "f", body: "y", mode: 0o644},
		"name":    {name: "g", body: "x", mode: 0o644},
		"xattr":   {name: "f", body: "x", mode: 0o644, xattrs: map[string]string{"user.a": "1"}},
		"type":    {name: "f", typ: tar.TypeSymlink, link: "x", mode: 0o644},
	}
	want, err := Flatten(readers(layer(t, base)))
	if err != nil {
		t.Fatal(err)
	}
	for name, v := range variants {
		t.Run(name, func(t *testing.T) {
			got, err := Flatten(readers(layer(t, v)))
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Equal(got.Dump(), want.Dump()) {
				t.Errorf("changing %s does not change the dump: %s", name, got.Dump())
			}
		})
	}
}

func TestFlattenErrors(t *testing.T) {
	cases := []struct {
		name    string
		layers  func(t *testing.T) [][]byte
		invalid bool // the error must match ErrInvalidEntry
	}{
		{"hardlink to missing", func(t *testing.T) [][]byte {
			return [][]byte{layer(t, hardlink("a", "nope"))}
		}, true},
		{"hardlink to dir", func(t *testing.T) [][]byte {
			return [][]byte{layer(t, dir("d", 0o755), hardlink("a", "d"))}
		}, true},
		{"parent is a file", func(t *testing.T) [][]byte {
			return [][]byte{layer(t, file("f", "x", 0o644)), layer(t, file("f/g", "y", 0o644))}
		}, true},
		{"symlink loop", func(t *testing.T) [][]byte {
			return [][]byte{layer(t, symlink("a", "b"), symlink("b", "a"), file("a/x", "x", 0o644))}
		}, true},
		{"truncated tar", func(t *testing.T) [][]byte {
			l := layer(t, file("f", "0123456789", 0o644))
			return [][]byte{l[:512+4]}
		}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Flatten(readers(tc.layers(t)...))
			if err == nil {
				t.Fatal("Flatten succeeded, want an error")
			}
			if tc.invalid && !errors.Is(err, ErrInvalidEntry) {
				t.Errorf("error %v does not match ErrInvalidEntry", err)
			}
		})
	}
}

func TestConfigDump(t *testing.T) {
	cases := []struct {
		name string
		cfg  v1.Config
	}{
		{"empty", v1.Config{}},
		{"empty-slices-are-null", v1.Config{Cmd: []string{}, Env: []string{}, Labels: map[string]string{}}},
		{"full", v1.Config{
			Env:          []string{"PATH=/usr/bin:/bin", "A=b c"},
			Cmd:          []string{"sh", "-c", "a && b > c"},
			Entrypoint:   []string{"/entry"},
			WorkingDir:   "/work",
			User:         "nobody:nogroup",
			ExposedPorts: map[string]struct{}{"80/tcp": {}, "53/udp": {}},
			Volumes:      map[string]struct{}{"/data": {}},
			Labels:       map[string]string{"z": "1", "a": "<2>"},
			StopSignal:   "SIGTERM",
			Healthcheck: &v1.HealthConfig{
				Test:     []string{"CMD-SHELL", "true"},
				Interval: 30 * time.Second, Timeout: time.Second, StartPeriod: 5 * time.Second, Retries: 3,
			},
			Shell:       []string{"/bin/sh", "-c"},
			OnBuild:     []string{"RUN echo hi"},
			ArgsEscaped: true,
			Hostname:    "ignored",
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			checkGolden(t, filepath.Join("config", tc.name+".golden"), ConfigDump(tc.cfg))
		})
	}
}
