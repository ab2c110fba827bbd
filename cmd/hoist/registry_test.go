package main

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"math/rand"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/hoistbuild/hoist/internal/testutil"
)

// rootState lists a hoist root's blobs (with content hashes), temp files and image index, to show a
// failed command stored nothing.
func rootState(t *testing.T, root string) string {
	t.Helper()
	var out []string
	for _, d := range []string{"blobs", "tmp"} {
		filepath.WalkDir(filepath.Join(root, d), func(p string, e os.DirEntry, err error) error {
			if err == nil && !e.IsDir() {
				b, _ := os.ReadFile(p)
				s := sha256.Sum256(b)
				out = append(out, strings.TrimPrefix(p, root)+" "+hex.EncodeToString(s[:]))
			}
			return nil
		})
	}
	idx, _ := os.ReadFile(filepath.Join(root, "images.json"))
	sort.Strings(out)
	return strings.Join(out, "\n") + "\n" + string(idx)
}

// TestRegistryCommands runs the registry commands against an open docker-registry: push with
// --digestfile, a no-op re-push, a push to another repository that mounts the layers (distribution
// honours the mount: no layer is uploaded), manifest inspect, search, pull -q, pull --all-tags.
func TestRegistryCommands(t *testing.T) {
	root := newRoot(t)
	reg := testutil.Registry(t)
	ctxDir := writeContext(t, map[string]string{"Dockerfile": "FROM busybox\nRUN echo hi > /hi\n"})
	mustOK(t, hoist(t, root, "", "build", "-q", "-t", "app:1", ctxDir), "build")
	digestFile := filepath.Join(t.TempDir(), "digest")
	r := mustOK(t, hoist(t, root, "", "push", "--digestfile", digestFile, "app:1", reg+"/team/app:1"), "push")
	d, _ := os.ReadFile(digestFile)
	if !strings.HasPrefix(string(d), "sha256:") || !strings.Contains(r.stdout, "1: digest: "+string(d)+" size: ") {
		t.Errorf("push printed %q, digest file %q", r.stdout, d)
	}
	if n := strings.Count(r.stderr, ": Pushed"); n != 2 {
		t.Errorf("first push: %d layers pushed, want 2:\n%s", n, r.stderr)
	}
	r = mustOK(t, hoist(t, root, "", "push", "app:1", reg+"/team/app:1"), "re-push")
	if strings.Contains(r.stderr, "Pushing") {
		t.Errorf("no-op re-push uploaded:\n%s", r.stderr)
	}
	mustOK(t, hoist(t, root, "", "tag", "app:1", reg+"/team/app:1"), "tag")
	mustOK(t, hoist(t, root, "", "tag", "app:1", reg+"/team/app:2"), "tag")
	r = mustOK(t, hoist(t, root, "", "push", "--all-tags", reg+"/team/app"), "push --all-tags")
	if !strings.Contains(r.stdout, "1: digest:") || !strings.Contains(r.stdout, "2: digest:") {
		t.Errorf("push --all-tags printed %q", r.stdout)
	}
	r = mustOK(t, hoist(t, root, "", "push", "app:1", "docker://"+reg+"/other/app:1"), "push to another repository")
	if strings.Contains(r.stderr, "Pushing") {
		t.Errorf("push to another repository uploaded layers instead of mounting them:\n%s", r.stderr)
	}
	r = mustOK(t, hoist(t, root, "", "manifest", "inspect", reg+"/other/app:1"), "manifest inspect")
	if !strings.Contains(r.stdout, `"schemaVersion": 2`) || !strings.Contains(r.stdout, "layers") {
		t.Errorf("manifest inspect printed %q", r.stdout)
	}
	r = mustOK(t, hoist(t, root, "", "search", reg+"/app"), "search")
	if !strings.Contains(r.stdout, "NAME") || !strings.Contains(r.stdout, reg+"/team/app") || !strings.Contains(r.stdout, reg+"/other/app") {
		t.Errorf("search printed %q", r.stdout)
	}
	other := t.TempDir()
	r = mustOK(t, hoist(t, other, "", "pull", "-q", reg+"/team/app:1"), "pull -q")
	if r.stdout != reg+"/team/app:1\n" {
		t.Errorf("pull -q printed %q", r.stdout)
	}
	mustOK(t, hoist(t, other, "", "pull", "--all-tags", reg+"/team/app"), "pull --all-tags")
	imgs := mustOK(t, hoist(t, other, "", "images"), "images").stdout
	if !strings.Contains(imgs, "team/app   1") || !strings.Contains(imgs, "team/app   2") {
		t.Errorf("after pull --all-tags:\n%s", imgs)
	}
}

