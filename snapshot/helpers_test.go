//go:build linux

package snapshot

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/sys/unix"

	"github.com/hoistbuild/hoist/internal/testutil/prereq"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

// oldTime is the mtime of every entry of test tars unless set.
var oldTime = time.Date(1990, 1, 2, 3, 4, 5, 0, time.UTC)

// tent is one entry of a test tar.
type tent struct {
	name   string
	typ    byte
	mode   int64
	uid    int
	gid    int
	body   string
	link   string
	xattrs map[string]string
	mtime  time.Time
	major  int64
	minor  int64
}

func dir(name string) tent        { return tent{name: name, typ: tar.TypeDir, mode: 0o755} }
func file(name, body string) tent { return tent{name: name, typ: tar.TypeReg, mode: 0o644, body: body} }
func symlink(name, target string) tent {
	return tent{name: name, typ: tar.TypeSymlink, mode: 0o777, link: target}
}
func hardlink(name, target string) tent {
	return tent{name: name, typ: tar.TypeLink, mode: 0o644, link: target}
}

// marker is a whiteout or opaque marker in canonical (WriteDiff) form.
func marker(name string) tent { return tent{name: name, typ: tar.TypeReg, mtime: time.Unix(0, 0)} }

func makeTar(t testing.TB, ents ...tent) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range ents {
		mt := e.mtime
		if mt.IsZero() {
			mt = oldTime
		}
		hdr := &tar.Header{
			Name: e.name, Typeflag: e.typ, Mode: e.mode, Uid: e.uid, Gid: e.gid,
			Linkname: e.link, ModTime: mt, Devmajor: e.major, Devminor: e.minor,
			Format: tar.FormatPAX,
		}
		if e.typ == tar.TypeReg {
			hdr.Size = int64(len(e.body))
		}
		if e.typ == tar.TypeXGlobalHeader {
			hdr = &tar.Header{Typeflag: e.typ, Name: e.name, PAXRecords: map[string]string{"comment": "git"}}
		}
		for k, v := range e.xattrs {
			if hdr.PAXRecords == nil {
				hdr.PAXRecords = map[string]string{}
			}
			hdr.PAXRecords["SCHILY.xattr."+k] = v
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatalf("writing %s: %v", e.name, err)
		}
		if _, err := io.WriteString(tw, e.body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// memLayer is an uncompressed in-memory v1.Layer with a settable DiffID.
type memLayer struct {
	data   []byte
	diffID v1.Hash
}

var _ v1.Layer = (*memLayer)(nil)

func newLayer(data []byte) *memLayer {
	sum := sha256.Sum256(data)
	return &memLayer{data: data, diffID: v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(sum[:])}}
}

func (l *memLayer) Digest() (v1.Hash, error) { return l.diffID, nil }
func (l *memLayer) DiffID() (v1.Hash, error) { return l.diffID, nil }
func (l *memLayer) Compressed() (io.ReadCloser, error) {
	return io.NopCloser(bytes.NewReader(l.data)), nil
}
func (l *memLayer) Uncompressed() (io.ReadCloser, error) {
	return io.NopCloser(bytes.NewReader(l.data)), nil
}
func (l *memLayer) Size() (int64, error)                { return int64(len(l.data)), nil }
func (l *memLayer) MediaType() (types.MediaType, error) { return types.OCIUncompressedLayer, nil }

// tarEntries renders every entry of a tar as one line, failing the test on
// headers that break the canonical form WriteDiff promises.
func tarEntries(t testing.TB, data []byte) []string {
	t.Helper()
	tr := tar.NewReader(bytes.NewReader(data))
	var out []string
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("reading tar: %v", err)
		}
		if hdr.Uname != "" || hdr.Gname != "" || !hdr.AccessTime.IsZero() || !hdr.ChangeTime.IsZero() {
			t.Errorf("%s: uname/gname/atime/ctime set: %+v", hdr.Name, hdr)
		}
		if hdr.Format&(tar.FormatPAX|tar.FormatUSTAR) == 0 {
			t.Errorf("%s: format %v, want PAX or USTAR", hdr.Name, hdr.Format)
		}
		body, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, entryLine(hdr, body))
	}
}

