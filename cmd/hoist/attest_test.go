package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/hoistbuild/hoist/internal/testutil"
)

// ociAccept is every manifest media type a registry may serve.
const ociAccept = "application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json"

// registryGet fetches a manifest or blob and returns its bytes and Docker-Content-Digest.
func registryGet(t *testing.T, url string) ([]byte, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Accept", ociAccept)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v\n%s", url, resp.StatusCode, err, body)
	}
	return body, resp.Header.Get("Docker-Content-Digest")
}

// jsonDesc is a descriptor as the tests read it.
type jsonDesc struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Size        int64             `json:"size"`
	Data        []byte            `json:"data"`
	Annotations map[string]string `json:"annotations"`
	Platform    *struct {
		OS           string `json:"os"`
		Architecture string `json:"architecture"`
	} `json:"platform"`
}

type jsonManifest struct {
	MediaType    string     `json:"mediaType"`
	ArtifactType string     `json:"artifactType"`
	Config       jsonDesc   `json:"config"`
	Layers       []jsonDesc `json:"layers"`
	Manifests    []jsonDesc `json:"manifests"`
	Subject      *jsonDesc  `json:"subject"`
}

type jsonStatement struct {
	Type          string `json:"_type"`
	PredicateType string `json:"predicateType"`
	Subject       []struct {
		Name   string            `json:"name"`
		Digest map[string]string `json:"digest"`
	} `json:"subject"`
	Predicate json.RawMessage `json:"predicate"`
}

// attested is an index with attestations as read back: the index, its image and attestation
// entries, the attestation manifest and its statements by predicate type.
type attested struct {
	index      jsonManifest
	image, att jsonDesc
	manifest   jsonManifest
	rawAtt     []byte
	statements map[string]jsonStatement
	rawStmts   map[string][]byte
}

// readAttested reads an index of one image and its attestation manifest through get (a blob or
// manifest by digest).
func readAttested(t *testing.T, rawIndex []byte, get func(digest string) []byte) attested {
	t.Helper()
	var a attested
	if err := json.Unmarshal(rawIndex, &a.index); err != nil {
		t.Fatalf("index: %v\n%s", err, rawIndex)
	}
	if len(a.index.Manifests) != 2 {
		t.Fatalf("index has %d manifests, want the image and its attestation manifest:\n%s", len(a.index.Manifests), rawIndex)
	}
	a.image, a.att = a.index.Manifests[0], a.index.Manifests[1]
	a.rawAtt = get(a.att.Digest)
	if err := json.Unmarshal(a.rawAtt, &a.manifest); err != nil {
		t.Fatal(err)
	}
	a.statements, a.rawStmts = map[string]jsonStatement{}, map[string][]byte{}
	for _, l := range a.manifest.Layers {
		raw := get(l.Digest)
		var st jsonStatement
		if err := json.Unmarshal(raw, &st); err != nil {
			t.Fatalf("statement %s: %v", l.Digest, err)
		}
		if st.PredicateType != l.Annotations["in-toto.io/predicate-type"] {
			t.Errorf("layer annotation %q, statement predicate type %q", l.Annotations["in-toto.io/predicate-type"], st.PredicateType)
		}
		a.statements[st.PredicateType], a.rawStmts[st.PredicateType] = st, raw
	}
	return a
}

