package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// volumeNames lists `volume ls` (names only).
func volumeNames(t *testing.T, root string) []string {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(hoist(t, root, "", "volume", "ls").stdout), "\n")
	var names []string
	for _, l := range lines[1:] { // header
		if f := strings.Fields(l); len(f) == 2 {
			names = append(names, f[1])
		}
	}
	return names
}

// An image's VOLUMEs become anonymous volumes, as with docker: filled from the image, kept by rm,
// removed by rm -v and --rm; a -v on the same path replaces one (and a new named volume is filled
// from the image too).
func TestImageVolumes(t *testing.T) {
	root := containerRoot(t)
	ctxDir := writeContext(t, map[string]string{"Dockerfile": "FROM busybox\n" +
		"RUN mkdir -p /data/sub && echo from-image > /data/sub/f && chown -R 1000:1000 /data\n" +
		"VOLUME /data /empty\n"})
	if res := hoist(t, root, "", "build", "-q", "-t", "vol:1", ctxDir); res.code != 0 {
		t.Fatalf("build: %+v", res)
	}
	res := hoist(t, root, "", "run", "--name", "v1", "--network", "none", "vol:1", "sh", "-c",
		`cat /data/sub/f; stat -c %u /data/sub; echo new > /data/new; grep -cE " /(data|empty) " /proc/mounts`)
	if res.code != 0 || res.stdout != "from-image\n1000\n2\n" {
		t.Fatalf("run with image volumes: %+v", res)
	}
	mounts := hoist(t, root, "", "inspect", "--format", `{{range .Mounts}}{{.Type}} {{.Destination}} {{.Name}} {{.RW}}{{"\n"}}{{end}}`, "v1").stdout
	vols := volumeNames(t, root)
	if len(vols) != 2 {
		t.Fatalf("volume ls after one run: %q, want 2 anonymous volumes", vols)
	}
	for _, dst := range []string{"/data", "/empty"} {
		if !strings.Contains(mounts, "volume "+dst+" ") {
			t.Errorf("inspect Mounts %q has no volume at %s", mounts, dst)
		}
	}
	// What the container wrote is in the volume, not in its layer.
	var dataVol string
	for _, l := range strings.Split(mounts, "\n") {
		if f := strings.Fields(l); len(f) == 4 && f[1] == "/data" {
			dataVol = f[2]
		}
	}
	if b, err := os.ReadFile(filepath.Join(root, "volumes", dataVol, "_data", "new")); err != nil || string(b) != "new\n" {
		t.Errorf("volume %s/_data/new: %q, %v", dataVol, b, err)
	}
	if inLayer, _ := filepath.Glob(filepath.Join(root, "containers", "*", "upper", "data", "new")); len(inLayer) != 0 {
		t.Errorf("the write to the volume reached the container's layer: %q", inLayer)
	}
	// Starting again keeps the volume's content (it is not copied over again).
	if res := hoist(t, root, "", "start", "-a", "v1"); res.code != 0 || !strings.HasPrefix(res.stdout, "from-image\n") {
		t.Errorf("second start: %+v", res)
	}
	if vols := volumeNames(t, root); len(vols) != 2 {
		t.Errorf("volume ls after the second start: %q", vols)
	}
	// --rm removes the anonymous volumes it made; -v on /data replaces that one with a named
	// volume, which the image fills.
	res = hoist(t, root, "", "run", "--rm", "--network", "none", "-v", "named:/data", "vol:1", "sh", "-c", "cat /data/sub/f")
	if res.code != 0 || res.stdout != "from-image\n" {
		t.Errorf("run -v named:/data: %+v", res)
	}
	if vols := volumeNames(t, root); len(vols) != 3 || !strings.Contains(strings.Join(vols, " "), "named") {
		t.Errorf("volume ls after --rm: %q, want v1's two and named", vols)
	}
	// rm keeps the anonymous volumes, rm -v removes them.
	hoist(t, root, "", "create", "--name", "v2", "--network", "none", "vol:1")
	if vols := volumeNames(t, root); len(vols) != 5 {
		t.Errorf("volume ls after create: %q, want 5", vols)
	}
	if res := hoist(t, root, "", "rm", "-v", "v1"); res.code != 0 {
		t.Fatalf("rm -v: %+v", res)
	}
	if res := hoist(t, root, "", "rm", "v2"); res.code != 0 {
		t.Fatalf("rm: %+v", res)
	}
	vols = volumeNames(t, root)
	if len(vols) != 3 || strings.Contains(strings.Join(vols, " "), dataVol) {
		t.Errorf("volume ls after rm -v v1 and rm v2: %q, want named and v2's two", vols)
	}
}
