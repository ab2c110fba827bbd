//go:build linux

package snapshot

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/opencontainers/umoci/oci/layer"
)

// fuzzEscape is an absolute path on the host that a fuzzed tar names ("@A"); it must never appear.
const fuzzEscape = "/hoist-fuzz-escape"

// fuzzTar turns a script into a tar: one entry per line, "TYPE NAME [TARGET]", TYPE one of
// f (file), d (dir), l (symlink), h (hardlink), c/b (char/block device), p (fifo), w (whiteout of
// NAME's base); "@O" stands for the sandbox's outside directory and "@A" for fuzzEscape.
func fuzzTar(t *testing.T, script, outside string) []byte {
	var ents []tent
	lines := strings.Split(script, "\n")
	if len(lines) > 24 {
		lines = lines[:24]
	}
	for _, l := range lines {
		l = strings.NewReplacer("@O", outside, "@A", fuzzEscape).Replace(l)
		f := strings.Fields(l)
		if len(f) < 2 || len(f[1]) > 200 {
			continue
		}
		target := ""
		if len(f) > 2 {
			target = f[2]
		}
		switch f[0] {
		case "f":
			ents = append(ents, file(f[1], "pwned"))
		case "d":
			ents = append(ents, dir(f[1]))
		case "l":
			ents = append(ents, symlink(f[1], target))
		case "h":
			ents = append(ents, hardlink(f[1], target))
		case "c", "b":
			typ := byte(tar.TypeChar)
			if f[0] == "b" {
				typ = tar.TypeBlock
			}
			ents = append(ents, tent{name: f[1], typ: typ, mode: 0o666, major: 1, minor: 3})
		case "p":
			ents = append(ents, tent{name: f[1], typ: tar.TypeFifo, mode: 0o644})
		case "w":
			d, b := filepath.Split(f[1])
			ents = append(ents, marker(d+".wh."+b))
		}
	}
	// Entries archive/tar refuses to encode (a NUL in a name, ...) cannot come from a real tar either.
	ents = slices.DeleteFunc(ents, func(e tent) bool {
		tw := tar.NewWriter(io.Discard)
		hdr := &tar.Header{Name: e.name, Typeflag: e.typ, Mode: e.mode, Linkname: e.link, Format: tar.FormatPAX,
			Devmajor: e.major, Devminor: e.minor, Size: int64(len(e.body))}
		return tw.WriteHeader(hdr) != nil
	})
	return makeTar(t, ents...)
}

// FuzzExtract: whatever a tar holds (".." names, absolute names, a symlink then a file through it,
// hardlinks out, devices, whiteouts), extracting it, as ADD does (ApplyTar) or as a layer is
// unpacked (overlay format with whiteouts), writes nothing outside the destination directory.
func FuzzExtract(f *testing.F) {
	requireRoot(f)
	for _, s := range []string{
		"f ../escape\nf ../../outside/new\nf a/../../../escape",
		"f @A\nf @O/secret\nd @O/\nf @O/new",
		"l abs @O\nf abs/secret\nf abs/new\nl rel ../../../../../../..@O\nf rel/secret",
		"l dotdot ..\nf dotdot/escape\nl f @O/secret\nf f",
		"d d/\nl d/up ..\nl l1 d/up/d/up/d/up/..\nf l1/escape\nd l1/sub/\nf l1/sub/escape",
		"h hl1 @O/secret\nh hl2 ../../outside/secret\nf hl1\nf hl2",
		"l s @O\nh hl s/secret\nf hl",
		"c null\nb blk\np fifo\nl dev @O\nc dev/null",
		"l s @O\nw s/secret\nl u ..\nw u/outside\nw ../outside",
		"w ..\nd a/\nw a/.",
	} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, script string, asLayer bool) {
		base, outside, root := sandbox(t)
		before := outsideListing(t, base, root)
		data := fuzzTar(t, script, outside)
		var err error
		if asLayer {
			err = extract(context.Background(), bytes.NewReader(data), root, layer.OverlayfsRootfs{}, true)
		} else {
			err = ApplyTar(context.Background(), bytes.NewReader(data), root)
		}
		if after := outsideListing(t, base, root); !slices.Equal(before, after) {
			t.Fatalf("files outside the root changed (err %v):\n%s", err, lineDiff(before, after))
		}
		if _, err := os.Lstat(fuzzEscape); err == nil {
			os.RemoveAll(fuzzEscape)
			t.Fatalf("%s was created on the host", fuzzEscape)
		}
		if got, rerr := os.ReadFile(filepath.Join(outside, "secret")); rerr != nil || string(got) != "s3cret" {
			t.Fatalf("outside/secret = %q, %v", got, rerr)
		}
	})
}