func entryLine(hdr *tar.Header, body []byte) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s mode=%04o uid=%d gid=%d mtime=%d", typeName(hdr.Typeflag), hdr.Name,
		hdr.Mode, hdr.Uid, hdr.Gid, hdr.ModTime.Unix())
	switch hdr.Typeflag {
	case tar.TypeReg:
		fmt.Fprintf(&b, " size=%d", hdr.Size)
		if len(body) > 0 {
			sum := sha256.Sum256(body)
			fmt.Fprintf(&b, " sha=%x", sum[:4])
		}
	case tar.TypeLink, tar.TypeSymlink:
		fmt.Fprintf(&b, " link=%s", hdr.Linkname)
	case tar.TypeChar, tar.TypeBlock:
		fmt.Fprintf(&b, " dev=%d:%d", hdr.Devmajor, hdr.Devminor)
	}
	var keys []string
	for k := range hdr.PAXRecords {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if x, ok := strings.CutPrefix(k, "SCHILY.xattr."); ok {
			fmt.Fprintf(&b, " xattr:%s=%x", x, hdr.PAXRecords[k])
		}
	}
	return b.String()
}

func typeName(t byte) string {
	switch t {
	case tar.TypeReg:
		return "file"
	case tar.TypeDir:
		return "dir"
	case tar.TypeSymlink:
		return "symlink"
	case tar.TypeLink:
		return "hardlink"
	case tar.TypeChar:
		return "char"
	case tar.TypeBlock:
		return "block"
	case tar.TypeFifo:
		return "fifo"
	}
	return fmt.Sprintf("type%q", t)
}

// checkGolden compares lines with testdata/name, rewriting it with -update.
func checkGolden(t *testing.T, name string, lines []string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	got := strings.Join(lines, "\n") + "\n"
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading golden (run with -update to create): %v", err)
	}
	if got != string(want) {
		t.Errorf("%s mismatch:\n%s", path, lineDiff(strings.Split(string(want), "\n"), strings.Split(got, "\n")))
	}
}

func lineDiff(want, got []string) string {
	var b strings.Builder
	w := map[string]bool{}
	for _, l := range want {
		w[l] = true
	}
	g := map[string]bool{}
	for _, l := range got {
		g[l] = true
	}
	for _, l := range want {
		if !g[l] {
			fmt.Fprintf(&b, "- %s\n", l)
		}
	}
	for _, l := range got {
		if !w[l] {
			fmt.Fprintf(&b, "+ %s\n", l)
		}
	}
	if b.Len() == 0 {
		return "(same lines, different order)\nwant:\n" + strings.Join(want, "\n") + "\ngot:\n" + strings.Join(got, "\n")
	}
	return b.String()
}

// treeListing describes every path below root (not root itself), one line
// each, in walk order: type, mode, owner, size, content hash, link target,
// device and kept xattrs; with mtimes when withTimes is set.
func treeListing(t testing.TB, root string, withTimes bool) []string {
	t.Helper()
	var out []string
	var walk func(rel string)
	walk = func(rel string) {
		names, err := readDirNames(filepath.Join(root, rel))
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range names {
			r := joinRel(rel, n)
			p := filepath.Join(root, r)
			st, err := lstat(p)
			if err != nil {
				t.Fatal(err)
			}
			line := fmt.Sprintf("%s type=%o mode=%04o uid=%d gid=%d", r, fileType(&st)>>12, st.Mode&0o7777, st.Uid, st.Gid)
			if withTimes {
				line += fmt.Sprintf(" mtime=%d", st.Mtim.Sec)
			}
			switch fileType(&st) {
			case unix.S_IFREG:
				data, err := os.ReadFile(p)
				if err != nil {
					t.Fatal(err)
				}
				sum := sha256.Sum256(data)
				line += fmt.Sprintf(" size=%d sha=%x nlink=%d", st.Size, sum[:4], st.Nlink)
			case unix.S_IFLNK:
				l, _ := os.Readlink(p)
				line += " link=" + l
			case unix.S_IFCHR, unix.S_IFBLK:
				line += fmt.Sprintf(" dev=%d:%d", unix.Major(st.Rdev), unix.Minor(st.Rdev))
			}
			x, err := readXattrs(p)
			if err != nil {
				t.Fatal(err)
			}
			kept := filterXattrs(x)
			var keys []string
			for k := range kept {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				line += fmt.Sprintf(" %s=%x", k, kept[k])
			}
			if op, _ := isOpaque(p); op {
				line += " opaque"
			}
			out = append(out, line)
			if isDir(&st) {
				walk(r)
			}
		}
	}
	walk("")
	return out
}

func requireRoot(t testing.TB) {
	t.Helper()
	prereq.Require(t, prereq.Root) // mknod, chown, trusted xattrs, mounts
}

func requireOverlay(t testing.TB) {
	t.Helper()
	requireRoot(t)
	if !OverlaySupported(t.TempDir()) {
		prereq.Skip(t, "overlayfs not usable here (modprobe overlay)")
	}
}

func mustWrite(t testing.TB, path, body string, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), mode); err != nil {
		t.Fatal(err)
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func checkGoldenString(t *testing.T, name, got string) {
	t.Helper()
	checkGolden(t, name, []string{got})
}