// checkAttestedShape checks what BuildKit's image writer writes (exporter/containerimage/writer.go,
// recorded in testdata/attest/buildkit-*.json): the attestation entry's platform and annotations,
// the artifact manifest's media types, empty config and subject.
func checkAttestedShape(t *testing.T, a attested) {
	t.Helper()
	if a.index.MediaType != "application/vnd.oci.image.index.v1+json" {
		t.Errorf("index media type %q", a.index.MediaType)
	}
	if a.att.Platform == nil || a.att.Platform.OS != "unknown" || a.att.Platform.Architecture != "unknown" ||
		a.att.MediaType != "application/vnd.oci.image.manifest.v1+json" ||
		a.att.Annotations["vnd.docker.reference.digest"] != a.image.Digest ||
		a.att.Annotations["vnd.docker.reference.type"] != "attestation-manifest" || len(a.att.Annotations) != 2 {
		t.Errorf("attestation entry %+v (image %s)", a.att, a.image.Digest)
	}
	m := a.manifest
	if m.MediaType != "application/vnd.oci.image.manifest.v1+json" || m.ArtifactType != "application/vnd.docker.attestation.manifest.v1+json" ||
		m.Config.MediaType != "application/vnd.oci.empty.v1+json" || string(m.Config.Data) != "{}" || m.Config.Size != 2 ||
		m.Subject == nil || m.Subject.Digest != a.image.Digest || m.Subject.Size != a.image.Size || m.Subject.MediaType != a.image.MediaType {
		t.Errorf("attestation manifest:\n%s", a.rawAtt)
	}
	for _, l := range m.Layers {
		if l.MediaType != "application/vnd.in-toto+json" || len(l.Annotations) != 1 {
			t.Errorf("attestation layer %+v", l)
		}
	}
	for pt, st := range a.statements {
		if st.Type != "https://in-toto.io/Statement/v1" {
			t.Errorf("%s statement type %q", pt, st.Type)
		}
	}
}

// keyPaths lists the JSON object keys of v as dotted paths (array elements as []), without values.
func keyPaths(v any, prefix string, out map[string]bool) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			out[prefix+k] = true
			keyPaths(e, prefix+k+".", out)
		}
	case []any:
		for _, e := range x {
			keyPaths(e, prefix+"[].", out)
		}
	}
}

func keysOf(t *testing.T, raw []byte) map[string]bool {
	t.Helper()
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	keyPaths(v, "", out)
	return out
}

// compareKeys reports the key paths of got and want that differ, leaving out the documented
// differences: onlyWant (BuildKit-internal fields hoist has no counterpart for) and onlyGot.
func compareKeys(t *testing.T, what string, got, want map[string]bool, onlyWant, onlyGot []string) {
	t.Helper()
	skip := func(k string, list []string) bool {
		for _, p := range list {
			if k == p || strings.HasPrefix(k, p+".") {
				return true
			}
		}
		return false
	}
	var diffs []string
	for k := range want {
		if !got[k] && !skip(k, onlyWant) {
			diffs = append(diffs, "missing "+k)
		}
	}
	for k := range got {
		if !want[k] && !skip(k, onlyGot) {
			diffs = append(diffs, "extra "+k)
		}
	}
	sort.Strings(diffs)
	if len(diffs) > 0 {
		t.Errorf("%s differs from BuildKit's:\n%s", what, strings.Join(diffs, "\n"))
	}
}