// TestRegistryTLSAuth uses a docker-registry with htpasswd basic auth behind TLS with a CA made by the
// test, trusted through a certs.d directory.
func TestRegistryTLSAuth(t *testing.T) {
	root := newRoot(t)
	ca := testutil.NewCA(t)
	reg := testutil.RegistryWith(t, testutil.RegistryConfig{TLSCert: ca.ServerCert, TLSKey: ca.ServerKey, Htpasswd: testutil.Htpasswd(t, "alice", "s3cret")})
	certs := t.TempDir()
	auth := filepath.Join(t.TempDir(), "config.json")
	flags := []string{"--authfile", auth, "--cert-dir", certs}

	// Without the CA: a one-line TLS error.
	r := hoist(t, root, "s3cret", append([]string{"login", "-u", "alice", "--password-stdin", reg}, flags...)...)
	if r.code == 0 || !strings.Contains(r.stderr, "certificate") || strings.Count(r.stderr, "\n") != 1 {
		t.Fatalf("login without the CA: exit %d, %q", r.code, r.stderr)
	}
	os.MkdirAll(filepath.Join(certs, reg), 0o755)
	b, _ := os.ReadFile(ca.CACert)
	os.WriteFile(filepath.Join(certs, reg, "ca.crt"), b, 0o644)

	r = hoist(t, root, "", append([]string{"push", "busybox", reg + "/private/bb:1"}, flags...)...)
	if r.code == 0 || !strings.Contains(r.stderr, "hoist login") {
		t.Errorf("push before login: exit %d, %q", r.code, r.stderr)
	}
	r = hoist(t, root, "wrong", append([]string{"login", "-u", "alice", "--password-stdin", reg}, flags...)...)
	if r.code == 0 || !strings.Contains(r.stderr, "wrong username or password") || strings.Count(r.stderr, "\n") != 1 {
		t.Errorf("login with a wrong password: exit %d, %q", r.code, r.stderr)
	}
	if _, err := os.Stat(auth); err == nil {
		t.Errorf("a refused login wrote the auth file")
	}
	r = mustOK(t, hoist(t, root, "s3cret\n", append([]string{"login", "-u", "alice", "--password-stdin", reg}, flags...)...), "login")
	if !strings.Contains(r.stdout, "Login Succeeded") {
		t.Errorf("login printed %q", r.stdout)
	}
	mustOK(t, hoist(t, root, "", append([]string{"push", "busybox", reg + "/private/bb:1"}, flags...)...), "push after login")
	other := t.TempDir()
	mustOK(t, hoist(t, other, "", append([]string{"pull", reg + "/private/bb:1"}, flags...)...), "pull after login")
	r = mustOK(t, hoist(t, root, "", "logout", "--authfile", auth, reg), "logout")
	if !strings.Contains(r.stdout, "Removing login credentials for "+reg) {
		t.Errorf("logout printed %q", r.stdout)
	}
	r = hoist(t, t.TempDir(), "", append([]string{"pull", reg + "/private/bb:1"}, flags...)...)
	if r.code == 0 {
		t.Errorf("pull after logout succeeded")
	}
}

// faultProxy forwards to a registry and, at random (seeded), answers 500 or 429 or drops the
// connection in the middle of a blob body (download or upload). A request path is failed at most
// twice, so retries always get through.
type faultProxy struct {
	proxy  *httputil.ReverseProxy
	mu     sync.Mutex
	rnd    *rand.Rand
	seen   map[string]int
	faults map[string]int
}

func newFaultProxy(t *testing.T, target string) (string, *faultProxy) {
	u, _ := url.Parse("http://" + target)
	fp := &faultProxy{proxy: httputil.NewSingleHostReverseProxy(u), rnd: rand.New(rand.NewSource(4)), seen: map[string]int{}, faults: map[string]int{}}
	fp.proxy.ErrorLog = nil
	srv := httptest.NewServer(fp)
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://"), fp
}

func (f *faultProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	key := r.Method + " " + r.URL.Path
	f.mu.Lock()
	fault := ""
	if r.URL.Path != "/v2/" && f.seen[key] < 2 && f.rnd.Intn(100) < 35 {
		kinds := []string{"500", "429"}
		if strings.Contains(r.URL.Path, "/blobs/") && r.Method != http.MethodHead {
			kinds = append(kinds, "drop", "drop")
		}
		fault = kinds[f.rnd.Intn(len(kinds))]
		f.seen[key]++
		f.faults[fault]++
	}
	f.mu.Unlock()
	switch fault {
	case "500":
		http.Error(w, `{"errors":[{"code":"UNKNOWN","message":"injected"}]}`, http.StatusInternalServerError)
	case "429":
		http.Error(w, `{"errors":[{"code":"TOOMANYREQUESTS","message":"injected"}]}`, http.StatusTooManyRequests)
	case "drop":
		if r.Method == http.MethodPatch || r.Method == http.MethodPut {
			io.CopyN(io.Discard, r.Body, 512) // read part of the upload, then hang up
			panic(http.ErrAbortHandler)
		}
		f.proxy.ServeHTTP(&halfWriter{ResponseWriter: w}, r)
	default:
		f.proxy.ServeHTTP(w, r)
	}
}

