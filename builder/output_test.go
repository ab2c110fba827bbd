package builder

import (
	"archive/tar"
	"bytes"
	"io"
	"reflect"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/hoistbuild/hoist/internal/platform"
	"github.com/hoistbuild/hoist/push"
)

// TestParseOutput follows buildx's syntax (util/buildflags/export.go) and BuildKit's exporter keys.
func TestParseOutput(t *testing.T) {
	for _, tc := range []struct {
		spec string
		want Output
	}{
		{"out", Output{Type: OutputLocal, Dest: "out"}},
		{"-", Output{Type: OutputTar, Dest: "-"}},
		{"type=registry", Output{Type: OutputImage, Push: true}},
		{"type=image,name=a/b:1,push=true", Output{Type: OutputImage, Names: []string{"a/b:1"}, Push: true}},
		{`type=image,"name=a/b:1,c/d:2",push=true,push-by-digest=true`, Output{Type: OutputImage, Names: []string{"a/b:1", "c/d:2"}, Push: true, PushByDigest: true}},
		{"type=registry,store=false", Output{Type: OutputImage, Push: true, NoStore: true}},
		{"type=docker", Output{Type: OutputDocker}},
		{"type=docker,dest=x.tar,name=a", Output{Type: OutputDocker, Dest: "x.tar", Names: []string{"a"}}},
		{"type=oci,dest=x.tar,tar=true,compression=zstd", Output{Type: OutputOCI, Dest: "x.tar", Compression: push.CompressionZstd}},
		{"type=tar,dest=-", Output{Type: OutputTar, Dest: "-"}},
		{"TYPE=local,Dest=d", Output{Type: OutputLocal, Dest: "d"}},
		{"type=image,annotation.a=1,annotation-index.b=2,annotation-manifest-descriptor[linux/amd64].c=3", Output{Type: OutputImage,
			Annotations: Annotations{{Type: AnnotationManifest, Key: "a", Value: "1"}, {Type: AnnotationIndex, Key: "b", Value: "2"},
				{Type: AnnotationManifestDescriptor, Platform: "linux/amd64", Key: "c", Value: "3"}}}},
	} {
		got, err := ParseOutput(tc.spec)
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("ParseOutput(%q) = %+v, %v; want %+v", tc.spec, got, err, tc.want)
		}
	}
}

func TestParseOutputErrors(t *testing.T) {
	for spec, want := range map[string]string{
		"type=zip":                                     `unknown output type "zip"`,
		"dest=x":                                       "type is required",
		"type=local":                                   "dest directory is required",
		"type=local,dest=-":                            "use type=tar",
		"type=tar,name=x":                              `key "name" is not supported by type=tar`,
		"type=local,dest=d,annotation.a=b":             `key "annotation.a" is not supported by type=local`,
		"type=image,push=yes":                          `push: invalid boolean "yes"`,
		"type=oci,tar=false":                           "tar=false",
		"type=image,compression=lz4":                   `unknown compression "lz4"`,
		"type=image,store=false":                       "store=false without push=true",
		"type=image,push-by-digest=true":               "needs push=true",
		"type=image,annotation-bogus.a=b":              `unknown annotation type "bogus"`,
		"type=image,annotation-index[linux/amd64].a=b": "cannot name a platform",
		"type=image,novalue":                           `invalid value "novalue"`,
		`type=image,"name=a`:                           "--output",
	} {
		_, err := ParseOutput(spec)
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "--output") {
			t.Errorf("ParseOutput(%q) = %v, want an --output error containing %q", spec, err, want)
		}
	}
}

func TestParseAnnotation(t *testing.T) {
	got, err := ParseAnnotation("index,manifest[linux/arm64/v8]:org.x=a=b")
	// The platform is normalized as BuildKit's exptypes.ParseAnnotationKey does (arm64/v8 is arm64).
	want := Annotations{{Type: AnnotationIndex, Key: "org.x", Value: "a=b"}, {Type: AnnotationManifest, Platform: "linux/arm64", Key: "org.x", Value: "a=b"}}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("ParseAnnotation = %+v, %v; want %+v", got, err, want)
	}
	got, err = ParseAnnotation("k=v")
	if err != nil || !reflect.DeepEqual(got, Annotations{{Type: AnnotationManifest, Key: "k", Value: "v"}}) {
		t.Errorf("ParseAnnotation(k=v) = %+v, %v", got, err)
	}
	for _, bad := range []string{"novalue", "bogus:k=v", "manifest[not a platform]:k=v", "manifest[linux/amd64:k=v"} {
		if _, err := ParseAnnotation(bad); err == nil {
			t.Errorf("ParseAnnotation(%q) accepted", bad)
		}
	}
}

