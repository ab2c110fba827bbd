// Package testutil holds fixtures shared by hoist's tests.
package testutil

import (
	"archive/tar"
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"sort"
	"strings"
	"time"
)

// busyboxFile is one regular file of the busybox rootfs besides the binary.
type busyboxFile struct {
	mode    int64
	content string
}

// busyboxDirs and busyboxFiles return the fixed part of the refenv busybox
// image (shared/refenv/setup.sh, build_busybox_tar). Keep them in sync with
// that recipe: the goldens under builder/testdata/corpus were recorded on top
// of it.
func busyboxDirs() map[string]int64 {
	return map[string]int64{
		"bin": 0o755, "sbin": 0o755, "usr": 0o755, "usr/bin": 0o755, "usr/sbin": 0o755,
		"etc": 0o755, "root": 0o700, "tmp": 0o1777, "home": 0o755, "var": 0o755,
		"var/tmp": 0o1777, "proc": 0o755, "sys": 0o755, "dev": 0o755,
	}
}

func busyboxFiles() map[string]busyboxFile {
	return map[string]busyboxFile{
		"etc/passwd": {0o644, "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n"},
		"etc/group":  {0o644, "root:x:0:\nnobody:x:65534:\n"},
		"etc/shadow": {0o640, "root:*::0:::::\nnobody:*::0:::::\n"},
		"etc/hosts":  {0o644, ""}, "etc/resolv.conf": {0o644, ""}, "etc/hostname": {0o644, ""},
	}
}

// WriteBusyboxRootfs writes to w an uncompressed tar of the root filesystem
// of refenv's busybox:latest image: the standard directories (tmp and
// var/tmp 1777, root 0700, the rest 0755), busyboxPath copied to
// bin/busybox (0755), one symlink to /bin/busybox for every applet printed by
// `busyboxPath --list-full`, and the fixed etc/passwd, group, shadow (0640)
// and empty hosts, resolv.conf and hostname. Every entry is owned by 0:0 and
// has mtime 0; entries are sorted by name, so the output is a pure function
// of the busybox binary.
//
// It runs busyboxPath once. Nothing is written to w if reading the binary or
// listing the applets fails; a write error may leave a partial tar in w.
func WriteBusyboxRootfs(w io.Writer, busyboxPath string) error {
	bin, err := os.ReadFile(busyboxPath)
	if err != nil {
		return fmt.Errorf("reading busybox binary: %w", err)
	}
	out, err := exec.Command(busyboxPath, "--list-full").Output()
	if err != nil {
		return fmt.Errorf("listing busybox applets: %w", err)
	}
	dirs := busyboxDirs()
	links := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		p := strings.TrimSpace(sc.Text())
		if p == "" || p == "bin/busybox" {
			continue
		}
		links[p] = true
		for d := path.Dir(p); d != "."; d = path.Dir(d) {
			if _, ok := dirs[d]; !ok {
				dirs[d] = 0o755 // mkdir -p under umask 022
			}
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("reading applet list: %w", err)
	}

	hdrs := []*tar.Header{{Name: "./", Typeflag: tar.TypeDir, Mode: 0o755}}
	for d, m := range dirs {
		hdrs = append(hdrs, &tar.Header{Name: "./" + d + "/", Typeflag: tar.TypeDir, Mode: m})
	}
	for l := range links {
		hdrs = append(hdrs, &tar.Header{Name: "./" + l, Typeflag: tar.TypeSymlink, Linkname: "/bin/busybox", Mode: 0o777})
	}
	content := map[string][]byte{"./bin/busybox": bin}
	hdrs = append(hdrs, &tar.Header{Name: "./bin/busybox", Typeflag: tar.TypeReg, Mode: 0o755, Size: int64(len(bin))})
	for name, f := range busyboxFiles() {
		n := "./" + name
		content[n] = []byte(f.content)
		hdrs = append(hdrs, &tar.Header{Name: n, Typeflag: tar.TypeReg, Mode: f.mode, Size: int64(len(f.content))})
	}
	sort.Slice(hdrs, func(i, j int) bool { return hdrs[i].Name < hdrs[j].Name })

	tw := tar.NewWriter(w)
	for _, h := range hdrs {
		h.ModTime = time.Unix(0, 0)
		h.Format = tar.FormatGNU
		if err := tw.WriteHeader(h); err != nil {
			return fmt.Errorf("writing %s: %w", h.Name, err)
		}
		if c, ok := content[h.Name]; ok {
			if _, err := tw.Write(c); err != nil {
				return fmt.Errorf("writing %s: %w", h.Name, err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("closing tar: %w", err)
	}
	return nil
}
