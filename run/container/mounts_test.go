package container

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"github.com/hoistbuild/hoist/internal/platform"
)

// The cases and messages are docker's: docker/cli opts.MountOpt (mount_test.go) and what docker
// 20.10 answered on the reference host (docker run --mount ...).
func TestParseMountFlag(t *testing.T) {
	for _, c := range []struct {
		in      string
		want    mountRequest
		wantErr string
	}{
		{"type=bind,source=/src,target=/dst", mountRequest{Type: "bind", Source: "/src", Target: "/dst"}, ""},
		{"type=bind,src=/src,dst=/dst,readonly", mountRequest{Type: "bind", Source: "/src", Target: "/dst", ReadOnly: true}, ""},
		{"type=bind,src=/src,destination=/dst,ro=1", mountRequest{Type: "bind", Source: "/src", Target: "/dst", ReadOnly: true}, ""},
		{"type=bind,src=/src,dst=/dst,readonly=false", mountRequest{Type: "bind", Source: "/src", Target: "/dst"}, ""},
		{"type=bind,src=/src,dst=/dst,bind-propagation=rslave", mountRequest{Type: "bind", Source: "/src", Target: "/dst", Propagation: "rslave"}, ""},
		{"type=bind,src=/src,dst=/dst,bind-nonrecursive", mountRequest{Type: "bind", Source: "/src", Target: "/dst", NonRecursive: true}, ""},
		{"dst=/x,type=BIND,src=/s,consistency=cached", mountRequest{Type: "bind", Source: "/s", Target: "/x"}, ""},
		{"target=/v", mountRequest{Type: "volume", Target: "/v"}, ""},
		{"src=myvol,dst=/v,volume-nocopy", mountRequest{Type: "volume", Source: "myvol", Target: "/v", NoCopy: true}, ""},
		{"type=volume,src=v,dst=/v,volume-driver=local", mountRequest{Type: "volume", Source: "v", Target: "/v"}, ""},
		{"type=tmpfs,dst=/t,tmpfs-size=1m,tmpfs-mode=1770", mountRequest{Type: "tmpfs", Target: "/t", TmpfsOptions: []string{"size=1048576", "mode=1770"}}, ""},
		{"type=tmpfs,dst=/t,ro", mountRequest{Type: "tmpfs", Target: "/t", ReadOnly: true}, ""},
		{"", mountRequest{}, "value is empty"},
		{"type=bind,src=/tmp", mountRequest{}, "target is required"},
		{"type=bind,src=/s,dst=/x,foo=bar", mountRequest{}, "unexpected key 'foo' in 'foo=bar'"},
		{"type=bind,src=/s, dst=/x", mountRequest{}, "unexpected key ' dst' in ' dst=/x'"},
		{"type=bind,src=/s,dst=/x,tmpfs-size=1m", mountRequest{}, "cannot mix 'tmpfs-*' options with mount type 'bind'"},
		{"dst=/x,type=bind,src=/s,volume-nocopy", mountRequest{}, "cannot mix 'volume-*' options with mount type 'bind'"},
		{"type=volume,dst=/x,bind-propagation=rslave", mountRequest{}, "cannot mix 'bind-*' options with mount type 'volume'"},
		{"type=bind,src=/s,dst=/x,readonly=maybe", mountRequest{}, "invalid value for readonly: maybe"},
		{"type=tmpfs,dst=/t,tmpfs-size=abc", mountRequest{}, "invalid value for tmpfs-size: abc"},
		{"type=tmpfs,dst=/t,tmpfs-mode=999", mountRequest{}, "invalid value for tmpfs-mode: 999"},
		{"type=bind,src=/s,dst=/x,ro,source", mountRequest{}, "invalid field 'source' must be a key=value pair"},
		{"type=volume,dst=/x,volume-opt=o=addr", mountRequest{}, "unexpected key 'volume-opt'"},
		{"type=volume,dst=/x,volume-driver=nfs", mountRequest{}, `volume driver "nfs" is not supported`},
	} {
		got, err := parseMountFlag(c.in)
		if c.wantErr != "" {
			if err == nil || !errors.Is(err, ErrBadOption) || !strings.Contains(err.Error(), c.wantErr) || !strings.Contains(err.Error(), `"--mount" flag`) {
				t.Errorf("parseMountFlag(%q) = %+v, %v; want an error naming --mount with %q", c.in, got, err, c.wantErr)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("parseMountFlag(%q) = %+v, %v; want %+v", c.in, got, err, c.want)
		}
	}
}

func TestParseVolumeFlag(t *testing.T) {
	for _, c := range []struct {
		in      string
		want    mountRequest
		wantErr string
	}{
		{"/dst", mountRequest{Type: "volume", Target: "/dst", CreateSource: true}, ""},
		{"name:/dst:ro", mountRequest{Type: "volume", Source: "name", Target: "/dst", ReadOnly: true, CreateSource: true}, ""},
		{"/src:/dst", mountRequest{Type: "bind", Source: "/src", Target: "/dst", CreateSource: true}, ""},
		{"/src:/dst:ro,rslave", mountRequest{Type: "bind", Source: "/src", Target: "/dst", ReadOnly: true, Propagation: "rslave", CreateSource: true}, ""},
		{"/src:/dst:xx", mountRequest{}, `invalid mode "xx"`},
		{"a:b:c:d", mountRequest{}, "invalid volume specification"},
		{"/src:rel", mountRequest{}, "must be an absolute path"},
		{"name:/dst:rslave", mountRequest{}, "a propagation mode needs a host path"},
	} {
		got, err := parseVolumeFlag(c.in)
		if c.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("parseVolumeFlag(%q) = %+v, %v; want error %q", c.in, got, err, c.wantErr)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("parseVolumeFlag(%q) = %+v, %v; want %+v", c.in, got, err, c.want)
		}
	}
}

