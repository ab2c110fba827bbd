package binfmt

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// The entries below are what Debian bookworm's qemu-user-static registers (read from
// /proc/sys/fs/binfmt_misc on a machine with it installed).
const aarch64Entry = `enabled
interpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P
flags: PF
offset 0
magic 7f454c460201010000000000000000000200b700
mask ffffffffffffff00fffffffffffffffffeffffff
`

const s390xEntry = `enabled
interpreter /usr/libexec/qemu-binfmt/s390x-binfmt-P
flags: PF
offset 0
magic 7f454c4602020100000000000000000000020016
mask ffffffffffffff00fffffffffffffffffffeffff
`

func fakeMount(t *testing.T, status string, entries map[string]string) Checker {
	t.Helper()
	dir := t.TempDir()
	if status != "" {
		if err := os.WriteFile(filepath.Join(dir, "status"), []byte(status+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for n, e := range entries {
		if err := os.WriteFile(filepath.Join(dir, n), []byte(e), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return Checker{Dir: dir, Arch: "amd64"}
}

func linux(arch string) v1.Platform { return v1.Platform{OS: "linux", Architecture: arch} }

func TestCheck(t *testing.T) {
	c := fakeMount(t, "enabled", map[string]string{"qemu-aarch64": aarch64Entry, "qemu-s390x": s390xEntry,
		"register": "", "python3.11": "enabled\ninterpreter /usr/bin/python3.11\nflags: \noffset 0\nmagic a70d0d0a\n"})
	for _, tc := range []struct {
		arch string
		want Support
	}{
		{"amd64", Native}, {"386", Native}, {"arm64", Emulated}, {"s390x", Emulated},
		{"riscv64", Unsupported}, {"ppc64le", Unsupported}, {"arm", Unsupported},
	} {
		got, h, err := c.Check(linux(tc.arch))
		if err != nil || got != tc.want {
			t.Errorf("Check(%s) = %v, %v; want %v", tc.arch, got, err, tc.want)
		}
		if got == Emulated && (h == nil || !strings.HasPrefix(h.Name, "qemu-")) {
			t.Errorf("Check(%s): handler %+v", tc.arch, h)
		}
	}
	ps, err := c.Platforms()
	if err != nil || strings.Join(ps, " ") != "linux/386 linux/amd64 linux/arm64 linux/s390x" {
		t.Errorf("Platforms() = %v, %v", ps, err)
	}
}

func TestRequireErrors(t *testing.T) {
	for name, c := range map[string]Checker{
		"not mounted": {Dir: filepath.Join(t.TempDir(), "none"), Arch: "amd64"},
		"disabled":    fakeMount(t, "disabled", map[string]string{"qemu-aarch64": aarch64Entry}),
		"entry off":   fakeMount(t, "enabled", map[string]string{"qemu-aarch64": strings.Replace(aarch64Entry, "enabled", "disabled", 1)}),
	} {
		err := c.Require(linux("arm64"))
		var me *MissingError
		if !errors.As(err, &me) || !strings.Contains(err.Error(), "linux/arm64") || !strings.Contains(err.Error(), Package) {
			t.Errorf("%s: Require(arm64) = %v", name, err)
		}
	}
	noF := fakeMount(t, "enabled", map[string]string{"qemu-aarch64": strings.Replace(aarch64Entry, "flags: PF", "flags: P", 1)})
	err := noF.Require(linux("arm64"))
	if err == nil || !strings.Contains(err.Error(), "without the F (fix binary) flag") || !strings.Contains(err.Error(), "qemu-aarch64") {
		t.Errorf("handler without F: %v", err)
	}
	if err := noF.Require(linux("amd64")); err != nil {
		t.Errorf("native: %v", err)
	}
}

// TestHostRegistrations checks the real mount when it has an aarch64 handler: the machine the
// multi-platform tests run on (hack/deps.sh registers qemu-user-static).
func TestHostRegistrations(t *testing.T) {
	hs, err := Checker{}.Handlers()
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range hs {
		if h.Name == "qemu-aarch64" && h.FixBinary() {
			if s, _, err := (Checker{Arch: "amd64"}).Check(linux("arm64")); s != Emulated || err != nil {
				t.Fatalf("qemu-aarch64 is registered but Check(arm64) = %v, %v", s, err)
			}
			return
		}
	}
	t.Logf("no qemu-aarch64 handler registered here: only the fake mounts were checked")
}

// TestHandlerPlatform: each handler is mapped to the architecture of the ELF executables it matches
// (big-endian arm, which hoist does not build for, and non-ELF handlers to none); Platforms leaves out
// handlers without the F flag and disabled ones. (These cases come from the former
// internal/platforms package, which `hoist info` used before it used this one.)
func TestHandlerPlatform(t *testing.T) {
	entries := map[string]string{
		"qemu-aarch64": aarch64Entry,
		"qemu-arm": "enabled\ninterpreter /usr/bin/qemu-arm-static\nflags: F\noffset 0\n" +
			"magic 7f454c4601010100000000000000000002002800\nmask ffffffffffffff00fffffffffffffffffeffffff\n",
		"qemu-armeb": "enabled\ninterpreter /usr/libexec/qemu-binfmt/armeb-binfmt-P\nflags: PF\noffset 0\n" +
			"magic 7f454c4601020100000000000000000000020028\nmask ffffffffffffff00fffffffffffffffffffeffff\n",
		"qemu-s390x": s390xEntry,
		"qemu-riscv64": "disabled\ninterpreter /usr/bin/qemu-riscv64-static\nflags: F\noffset 0\n" +
			"magic 7f454c460201010000000000000000000200f300\nmask ffffffffffffff00fffffffffffffffffeffffff\n",
		"qemu-ppc64le": "enabled\ninterpreter /usr/bin/qemu-ppc64le\nflags: OC\noffset 0\n" +
			"magic 7f454c4602010100000000000000000002001500\nmask ffffffffffffff00fffffffffffffffffeffff00\n",
		"python3.11": "enabled\ninterpreter /usr/bin/python3.11\nflags: \noffset 0\nmagic a70d0d0a\n",
	}
	c := fakeMount(t, "enabled", entries)
	hs, err := c.Handlers()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, h := range hs {
		p, ok := h.Platform()
		got[h.Name] = "-"
		if ok {
			got[h.Name] = p.OS + "/" + p.Architecture
		}
	}
	want := map[string]string{"qemu-aarch64": "linux/arm64", "qemu-arm": "linux/arm", "qemu-armeb": "-",
		"qemu-s390x": "linux/s390x", "qemu-ppc64le": "linux/ppc64le", "python3.11": "-"}
	if len(got) != len(want) {
		t.Errorf("handlers %v, want %v (the disabled riscv64 left out)", got, want)
	}
	for n, w := range want {
		if got[n] != w {
			t.Errorf("%s: platform %q, want %q", n, got[n], w)
		}
	}
	ps, err := c.Platforms()
	if err != nil || strings.Join(ps, " ") != "linux/386 linux/amd64 linux/arm linux/arm64 linux/s390x" {
		t.Errorf("Platforms() = %v, %v; want no ppc64le (no F flag) and no riscv64 (disabled)", ps, err)
	}
}
