package platforms

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// Entries as the kernel shows them for Debian's qemu-user-static (binfmt-support) and
// tonistiigi/binfmt registrations.
var entries = map[string]string{
	"qemu-aarch64": "enabled\ninterpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P\nflags: POCF\noffset 0\n" +
		"magic 7f454c460201010000000000000000000200b700\nmask ffffffffffffff00fffffffffffffffffeffffff\n",
	"qemu-arm": "enabled\ninterpreter /usr/bin/qemu-arm-static\nflags: F\noffset 0\n" +
		"magic 7f454c4601010100000000000000000002002800\nmask ffffffffffffff00fffffffffffffffffeffffff\n",
	"qemu-armeb": "enabled\ninterpreter /usr/libexec/qemu-binfmt/armeb-binfmt-P\nflags: PF\noffset 0\n" +
		"magic 7f454c4601020100000000000000000000020028\nmask ffffffffffffff00fffffffffffffffffffeffff\n",
	"qemu-s390x": "enabled\ninterpreter /usr/bin/qemu-s390x-static\nflags: F\noffset 0\n" +
		"magic 7f454c4602020100000000000000000000020016\nmask ffffffffffffff00fffffffffffffffffffeffff\n",
	"qemu-riscv64": "disabled\ninterpreter /usr/bin/qemu-riscv64-static\nflags: F\noffset 0\n" +
		"magic 7f454c460201010000000000000000000200f300\nmask ffffffffffffff00fffffffffffffffffeffffff\n",
	"qemu-ppc64le": "enabled\ninterpreter /usr/bin/qemu-ppc64le\nflags: OC\noffset 0\n" +
		"magic 7f454c4602010100000000000000000002001500\nmask ffffffffffffff00fffffffffffffffffeffff00\n",
	"python3.11": "enabled\ninterpreter /usr/bin/python3.11\nflags: \noffset 0\nmagic a70d0d0a\n",
}

func binfmtDir(t *testing.T, status string) string {
	dir := t.TempDir()
	for name, text := range entries {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"register", "status"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte(status+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestEmulators(t *testing.T) {
	dir := binfmtDir(t, "enabled")
	ems, err := Emulators(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range ems {
		got = append(got, e.Name+"="+e.Platform.String()+" F="+map[bool]string{true: "y", false: "n"}[e.FixBinary()])
	}
	want := []string{"qemu-aarch64=linux/arm64 F=y", "qemu-arm=linux/arm/v7 F=y", "qemu-ppc64le=linux/ppc64le F=n",
		"qemu-s390x=linux/s390x F=y"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Emulators = %q, want %q (disabled and non-ELF entries left out)", got, want)
	}
	run, err := Runnable(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range run {
		names = append(names, p.String())
	}
	wantRun := []string{Native().String()}
	for _, p := range []string{"linux/arm64", "linux/arm/v7", "linux/s390x"} {
		if p != Native().String() {
			wantRun = append(wantRun, p)
		}
	}
	if !reflect.DeepEqual(names, wantRun) {
		t.Errorf("Runnable = %q, want %q (ppc64le has no F flag)", names, wantRun)
	}
}

func TestEmulatorsDisabledOrMissing(t *testing.T) {
	for name, dir := range map[string]string{"disabled": binfmtDir(t, "disabled"), "missing": filepath.Join(t.TempDir(), "none")} {
		ems, err := Emulators(dir)
		if err != nil || len(ems) != 0 {
			t.Errorf("%s binfmt_misc: Emulators = %v, %v; want none", name, ems, err)
		}
		run, err := Runnable(dir)
		if err != nil || len(run) != 1 || run[0] != Native() {
			t.Errorf("%s binfmt_misc: Runnable = %v, %v; want the native platform only", name, run, err)
		}
	}
}