// resolveMount gives -v, --mount and --tmpfs the same rules; the messages are the docker daemon's.
func TestResolveMount(t *testing.T) {
	r := &Runtime{hroot: t.TempDir()}
	dir := t.TempDir()
	file := filepath.Join(dir, "f")
	if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name    string
		req     mountRequest
		wantErr string
	}{
		{"bind file", mountRequest{Type: "bind", Source: file, Target: "/f"}, ""},
		{"missing source", mountRequest{Type: "bind", Source: filepath.Join(dir, "nosuch"), Target: "/x"}, `invalid mount config for type "bind": bind source path does not exist: ` + filepath.Join(dir, "nosuch")},
		{"no source", mountRequest{Type: "bind", Target: "/x"}, `invalid mount config for type "bind": field Source must not be empty`},
		{"relative source", mountRequest{Type: "bind", Source: "relative", Target: "/x"}, "invalid mount path: 'relative' mount path must be absolute"},
		{"relative target", mountRequest{Type: "bind", Source: dir, Target: "x"}, "invalid mount path: 'x' mount path must be absolute"},
		{"bogus propagation", mountRequest{Type: "bind", Source: dir, Target: "/x", Propagation: "bogus"}, "invalid propagation mode: bogus"},
		{"shared", mountRequest{Type: "bind", Source: dir, Target: "/x", Propagation: "rshared"}, "bind-propagation=rshared is not supported"},
		{"tmpfs with source", mountRequest{Type: "tmpfs", Source: "x", Target: "/t"}, `invalid mount config for type "tmpfs": field Source must not be specified`},
		{"unknown type", mountRequest{Type: "nfs", Source: dir, Target: "/x"}, `invalid mount config for type "nfs": mount type unknown`},
		{"volume with a path", mountRequest{Type: "volume", Source: dir, Target: "/v"}, "includes invalid characters for a local volume name"},
	} {
		_, _, err := r.resolveMount(c.req)
		if c.wantErr == "" {
			if err != nil {
				t.Errorf("%s: %v", c.name, err)
			}
		} else if err == nil || !strings.Contains(err.Error(), c.wantErr) {
			t.Errorf("%s: error %v, want %q", c.name, err, c.wantErr)
		}
	}
	// A -v bind source is created (a directory); a --mount one is not.
	made := filepath.Join(dir, "made")
	if _, _, err := r.resolveMount(mountRequest{Type: "bind", Source: made, Target: "/m", CreateSource: true}); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(made); err != nil || !fi.IsDir() {
		t.Errorf("-v source not created as a directory: %v", err)
	}
	_, tm, err := r.resolveMount(mountRequest{Type: "tmpfs", Target: "/t/", ReadOnly: true, TmpfsOptions: []string{"size=1048576"}})
	if err != nil || tm.Destination != "/t" || strings.Join(tm.Options, ",") != "nosuid,nodev,noexec,size=1048576,ro" {
		t.Errorf("tmpfs: %+v, %v", tm, err)
	}
}

func TestParseAttach(t *testing.T) {
	for _, c := range []struct {
		streams             []string
		interactive, detach bool
		want                Attach
		wantErr             string
	}{
		{nil, false, false, Attach{Stdout: true, Stderr: true}, ""},
		{nil, true, false, Attach{Stdin: true, Stdout: true, Stderr: true}, ""},
		{[]string{"stdout"}, false, false, Attach{Stdout: true}, ""},
		{[]string{"STDERR", "stdin"}, false, false, Attach{Stderr: true}, ""}, // stdin needs -i
		{[]string{"stdin"}, true, false, Attach{Stdin: true}, ""},
		{[]string{"bogus"}, false, false, Attach{}, "valid streams are STDIN, STDOUT and STDERR"},
		{[]string{"stdout"}, false, true, Attach{}, "Conflicting options: -a and -d"},
	} {
		got, err := ParseAttach(c.streams, c.interactive, c.detach)
		if c.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("ParseAttach(%q) = %v, want %q", c.streams, err, c.wantErr)
			}
		} else if err != nil || got != c.want {
			t.Errorf("ParseAttach(%q, %v) = %+v, %v; want %+v", c.streams, c.interactive, got, err, c.want)
		}
	}
}

func TestCheckPlatform(t *testing.T) {
	for in, want := range map[string]string{"": "", "linux/" + runtime.GOARCH: "linux/" + runtime.GOARCH, "aarch64": "linux/arm64"} {
		p, err := checkPlatform(in)
		got := ""
		if p != nil {
			got = platform.Format(*p)
		}
		if err != nil || got != want {
			t.Errorf("checkPlatform(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, p := range []string{"linux/foo", "windows/" + runtime.GOARCH, "a/b/c/d"} {
		if _, err := checkPlatform(p); !errors.Is(err, ErrBadOption) || !strings.Contains(err.Error(), "--platform") {
			t.Errorf("checkPlatform(%q) = %v, want a bad --platform", p, err)
		}
	}
}