func readGolden(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "attest", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestBuildProvenanceMatchesBuildKit builds testdata/attest's Dockerfile as it was recorded from
// BuildKit v0.32 (see testdata/attest/README.md) with --provenance=mode=min (SLSA v1, BuildKit's
// default, and version=v0.2) into an OCI layout and compares the index, the attestation manifest and
// the statements with BuildKit's: the same keys (less the documented differences), media types,
// annotations, subject and material forms. type=local gets the statement as provenance.json whose
// subjects are the files, as BuildKit's local exporter writes it.
func TestBuildProvenanceMatchesBuildKit(t *testing.T) {
	root := newRoot(t)
	ctxDir := writeContext(t, map[string]string{"Dockerfile": string(readGolden(t, "Dockerfile")), "a.txt": "a\n"})
	for _, version := range []string{"v1", "v0.2"} {
		t.Run(version, func(t *testing.T) {
			tmp := t.TempDir()
			layout, local := filepath.Join(tmp, "x.oci.tar"), filepath.Join(tmp, "fs")
			mustOK(t, hoist(t, root, "", "build", "-q", "--build-arg", "FOO=baz", "--provenance=mode=min,version="+version,
				"-t", "example.com/x:1", "-o", "type=oci,dest="+layout, "-o", "type=local,dest="+local, ctxDir), "build --provenance")
			files := tarFiles(t, layout)
			var top jsonManifest
			if err := json.Unmarshal(files["index.json"], &top); err != nil || len(top.Manifests) != 1 {
				t.Fatalf("index.json: %v\n%s", err, files["index.json"])
			}
			blob := func(d string) []byte {
				b, ok := files["blobs/sha256/"+strings.TrimPrefix(d, "sha256:")]
				if !ok {
					t.Fatalf("blob %s is not in the layout", d)
				}
				return b
			}
			rawIndex := blob(top.Manifests[0].Digest)
			a := readAttested(t, rawIndex, blob)
			checkAttestedShape(t, a)
			compareKeys(t, "attestation manifest", keysOf(t, a.rawAtt), keysOf(t, readGolden(t, "buildkit-attestation-manifest.json")), nil, nil)
			compareKeys(t, "index", keysOf(t, rawIndex), keysOf(t, readGolden(t, "buildkit-index.json")), nil, nil)

			golden, pt := "buildkit-provenance-min-v1.json", "https://slsa.dev/provenance/v1"
			// BuildKit-internal request fields (the gateway's root request, its compatibility version,
			// the dockerfile frontend's version) have no counterpart in hoist; hoist adds the
			// Dockerfile's name and digest to the config source (docs/supplychain.md).
			onlyBK := []string{"predicate.buildDefinition.externalParameters.request.root", "predicate.buildDefinition.externalParameters.request.compatibilityVersion", "predicate.buildDefinition.internalParameters.dockerfileVersion"}
			onlyHoist := []string{"predicate.buildDefinition.externalParameters.configSource.digest", "predicate.buildDefinition.externalParameters.configSource.path"}
			if version == "v0.2" {
				golden, pt = "buildkit-provenance-min-v02.json", "https://slsa.dev/provenance/v0.2"
				onlyBK = []string{"predicate.invocation.parameters.root", "predicate.invocation.parameters.compatibilityVersion", "predicate.invocation.environment.dockerfileVersion"}
				onlyHoist = []string{"predicate.invocation.configSource.digest", "predicate.invocation.configSource.path"}
			}
			raw, ok := a.rawStmts[pt]
			if !ok || len(a.statements) != 1 {
				t.Fatalf("statements %v, want one %s", slices.Collect(mapKeys(a.statements)), pt)
			}
			want := readGolden(t, golden)
			compareKeys(t, "provenance "+version, keysOf(t, raw), keysOf(t, want), onlyBK, onlyHoist)

			var got, bk jsonStatement
			_ = json.Unmarshal(raw, &got)
			_ = json.Unmarshal(want, &bk)
			// The subject: the image's name as BuildKit's purl, with the image manifest's digest.
			if len(got.Subject) != 1 || got.Subject[0].Name != bk.Subject[0].Name || "sha256:"+got.Subject[0].Digest["sha256"] != a.image.Digest {
				t.Errorf("subject %+v, want %s with digest %s", got.Subject, bk.Subject[0].Name, a.image.Digest)
			}
			// The material: FROM busybox as BuildKit names it (the digest is this root's busybox).
			mat := materials(t, got.Predicate, version)
			bkMat := materials(t, bk.Predicate, version)
			if len(mat) != 1 || mat[0].URI != bkMat[0].URI || len(mat[0].Digest["sha256"]) != 64 {
				t.Errorf("materials %+v, want %s@sha256", mat, bkMat[0].URI)
			}
			// mode=min leaves the build args out and says so, as BuildKit does.
			if strings.Contains(string(raw), "FOO") || !strings.Contains(string(raw), `"locals":[{"name":"context"},{"name":"dockerfile"}]`) {
				t.Errorf("mode=min statement:\n%s", raw)
			}

			// type=local: provenance.json beside the files, its subjects the files (a.txt's digest is
			// the one BuildKit's local exporter recorded for the same file).
			data, err := os.ReadFile(filepath.Join(local, "provenance.json"))
			if err != nil {
				t.Fatal(err)
			}
			var file jsonStatement
			if err := json.Unmarshal(data, &file); err != nil || file.PredicateType != pt {
				t.Fatalf("provenance.json: %v\n%.300s", err, data)
			}
			sum := sha256.Sum256([]byte("a\n"))
			found := false
			for _, s := range file.Subject {
				found = found || s.Name == "a.txt" && s.Digest["sha256"] == hex.EncodeToString(sum[:])
			}
			if !found {
				t.Errorf("provenance.json subjects lack a.txt: %.600s", data)
			}
		})
	}
}

// TestBuildProvenanceMax: mode=max keeps the build args and labels (the request is then complete) and
// adds the Dockerfile as a source info, as BuildKit's max mode does (recorded: max-v02 in
// testdata/attest/README.md's recording had "args":{"build-arg:FOO":"baz"} and the Dockerfile's data).
func TestBuildProvenanceMax(t *testing.T) {
	root := newRoot(t)
	dockerfile := string(readGolden(t, "Dockerfile"))
	ctxDir := writeContext(t, map[string]string{"Dockerfile": dockerfile, "a.txt": "a\n"})
	local := filepath.Join(t.TempDir(), "fs")
	mustOK(t, hoist(t, root, "", "build", "-q", "--build-arg", "FOO=baz", "--label", "l=v", "--attest", "type=provenance,mode=max,version=v0.2",
		"-o", "type=local,dest="+local, ctxDir), "build --attest type=provenance,mode=max")
	data, err := os.ReadFile(filepath.Join(local, "provenance.json"))
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		Predicate struct {
			Invocation struct {
				Parameters struct {
					Args map[string]string `json:"args"`
				} `json:"parameters"`
			} `json:"invocation"`
			Metadata struct {
				Completeness map[string]bool `json:"completeness"`
				BuildKit     struct {
					Source struct {
						Infos []struct {
							Filename string `json:"filename"`
							Data     []byte `json:"data"`
						} `json:"infos"`
					} `json:"source"`
				} `json:"https://mobyproject.org/buildkit@v1#metadata"`
			} `json:"metadata"`
		} `json:"predicate"`
	}
	if err := json.Unmarshal(data, &st); err != nil {
		t.Fatal(err)
	}
	p := st.Predicate
	infos := p.Metadata.BuildKit.Source.Infos
	if p.Invocation.Parameters.Args["build-arg:FOO"] != "baz" || p.Invocation.Parameters.Args["label:l"] != "v" || !p.Metadata.Completeness["parameters"] ||
		len(infos) != 1 || infos[0].Filename != "Dockerfile" || string(infos[0].Data) != dockerfile {
		t.Errorf("mode=max provenance: %+v", p)
	}
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

type jsonMaterial struct {
	URI    string            `json:"uri"`
	Digest map[string]string `json:"digest"`
}

// materials are the resolved dependencies (v1) or materials (v0.2) of a provenance predicate.
func materials(t *testing.T, pred json.RawMessage, version string) []jsonMaterial {
	t.Helper()
	var p struct {
		Materials       []jsonMaterial `json:"materials"`
		BuildDefinition struct {
			ResolvedDependencies []jsonMaterial `json:"resolvedDependencies"`
		} `json:"buildDefinition"`
	}
	if err := json.Unmarshal(pred, &p); err != nil {
		t.Fatal(err)
	}
	if version == "v0.2" {
		return p.Materials
	}
	return p.BuildDefinition.ResolvedDependencies
}

// testDebian pushes the tests' debian:bookworm for this host (hack/deps.sh makes it from Debian's
// mirror: testutil.DebianImage) to a loopback registry, pulls it into root and returns its reference
// and the manifest digest the registry serves.
func testDebian(t *testing.T, root string) (string, string) {
	t.Helper()
	img := testutil.DebianImage(t, runtime.GOARCH)
	ref := testutil.Registry(t) + "/library/debian:bookworm"
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(r, img); err != nil {
		t.Fatalf("pushing debian: %v", err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	mustOK(t, hoist(t, root, "", "pull", "-q", ref), "pull debian")
	return ref, d.String()
}

// goHello builds a tiny Go program with this test's toolchain into dir/hello.
func goHello(t *testing.T, dir string) {
	t.Helper()
	src := t.TempDir()
	for name, data := range map[string]string{"go.mod": "module example.com/hello\n\ngo 1.22\n", "main.go": "package main\n\nfunc main() { println(\"hello\") }\n"} {
		if err := os.WriteFile(filepath.Join(src, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command("go", "build", "-o", filepath.Join(dir, "hello"), ".")
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
}

// TestBuildSBOMAndProvenancePush is the acceptance of --sbom and --provenance: an image FROM
// debian:bookworm-slim with a Go binary and an apk database copied in is built and pushed with both;
// the registry holds the index with the image and its attestation manifest; the SBOM lists exactly
// the packages dpkg-query reports inside the image (run by hoist run), the Go binary's module and
// toolchain and the apk package; the provenance names the base image with the digest the registry
// serves for it. The index is recorded in the store: images, run, save and rmi work on it.
func TestBuildSBOMAndProvenancePush(t *testing.T) {
	root := newRoot(t)
	base, baseDigest := testDebian(t, root)
	files := map[string]string{
		"Dockerfile": "FROM " + base + "\nCOPY hello /usr/local/bin/hello\nCOPY installed /lib/apk/db/installed\n",
		"installed":  "P:musl\nV:1.2.4-r2\nA:x86_64\no:musl\nL:MIT\n\n",
	}
	ctxDir := writeContext(t, files)
	goHello(t, ctxDir)
	reg := testutil.Registry(t)
	ref := reg + "/attest/deb:v1"
	mustOK(t, hoist(t, root, "", "build", "-q", "--sbom=true", "--provenance=true", "-t", ref, "--push", ctxDir), "build --sbom --provenance --push")

	rawIndex, _ := registryGet(t, fmt.Sprintf("http://%s/v2/attest/deb/manifests/v1", reg))
	a := readAttested(t, rawIndex, func(d string) []byte {
		kind := "blobs"
		if strings.Contains(string(rawIndex), d) {
			kind = "manifests"
		}
		b, _ := registryGet(t, fmt.Sprintf("http://%s/v2/attest/deb/%s/%s", reg, kind, d))
		return b
	})
	checkAttestedShape(t, a)
	sb, ok := a.statements["https://spdx.dev/Document"]
	prov, ok2 := a.statements["https://slsa.dev/provenance/v1"]
	if !ok || !ok2 {
		t.Fatalf("statements %v, want the SBOM and the provenance", slices.Collect(mapKeys(a.statements)))
	}
	wantSubject := "pkg:docker/" + reg + "/attest/deb@v1?platform=linux%2Famd64"
	for _, st := range []jsonStatement{sb, prov} {
		if len(st.Subject) != 1 || st.Subject[0].Name != wantSubject || "sha256:"+st.Subject[0].Digest["sha256"] != a.image.Digest {
			t.Errorf("%s subject %+v, want %s %s", st.PredicateType, st.Subject, wantSubject, a.image.Digest)
		}
	}

	// The SBOM's Debian packages are what dpkg reports in the image.
	var doc struct {
		SPDXVersion string `json:"spdxVersion"`
		Packages    []struct {
			Name         string `json:"name"`
			VersionInfo  string `json:"versionInfo"`
			ExternalRefs []struct {
				ReferenceType    string `json:"referenceType"`
				ReferenceLocator string `json:"referenceLocator"`
			} `json:"externalRefs"`
		} `json:"packages"`
	}
	if err := json.Unmarshal(sb.Predicate, &doc); err != nil || doc.SPDXVersion != "SPDX-2.3" {
		t.Fatalf("SBOM: %v %q", err, doc.SPDXVersion)
	}
	var debs, others []string
	for _, p := range doc.Packages {
		purl := ""
		for _, r := range p.ExternalRefs {
			if r.ReferenceType == "purl" {
				purl = r.ReferenceLocator
			}
		}
		if strings.HasPrefix(purl, "pkg:deb/debian/"+p.Name+"@") {
			arch, _, _ := strings.Cut(purl[strings.Index(purl, "arch=")+len("arch="):], "&")
			debs = append(debs, p.Name+" "+p.VersionInfo+" "+arch)
			continue
		}
		others = append(others, p.Name+" "+purl)
	}
	r := mustOK(t, hoist(t, root, "", "run", "--rm", ref, "dpkg-query", "-W", "-f", "${Package} ${Version} ${Architecture}\n"), "dpkg-query in the image")
	want := strings.Split(strings.TrimSpace(r.stdout), "\n")
	sort.Strings(want)
	sort.Strings(debs)
	if len(want) < 50 || !slices.Equal(debs, want) {
		t.Errorf("SBOM Debian packages (%d) differ from dpkg-query's (%d):\n%s", len(debs), len(want), lineDiffs(strings.Join(debs, "\n"), strings.Join(want, "\n")))
	}
	goVersion, err := exec.Command("go", "env", "GOVERSION").Output()
	if err != nil {
		t.Fatal(err)
	}
	wantOthers := []string{
		"musl pkg:apk/debian/musl@1.2.4-r2?arch=x86_64&distro=debian-12",
		"example.com/hello pkg:golang/example.com/hello@%28devel%29",
		"stdlib pkg:golang/stdlib@" + strings.TrimPrefix(strings.TrimSpace(string(goVersion)), "go"),
	}
	sort.Strings(others)
	sort.Strings(wantOthers)
	if !slices.Equal(others, wantOthers) {
		t.Errorf("SBOM's other packages:\n%s\nwant:\n%s", strings.Join(others, "\n"), strings.Join(wantOthers, "\n"))
	}

	// The provenance names the base image by the digest its registry serves.
	mat := materials(t, prov.Predicate, "v1")
	wantMat := "pkg:docker/" + strings.Replace(base, ":bookworm", "@bookworm", 1) + "?platform=linux%2F" + runtime.GOARCH
	if len(mat) != 1 || mat[0].URI != wantMat || "sha256:"+mat[0].Digest["sha256"] != baseDigest {
		t.Errorf("provenance materials %+v, want %s %s", mat, wantMat, baseDigest)
	}

	// The store keeps the index: images lists it once, run and save take its image, rmi removes it.
	if out := mustOK(t, hoist(t, root, "", "images", "--format", "{{.Repository}}:{{.Tag}}"), "images").stdout; strings.Count(out, reg+"/attest/deb:v1") != 1 {
		t.Errorf("images:\n%s", out)
	}
	if out := mustOK(t, hoist(t, root, "", "image", "inspect", "--format", "{{range .Manifests}}{{.Kind}} {{end}}", ref), "inspect").stdout; strings.TrimSpace(out) != "image attestation" {
		t.Errorf("inspect's manifest kinds: %q, want docker 28's \"image attestation\"", out)
	}
	mustOK(t, hoist(t, root, "", "save", "-o", filepath.Join(t.TempDir(), "x.tar"), ref), "save")
	mustOK(t, hoist(t, root, "", "rmi", ref), "rmi")
	mustOK(t, hoist(t, root, "", "image", "prune", "-a", "-f"), "image prune")
}

// TestBuildSBOMReproducible: with SOURCE_DATE_EPOCH the SBOM is the same bytes in two builds that
// share no cache, and so is the whole index (the image, the attestation manifest, the index).
func TestBuildSBOMReproducible(t *testing.T) {
	root := newRoot(t)
	base, _ := testDebian(t, root)
	ctxDir := writeContext(t, map[string]string{"Dockerfile": "FROM " + base + "\nCOPY f /f\n", "f": "x\n"})
	var ids []string
	for i := 0; i < 2; i++ {
		r := mustOK(t, hoist(t, root, "", "build", "-q", "--no-cache", "--sbom=true", "--source-date-epoch", "1700000000", "-t", "repro:x", ctxDir), "build --sbom")
		ids = append(ids, strings.TrimSpace(r.stdout))
		time.Sleep(1100 * time.Millisecond) // the second build's clock is another second
	}
	if ids[0] != ids[1] || !strings.HasPrefix(ids[0], "sha256:") {
		t.Errorf("two builds with SOURCE_DATE_EPOCH gave %v", ids)
	}
}

// TestBuildAttestBadInput: a bad --sbom, --provenance or --attest value, or an output that cannot hold
// attestations, is one clear error naming the flag, exit 125, before anything runs or is written.
func TestBuildAttestBadInput(t *testing.T) {
	root := newRoot(t)
	ctxDir := writeContext(t, map[string]string{"Dockerfile": "FROM busybox\nRUN echo should-not-run\n"})
	dest := filepath.Join(t.TempDir(), "out.tar")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--sbom=bogus"}, `--sbom: invalid value "bogus"`},
		{[]string{"--sbom=generator=docker/buildkit-syft-scanner"}, "--sbom: generator=docker/buildkit-syft-scanner: hoist scans with its own reader"},
		{[]string{"--provenance=mode=huge"}, `--provenance: invalid mode "huge"`},
		{[]string{"--provenance=version=v3"}, `--provenance: invalid version "v3"`},
		{[]string{"--attest", "type=nope"}, `--attest "type=nope": unknown attestation type "nope"`},
		{[]string{"--attest", "mode=max"}, `unknown attestation type ""`},
		{[]string{"--attest", "type=provenance,colour=red"}, `--attest: unknown provenance option "colour"`},
		{[]string{"--sbom=true", "-o", "type=docker,dest=" + dest}, "a docker archive cannot hold attestations"},
		{[]string{"--provenance=true", "--compression", "zstd"}, "cannot be combined with attestations"},
	} {
		r := hoist(t, root, "", append(append([]string{"build"}, tc.args...), ctxDir)...)
		if r.code != 125 || !strings.Contains(r.stderr, tc.want) ||
			strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 || strings.Contains(r.stderr+r.stdout, "should-not-run") {
			t.Errorf("build %v: exit %d, stderr %q, want %q", tc.args, r.code, r.stderr, tc.want)
		}
	}
	if _, err := os.Stat(dest); err == nil {
		t.Errorf("a refused build wrote %s", dest)
	}
	// --sbom=false and --provenance=false attach nothing: the result is the image, not an index.
	r := mustOK(t, hoist(t, root, "", "build", "-q", "--sbom=false", "--provenance=false", "-t", "plain", writeContext(t, map[string]string{"Dockerfile": "FROM busybox\n"})), "build --sbom=false")
	if out := mustOK(t, hoist(t, root, "", "image", "inspect", "--format", "{{json .Descriptor}}", "plain"), "inspect").stdout; strings.Contains(out, "index") {
		t.Errorf("--sbom=false --provenance=false gave an index (%s): %s", strings.TrimSpace(r.stdout), out)
	}
}

// TestBuildAttestMultiPlatform: with several platforms the index lists every image, then one
// attestation manifest per image in the same order, each referring to its image (BuildKit's order);
// each platform's SBOM lists the Go binary built for it; type=local puts each platform's statements
// in its directory.
func TestBuildAttestMultiPlatform(t *testing.T) {
	root := multiArchRoot(t)
	tmp := t.TempDir()
	layout, local := filepath.Join(tmp, "x.oci.tar"), filepath.Join(tmp, "fs")
	mustOK(t, hoist(t, root, "", "build", "-q", "--platform", "linux/amd64,linux/arm64", "--sbom=true", "--provenance=true", "-t", "multi:att",
		"-o", "type=oci,dest="+layout, "-o", "type=local,dest="+local, goSampleContext(t)), "multi-platform build with attestations")
	files := tarFiles(t, layout)
	var top jsonManifest
	if err := json.Unmarshal(files["index.json"], &top); err != nil || len(top.Manifests) != 1 {
		t.Fatalf("index.json: %v", err)
	}
	blob := func(d string) []byte { return files["blobs/sha256/"+strings.TrimPrefix(d, "sha256:")] }
	var idx jsonManifest
	if err := json.Unmarshal(blob(top.Manifests[0].Digest), &idx); err != nil || len(idx.Manifests) != 4 {
		t.Fatalf("index: %v\n%s", err, blob(top.Manifests[0].Digest))
	}
	for i, arch := range []string{"amd64", "arm64"} {
		img, att := idx.Manifests[i], idx.Manifests[2+i]
		if img.Platform == nil || img.Platform.Architecture != arch || att.Annotations["vnd.docker.reference.digest"] != img.Digest {
			t.Errorf("entries %d and %d: %+v %+v", i, 2+i, img, att)
			continue
		}
		var m jsonManifest
		_ = json.Unmarshal(blob(att.Digest), &m)
		found := false
		for _, l := range m.Layers {
			var st jsonStatement
			_ = json.Unmarshal(blob(l.Digest), &st)
			if st.Subject[0].Name != "pkg:docker/multi@att?platform=linux%2F"+arch {
				t.Errorf("%s subject %+v", arch, st.Subject)
			}
			found = found || st.PredicateType == "https://spdx.dev/Document" && strings.Contains(string(st.Predicate), `"referenceLocator":"pkg:golang/hello@%28devel%29"`)
		}
		if !found {
			t.Errorf("%s: no SBOM listing the Go binary's module", arch)
		}
		for _, f := range []string{"provenance.json", "sbom.spdx.json", "hello"} {
			if _, err := os.Stat(filepath.Join(local, "linux_"+arch, f)); err != nil {
				t.Errorf("local output: %v", err)
			}
		}
	}
}

// TestBuildProvenanceGitContext: a git context's provenance names the repository and the commit
// built, as the config source (the context URL as given) and as a material (BuildKit's rule), and its
// materials are complete (no local source).
func TestBuildProvenanceGitContext(t *testing.T) {
	root := newRoot(t)
	git := testutil.NewGitServers(t)
	work := t.TempDir()
	testutil.WriteFiles(t, work, map[string]string{"Dockerfile": "FROM busybox\nCOPY a.txt /a\n", "a.txt": "a\n"})
	testutil.Git(t, work, "init", "-q", "-b", "main")
	testutil.Git(t, work, "add", "-A")
	testutil.Git(t, work, "commit", "-q", "-m", "one")
	git.Publish(t, work, "repo")
	commit := strings.TrimSpace(testutil.Git(t, work, "rev-parse", "HEAD"))
	url := git.HTTP + "/repo.git#main"
	layout := filepath.Join(t.TempDir(), "x.oci.tar")
	mustOK(t, hoist(t, root, "", "build", "-q", "--provenance=true", "-o", "type=oci,dest="+layout, url), "build a git context with --provenance")
	files := tarFiles(t, layout)
	var top jsonManifest
	if err := json.Unmarshal(files["index.json"], &top); err != nil || len(top.Manifests) != 1 {
		t.Fatalf("index.json: %v", err)
	}
	blob := func(d string) []byte { return files["blobs/sha256/"+strings.TrimPrefix(d, "sha256:")] }
	a := readAttested(t, blob(top.Manifests[0].Digest), blob)
	st, ok := a.statements["https://slsa.dev/provenance/v1"]
	if !ok {
		t.Fatalf("no provenance")
	}
	var p struct {
		BuildDefinition struct {
			ExternalParameters struct {
				ConfigSource jsonMaterial `json:"configSource"`
				Request      struct {
					Locals []any `json:"locals"`
				} `json:"request"`
			} `json:"externalParameters"`
		} `json:"buildDefinition"`
		RunDetails struct {
			Metadata struct {
				Completeness map[string]bool `json:"buildkit_completeness"`
			} `json:"metadata"`
		} `json:"runDetails"`
	}
	if err := json.Unmarshal(st.Predicate, &p); err != nil {
		t.Fatal(err)
	}
	cs := p.BuildDefinition.ExternalParameters.ConfigSource
	if cs.URI != url || cs.Digest["sha1"] != commit {
		t.Errorf("config source %+v, want %s at %s", cs, url, commit)
	}
	found := false
	for _, m := range materials(t, st.Predicate, "v1") {
		found = found || m.URI == git.HTTP+"/repo.git" && m.Digest["sha1"] == commit
	}
	if !found || len(p.BuildDefinition.ExternalParameters.Request.Locals) != 0 || !p.RunDetails.Metadata.Completeness["resolvedDependencies"] {
		t.Errorf("git context provenance:\n%s", st.Predicate)
	}
}