// TestResolveOutputs: names come from -t where an image output has none; outputs must agree on the
// one image hoist writes; the store names only stored outputs.
func TestResolveOutputs(t *testing.T) {
	outs, err := ParseOutputs([]string{"type=local,dest=d", "type=image,name=x/named"}, true, true)
	if err != nil {
		t.Fatal(err)
	}
	res, _, _, err := resolveOutputs(outs, []string{"a:1", "b:2"}, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Names != nil || !reflect.DeepEqual(res[1].Names, []string{"x/named"}) || !reflect.DeepEqual(res[2].Names, []string{"a:1", "b:2"}) || !res[2].Push {
		t.Errorf("resolved %+v", res)
	}
	if got := storedNames(res); !reflect.DeepEqual(got, []string{"x/named", "a:1", "b:2"}) {
		t.Errorf("stored names %v", got)
	}
	if def, _, _, _ := resolveOutputs(nil, []string{"t"}, nil, ""); len(def) != 1 || def[0].Type != OutputImage || !def[0].stored() {
		t.Errorf("default outputs %+v", def)
	}
	if _, _, _, err := resolveOutputs([]Output{{Type: OutputImage, Push: true}}, nil, nil, ""); err == nil {
		t.Error("push without a name accepted")
	}
	a, _ := ParseOutput("type=image,annotation.k=1")
	b, _ := ParseOutput("type=oci,dest=x,annotation.k=2")
	if _, _, _, err := resolveOutputs([]Output{a, b}, nil, nil, ""); err == nil || !strings.Contains(err.Error(), "one image") {
		t.Errorf("conflicting annotations: %v", err)
	}
	c, _ := ParseOutput("type=oci,dest=x,compression=zstd")
	if _, _, _, err := resolveOutputs([]Output{c}, nil, nil, push.CompressionEstargz); err == nil {
		t.Error("conflicting compression accepted")
	}
}

func TestAnnotationsFor(t *testing.T) {
	as := Annotations{{Type: AnnotationManifest, Key: "all", Value: "1"}, {Type: AnnotationManifest, Platform: "linux/arm64", Key: "arm", Value: "2"},
		{Type: AnnotationManifestDescriptor, Key: "d", Value: "3"}}
	set, err := as.For("linux/amd64", []string{"linux/amd64", "linux/arm64"})
	if err != nil || !reflect.DeepEqual(set.Manifest, map[string]string{"all": "1"}) || set.ManifestDescriptor["d"] != "3" {
		t.Errorf("For(amd64) = %+v, %v", set, err)
	}
	if _, err := as.For("linux/amd64", []string{"linux/amd64"}); err == nil || !strings.Contains(err.Error(), "no platform linux/arm64") {
		t.Errorf("a platform not built: %v", err)
	}
	set, _ = Annotations{{Type: AnnotationIndex, Key: "i", Value: "v"}}.For("linux/amd64", []string{"linux/amd64"})
	if err := set.single(); err == nil {
		t.Error("index annotation on a single-platform image accepted")
	}
}

// TestPlanOutputsPlatforms: what a multi-platform build refuses before building (a docker archive,
// as BuildKit's docker exporter refuses an index; a recompression), and index annotations, which
// need several platforms.
func TestPlanOutputsPlatforms(t *testing.T) {
	two := []target{{platform: platform.Host(), explicit: true}, {platform: v1.Platform{OS: "linux", Architecture: "riscv64"}, explicit: true}}
	one := two[:1]
	index := Annotations{{Type: AnnotationIndex, Key: "k", Value: "v"}}
	for _, c := range []struct {
		name    string
		opts    Options
		targets []target
		want    string
	}{
		{"docker archive", Options{Outputs: []Output{{Type: OutputDocker, Dest: "x.tar"}}}, two, "docker exporter does not currently support exporting manifest lists"},
		{"--compression", Options{Tags: []string{"x"}, Compression: push.CompressionZstd}, two, "cannot be combined with several --platform values"},
		{"index annotation, one platform", Options{Tags: []string{"x"}, Annotations: index}, one, "index annotations not supported for single platform export"},
		{"index annotation", Options{Tags: []string{"x"}, Annotations: index}, two, ""},
		{"--load", Options{Outputs: []Output{{Type: OutputDocker}}, Tags: []string{"x"}}, two, ""},
		{"oci", Options{Outputs: []Output{{Type: OutputOCI, Dest: "x.tar"}}}, two, ""},
	} {
		_, err := planOutputs(&c.opts, c.targets)
		if (c.want == "" && err != nil) || (c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want))) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}
	if d := platformDir("linux/arm/v7"); d != "linux_arm_v7" {
		t.Errorf("platformDir(linux/arm/v7) = %q", d)
	}
}

// TestPrefixTar: entries and hard link targets go under the prefix; contents are kept.
func TestPrefixTar(t *testing.T) {
	var in, out bytes.Buffer
	tw := tar.NewWriter(&in)
	_ = tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: "a", Size: 2, Mode: 0o644})
	_, _ = tw.Write([]byte("hi"))
	_ = tw.WriteHeader(&tar.Header{Typeflag: tar.TypeLink, Name: "b", Linkname: "a"})
	_ = tw.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: "c", Linkname: "/a"})
	_ = tw.Close()
	ow := tar.NewWriter(&out)
	if err := prefixTar(ow, &in, "linux_arm64/"); err != nil {
		t.Fatal(err)
	}
	_ = ow.Close()
	tr := tar.NewReader(&out)
	var got []string
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		b, _ := io.ReadAll(tr)
		got = append(got, h.Name+">"+h.Linkname+":"+string(b))
	}
	want := []string{"linux_arm64/a>:hi", "linux_arm64/b>linux_arm64/a:", "linux_arm64/c>/a:"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("prefixTar = %q, want %q", got, want)
	}
}
