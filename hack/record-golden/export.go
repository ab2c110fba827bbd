package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"

	"github.com/hoistbuild/hoist/internal/fsdump"
)

// isInitPath reports whether a dump line is about a path dockerd creates or
// replaces when it creates a container (the "init layer" and mount points):
// docker export shows them but they are not part of the image.
func isInitPath(line string) bool {
	p, _, _ := strings.Cut(line, " ")
	for _, ip := range []string{"/.dockerenv", "/dev", "/proc", "/sys", "/etc/hosts", "/etc/hostname", "/etc/resolv.conf", "/etc/mtab"} {
		if p == ip || strings.HasPrefix(p, ip+"/") {
			return true
		}
	}
	return false
}

// withoutInitPaths drops the dump lines for which isInitPath is true.
func withoutInitPaths(dump []byte) []byte {
	var b bytes.Buffer
	for _, l := range strings.SplitAfter(string(dump), "\n") {
		if l != "" && !isInitPath(l) {
			b.WriteString(l)
		}
	}
	return b.Bytes()
}

// checkExport cross-checks the oracle: it flattens `docker export` of a
// container created from ref (dockerd's own flattening of the layers) and
// compares it with the recorded rootfs dump, ignoring the container's init
// paths. A difference means fsdump.Flatten disagrees with dockerd.
func checkExport(ctx context.Context, dockerCLI, ref string, rootfs []byte) error {
	out, err := docker(ctx, dockerCLI, "create", "--network", "none", ref, "/nonexistent")
	if err != nil {
		return fmt.Errorf("docker create: %w\n%s", err, out)
	}
	id := strings.TrimSpace(string(out))
	defer docker(context.WithoutCancel(ctx), dockerCLI, "rm", "-f", id) //nolint:errcheck // best effort

	cmd := exec.CommandContext(ctx, dockerCLI, "export", id)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return fmt.Errorf("docker export: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("docker export: %w", err)
	}
	tree, ferr := fsdump.Flatten([]io.Reader{stdout})
	if _, err := io.Copy(io.Discard, stdout); err != nil && ferr == nil {
		ferr = err
	}
	if err := cmd.Wait(); err != nil {
		return fmt.Errorf("docker export: %w", err)
	}
	if ferr != nil {
		return fmt.Errorf("flattening docker export: %w", ferr)
	}
	want := withoutInitPaths(rootfs)
	got := withoutInitPaths(tree.Dump())
	if !bytes.HasPrefix(want, []byte("/etc ")) && !bytes.Contains(want, []byte("\n/etc ")) {
		// dockerd creates /etc for /etc/hosts etc. when the image has none
		got = bytes.Replace(got, []byte("/etc d 0755 0:0 0 - -\n"), nil, 1)
	}
	if !bytes.Equal(got, want) {
		return fmt.Errorf("docker export disagrees with the layer dump:\n%s", lineDiff(string(want), string(got)))
	}
	return nil
}

// lineDiff lists lines only in a (-) or only in b (+).
func lineDiff(a, b string) string {
	set := func(s string) map[string]bool {
		m := map[string]bool{}
		for _, l := range strings.Split(s, "\n") {
			m[l] = true
		}
		return m
	}
	as, bs := set(a), set(b)
	var out strings.Builder
	for _, l := range strings.Split(a, "\n") {
		if !bs[l] {
			out.WriteString("- " + l + "\n")
		}
	}
	for _, l := range strings.Split(b, "\n") {
		if !as[l] {
			out.WriteString("+ " + l + "\n")
		}
	}
	return out.String()
}
