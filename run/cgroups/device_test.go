package cgroups

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/hoistbuild/hoist/internal/testutil/prereq"
)

func TestParseDevice(t *testing.T) {
	kmsg, err := os.Stat("/dev/kmsg")
	if err != nil {
		prereq.Skip(t, "no /dev/kmsg on this host")
	}
	null := Device{HostPath: "/dev/null", Path: "/dev/null", Type: 'c', Major: 1, Minor: 3, FileMode: 0o666, Permissions: "rwm"}
	tests := []struct {
		spec    string
		want    []Device
		wantErr string
	}{
		{spec: "/dev/null", want: []Device{null}},
		{spec: "/dev/null:rw", want: []Device{{HostPath: "/dev/null", Path: "/dev/null", Type: 'c', Major: 1, Minor: 3, FileMode: 0o666, Permissions: "rw"}}},
		{spec: "/dev/null:/dev/nul2", want: []Device{{HostPath: "/dev/null", Path: "/dev/nul2", Type: 'c', Major: 1, Minor: 3, FileMode: 0o666, Permissions: "rwm"}}},
		{spec: "/dev/kmsg:/dev/x:r", want: []Device{{HostPath: "/dev/kmsg", Path: "/dev/x", Type: 'c', Major: 1, Minor: 11, FileMode: kmsg.Mode().Perm(), Permissions: "r"}}},
		{spec: "/dev/kmsg:/dev/x/../y/:mr", want: []Device{{HostPath: "/dev/kmsg", Path: "/dev/y", Type: 'c', Major: 1, Minor: 11, FileMode: kmsg.Mode().Perm(), Permissions: "mr"}}},
		{spec: "/dev/kmsg:/dev/x:rx", wantErr: "bad mode specified: rx"},
		{spec: "/dev/kmsg:/dev/x:rr", wantErr: "bad mode specified: rr"},
		{spec: "/dev/kmsg:/dev/x:", wantErr: "bad mode specified: "},
		{spec: "/dev/zero:ro", wantErr: "ro is not an absolute path"}, // docker reads ro as the container path
		{spec: "/dev/zero:dev/x:r", wantErr: "dev/x is not an absolute path"},
		{spec: "/dev/zero:", wantErr: " is not an absolute path"},
		{spec: "dev/zero", wantErr: "dev/zero is not an absolute path"},
		{spec: "/dev/zero:/a:r:x", wantErr: "bad format for path: /dev/zero:/a:r:x"},
		{spec: ":/dev/x", wantErr: "bad format for path: :/dev/x"},
		{spec: "/dev/nosuch", wantErr: `error gathering device information while adding custom device "/dev/nosuch": no such file or directory`},
		{spec: "/etc/hostname:/dev/x", wantErr: `error gathering device information while adding custom device "/etc/hostname": not a device node`},
	}
	for _, tc := range tests {
		got, err := ParseDevice(tc.spec)
		if tc.wantErr != "" {
			if err == nil || err.Error() != tc.wantErr {
				t.Errorf("ParseDevice(%q) = %+v, %v; want error %q", tc.spec, got, err, tc.wantErr)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("ParseDevice(%q) = %+v, %v; want %+v", tc.spec, got, err, tc.want)
		}
	}
	if _, err := ParseDevice("/dev/nosuch"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing path: %v does not wrap fs.ErrNotExist", err)
	}
	if got := null.Rule(); got != (DeviceRule{Type: 'c', Major: 1, Minor: 3, Access: "rwm", Allow: true}) {
		t.Errorf("Rule() = %+v", got)
	}
}

// A symbolic link is followed, and a directory gives every device under it,
// as docker does for --device /dev/snd.
func TestParseDeviceLinkAndDirectory(t *testing.T) {
	requireRoot(t)
	dir := t.TempDir()
	link := filepath.Join(dir, "link")
	if err := os.Symlink("/dev/null", link); err != nil {
		t.Fatal(err)
	}
	got, err := ParseDevice(link)
	want := []Device{{HostPath: "/dev/null", Path: link, Type: 'c', Major: 1, Minor: 3, FileMode: 0o666, Permissions: "rwm"}}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("ParseDevice(link) = %+v, %v; want %+v", got, err, want)
	}

	devs := filepath.Join(dir, "devs")
	for _, p := range []string{devs, filepath.Join(devs, "sub")} {
		if err := os.Mkdir(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	mk := func(name string, mode uint32, major, minor uint32) {
		if err := unix.Mknod(filepath.Join(devs, name), mode, int(unix.Mkdev(major, minor))); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(filepath.Join(devs, name), 7, 8); err != nil {
			t.Fatal(err)
		}
	}
	mk("a", unix.S_IFCHR|0o640, 1, 3)
	mk("sub/b", unix.S_IFBLK|0o600, 7, 0)
	if err := os.WriteFile(filepath.Join(devs, "notes"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	got, err = ParseDevice(devs + ":/dev/mine:r")
	want = []Device{
		{HostPath: filepath.Join(devs, "a"), Path: "/dev/mine/a", Type: 'c', Major: 1, Minor: 3, FileMode: 0o640, UID: 7, GID: 8, Permissions: "r"},
		{HostPath: filepath.Join(devs, "sub/b"), Path: "/dev/mine/sub/b", Type: 'b', Major: 7, Minor: 0, FileMode: 0o600, UID: 7, GID: 8, Permissions: "r"},
	}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("ParseDevice(dir) = %+v, %v; want %+v", got, err, want)
	}

	empty := t.TempDir()
	if _, err := ParseDevice(empty); err == nil || err.Error() != `error gathering device information while adding custom device "`+empty+`": not a device node` {
		t.Errorf("directory without devices: %v", err)
	}
}