// halfWriter passes the status and half of the first body write, then drops the connection.
type halfWriter struct {
	http.ResponseWriter
	wrote bool
}

func (h *halfWriter) Write(p []byte) (int, error) {
	if h.wrote || len(p) < 2 {
		return h.ResponseWriter.Write(p)
	}
	h.wrote = true
	h.ResponseWriter.Write(p[:len(p)/2])
	panic(http.ErrAbortHandler)
}

// TestRegistryFaultProxy pushes and pulls through a proxy that drops connections mid-blob and answers
// 500 and 429 at random: both complete and the pulled layers are bit-identical.
func TestRegistryFaultProxy(t *testing.T) {
	root := newRoot(t)
	reg := testutil.Registry(t)
	addr, fp := newFaultProxy(t, reg)
	ctxDir := writeContext(t, map[string]string{
		"Dockerfile": "FROM busybox\nCOPY big /big\nRUN head -c 3000000 /dev/urandom > /rand\n",
		"big":        strings.Repeat("hoist fault test\n", 200000),
	})
	mustOK(t, hoist(t, root, "", "build", "-q", "-t", "app:1", ctxDir), "build")
	ref := addr + "/flaky/app:1"
	mustOK(t, hoist(t, root, "", "push", "app:1", ref), "push through faults")
	other := t.TempDir()
	mustOK(t, hoist(t, other, "", "pull", ref), "pull through faults")
	if fp.faults["drop"] == 0 || fp.faults["500"] == 0 || fp.faults["429"] == 0 {
		t.Errorf("faults injected: %v", fp.faults)
	}
	want := mustOK(t, hoist(t, root, "", "inspect", "--format", "{{.Id}} {{.RootFS.Layers}}", "app:1"), "inspect").stdout
	got := mustOK(t, hoist(t, other, "", "inspect", "--format", "{{.Id}} {{.RootFS.Layers}}", ref), "inspect").stdout
	if got != want {
		t.Errorf("pulled image %q, pushed %q", got, want)
	}
	// Bit-identical: every blob of the pulled image equals the pushed one.
	for _, p := range strings.Fields(strings.TrimSpace(rootState(t, other))) {
		if strings.HasPrefix(p, "/blobs/sha256/") {
			a, _ := os.ReadFile(filepath.Join(other, p))
			b, err := os.ReadFile(filepath.Join(root, p))
			if err != nil || string(a) != string(b) {
				t.Errorf("blob %s differs or is missing in the source root", p)
			}
		}
	}
	t.Logf("faults injected: %v", fp.faults)
}

// TestRegistryBadInput: each failure is one clear line, a non-zero exit, and the store unchanged.
func TestRegistryBadInput(t *testing.T) {
	root := newRoot(t)
	reg := testutil.Registry(t)
	mustOK(t, hoist(t, root, "", "push", "busybox", reg+"/library/busybox:latest"), "push")
	// A proxy that loses one blob: the manifest points at a blob the registry does not have.
	lost := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/blobs/") {
			http.Error(w, `{"errors":[{"code":"BLOB_UNKNOWN","message":"blob unknown to registry"}]}`, http.StatusNotFound)
			return
		}
		u, _ := url.Parse("http://" + reg)
		httputil.NewSingleHostReverseProxy(u).ServeHTTP(w, r)
	}))
	t.Cleanup(lost.Close)
	lostAddr := strings.TrimPrefix(lost.URL, "http://")
	other := t.TempDir()
	mustOK(t, hoist(t, other, "", "images"), "images") // creates the store
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"pull", "Not//Valid"}, "invalid reference"},
		{[]string{"pull", "127.0.0.1:1/library/busybox"}, "cannot connect"},
		{[]string{"pull", reg + "/library/busybox:nope"}, "manifest unknown"},
		{[]string{"pull", reg + "/no/such/repo"}, "not found"},
		{[]string{"pull", lostAddr + "/library/busybox"}, "blob unknown"},
		{[]string{"push", "no-such-image:1", reg + "/x:1"}, "no such image"},
		{[]string{"pull", "--platform", "linux/s390x", reg + "/library/busybox"}, ""},
	} {
		before := rootState(t, other)
		r := hoist(t, other, "", tc.args...)
		if tc.want == "" { // single-platform image: --platform only matters for an index
			continue
		}
		// Progress lines may precede it; the error itself is one line.
		if r.code == 0 || !strings.Contains(lastErrorLine(r.stderr), tc.want) || strings.Count(r.stderr, "Error") != 1 {
			t.Errorf("%v: exit %d, stderr %q; want one line containing %q", tc.args, r.code, r.stderr, tc.want)
		}
		if after := rootState(t, other); after != before {
			t.Errorf("%v changed the store", tc.args)
		}
	}
}
