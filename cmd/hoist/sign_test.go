package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/hoistbuild/hoist/internal/testutil"
	"github.com/hoistbuild/hoist/push/sign"
)

// hoistEnv is hoist with extra environment variables (COSIGN_PASSWORD) and no stdin.
func hoistEnv(t *testing.T, root string, env []string, args ...string) result {
	t.Helper()
	cmd := hoistCmd(root, args...)
	if cmd.Env == nil {
		cmd.Env = os.Environ()
	}
	cmd.Env = append(cmd.Env, env...)
	return runCmd(t, cmd, "")
}

// mustFail checks a refused command: the exit status and one error naming the reason.
func mustFail(t *testing.T, r result, code int, want, what string) {
	t.Helper()
	if r.code != code || !strings.Contains(r.stderr, want) {
		t.Errorf("%s: exit %d, stderr:\n%s\nwant exit %d and %q", what, r.code, r.stderr, code, want)
	}
	if r.stdout != "" {
		t.Errorf("%s: printed %q on stdout", what, r.stdout)
	}
}

// TestSignVerify walks generate-key-pair, sign and verify through the CLI against a docker-registry,
// then the attacks verify must refuse: another key, an image changed and re-pushed under the signed
// tag, the old signature replayed under the changed image's signature tag.
func TestSignVerify(t *testing.T) {
	root := newRoot(t)
	reg := testutil.Registry(t)
	keys := t.TempDir()
	pw := []string{"COSIGN_PASSWORD=test password"}
	mustOK(t, hoistEnv(t, root, pw, "generate-key-pair", "--output-key-prefix", filepath.Join(keys, "cosign")), "generate-key-pair")
	key0, _ := os.ReadFile(filepath.Join(keys, "cosign.key"))
	mustFail(t, hoistEnv(t, root, pw, "generate-key-pair", "--output-key-prefix", filepath.Join(keys, "cosign")), 1, "already exists: give --force", "generate-key-pair over existing files")
	if key1, _ := os.ReadFile(filepath.Join(keys, "cosign.key")); !bytes.Equal(key0, key1) {
		t.Error("a refused generate-key-pair changed cosign.key")
	}
	mustOK(t, hoistEnv(t, root, pw, "generate-key-pair", "--output-key-prefix", filepath.Join(keys, "other")), "second key pair")
	key, pub, otherPub := filepath.Join(keys, "cosign.key"), filepath.Join(keys, "cosign.pub"), filepath.Join(keys, "other.pub")

	digestFile := filepath.Join(t.TempDir(), "digest")
	mustOK(t, hoist(t, root, "", "push", "--digestfile", digestFile, "busybox", reg+"/team/app:1"), "push")
	digest, _ := os.ReadFile(digestFile)
	img := reg + "/team/app:1"
	mustFail(t, hoistEnv(t, root, pw, "verify", "--key", pub, img), 1, "Error: no signatures found for "+reg+"/team/app@"+string(digest), "verify before signing")

	mustFail(t, hoistEnv(t, root, []string{"COSIGN_PASSWORD=wrong"}, "sign", "--key", key, img), 1, "wrong password for the private key", "sign with a wrong password")
	r := mustOK(t, hoistEnv(t, root, pw, "sign", "--key", key, "-a", "build=42", img), "sign")
	if !strings.Contains(r.stderr, "Pushing signature to: "+reg+"/team/app\n") {
		t.Errorf("sign printed:\n%s", r.stderr)
	}
	r = mustOK(t, hoistEnv(t, root, nil, "verify", "--key", pub, "-a", "build=42", img), "verify")
	var payloads []struct {
		Critical struct {
			Identity struct {
				DockerReference string `json:"docker-reference"`
			}
			Image struct {
				DockerManifestDigest string `json:"docker-manifest-digest"`
			}
			Type string
		}
		Optional map[string]string
	}
	if err := json.Unmarshal([]byte(r.stdout), &payloads); err != nil || len(payloads) != 1 {
		t.Fatalf("verify printed %q: %v", r.stdout, err)
	}
	if p := payloads[0]; p.Critical.Image.DockerManifestDigest != string(digest) || p.Critical.Identity.DockerReference != reg+"/team/app" ||
		p.Critical.Type != "cosign container image signature" || p.Optional["build"] != "42" {
		t.Errorf("verified payload %+v, want digest %s", p, digest)
	}
	for _, want := range []string{"Verification for " + img + " --", "The following checks were performed on each of these signatures:",
		"  - The specified annotations were verified.", "  - The cosign claims were validated", "  - The signatures were verified against the specified public key"} {
		if !strings.Contains(r.stderr, want+"\n") {
			t.Errorf("verify's stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	mustFail(t, hoistEnv(t, root, nil, "verify", "--key", pub, "-a", "build=43", img), 1, "missing or incorrect annotation build=43", "verify -a build=43")
	mustFail(t, hoistEnv(t, root, nil, "verify", "--key", otherPub, img), 1, "Error: no matching signatures for", "verify with another key")
	mustFail(t, hoistEnv(t, root, nil, "verify", "--key", otherPub, img), 1, "does not verify with the public key", "verify with another key")

	// Flags hoist does not implement are errors naming them (125, as other flag errors).
	mustFail(t, hoistEnv(t, root, pw, "sign", "--key", key, "--tlog-upload=true", img), 125, "--tlog-upload", "sign --tlog-upload=true")
	mustFail(t, hoistEnv(t, root, nil, "verify", "--key", pub, "--insecure-ignore-tlog=false", img), 125, "--insecure-ignore-tlog", "verify --insecure-ignore-tlog=false")
	mustFail(t, hoistEnv(t, root, nil, "verify", img), 125, "--key is required", "verify without --key")
	mustFail(t, hoistEnv(t, root, nil, "verify", "--key", "k8s://ns/secret", img), 125, "only key files", "verify --key k8s://")
	mustFail(t, hoistEnv(t, root, nil, "verify", "--key", pub, "--output", "text", img), 125, "unknown flag: --output", "verify --output")

	// The signed tag re-pushed with a changed image (its config differs): nothing signed it.
	ctxDir := writeContext(t, map[string]string{"Dockerfile": "FROM busybox\nLABEL changed=yes\n"})
	mustOK(t, hoist(t, root, "", "build", "-q", "-t", "changed", ctxDir), "build")
	mustOK(t, hoist(t, root, "", "push", "--digestfile", digestFile, "changed", img), "re-push under the signed tag")
	d2, _ := os.ReadFile(digestFile)
	mustFail(t, hoistEnv(t, root, nil, "verify", "--key", pub, img), 1, "Error: no signatures found for "+reg+"/team/app@"+string(d2), "verify a changed image")

	// The original signature then replayed under the changed image's signature tag.
	copySignatures(t, reg+"/team/app:sha256-"+strings.TrimPrefix(string(digest), "sha256:")+".sig",
		reg+"/team/app:sha256-"+strings.TrimPrefix(string(d2), "sha256:")+".sig")
	mustFail(t, hoistEnv(t, root, nil, "verify", "--key", pub, img), 1, "payload signs "+string(digest)+", not this image ("+string(d2)+")", "verify a replayed signature")
}

// copySignatures copies a signature manifest (and its blobs) to another tag, as an attacker with push
// access to the repository could.
func copySignatures(t *testing.T, src, dst string) {
	t.Helper()
	s, err := name.ParseReference(src, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	d, err := name.ParseReference(dst, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	img, err := remote.Image(s)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(d, img); err != nil {
		t.Fatal(err)
	}
}

// TestSignVerifyTLSAuth: sign and verify use push's registry access: a TLS registry trusted through
// certs.d and basic auth from the credentials hoist login wrote.
func TestSignVerifyTLSAuth(t *testing.T) {
	root := newRoot(t)
	ca := testutil.NewCA(t)
	reg := testutil.RegistryWith(t, testutil.RegistryConfig{TLSCert: ca.ServerCert, TLSKey: ca.ServerKey, Htpasswd: testutil.Htpasswd(t, "alice", "s3cret")})
	certs := t.TempDir()
	os.MkdirAll(filepath.Join(certs, reg), 0o755)
	b, _ := os.ReadFile(ca.CACert)
	os.WriteFile(filepath.Join(certs, reg, "ca.crt"), b, 0o644)
	flags := []string{"--authfile", filepath.Join(t.TempDir(), "config.json"), "--cert-dir", certs}
	keys := filepath.Join(t.TempDir(), "cosign")
	pw := []string{"COSIGN_PASSWORD="}
	mustOK(t, hoistEnv(t, root, pw, "generate-key-pair", "--output-key-prefix", keys), "generate-key-pair")
	mustOK(t, hoist(t, root, "s3cret", append([]string{"login", "-u", "alice", "--password-stdin", reg}, flags...)...), "login")
	img := reg + "/private/app:1"
	mustOK(t, hoist(t, root, "", append([]string{"push", "busybox", img}, flags...)...), "push")
	mustOK(t, hoistEnv(t, root, pw, append([]string{"sign", "--key", keys + ".key", img}, flags...)...), "sign")
	mustOK(t, hoistEnv(t, root, nil, append([]string{"verify", "--key", keys + ".pub", img}, flags...)...), "verify")
	mustFail(t, hoistEnv(t, root, nil, "verify", "--key", keys+".pub", "--cert-dir", certs, "--authfile", filepath.Join(t.TempDir(), "none.json"), img), 1, "hoist login", "verify without credentials")
}

// TestKeyPasswordPrompts: without $COSIGN_PASSWORD, generate-key-pair asks for the password twice on
// a terminal (not echoed) and refuses two different answers; without a terminal it reads all of
// stdin, trailing newline included, as cosign does.
func TestKeyPasswordPrompts(t *testing.T) {
	root := newRoot(t)
	dir := t.TempDir()
	cmd := func(prefix string) *exec.Cmd {
		c := hoistCmd(root, "generate-key-pair", "--output-key-prefix", filepath.Join(dir, prefix))
		if c.Env == nil {
			c.Env = os.Environ()
		}
		for i, e := range c.Env { // the caller's environment without COSIGN_PASSWORD
			if strings.HasPrefix(e, "COSIGN_PASSWORD=") {
				c.Env[i] = "HOIST_TEST_UNSET=1"
			}
		}
		return c
	}
	s := startCmdOnPty(t, cmd("tty"))
	s.expect("Enter password for private key: ")
	s.send("s3cret\n")
	s.expect("Enter password for private key again: ")
	s.send("s3cret\n")
	if code := s.wait(); code != 0 || strings.Contains(s.output(), "s3cret") {
		t.Errorf("generate-key-pair on a terminal: exit %d, terminal %q", code, s.output())
	}
	b, _ := os.ReadFile(filepath.Join(dir, "tty.key"))
	if _, err := sign.ParsePrivateKey(b, []byte("s3cret")); err != nil {
		t.Errorf("the key does not open with the password typed: %v", err)
	}

	s = startCmdOnPty(t, cmd("mismatch"))
	s.expect("Enter password for private key: ")
	s.send("one\n")
	s.expect("again: ")
	s.send("two\n")
	if code := s.wait(); code != 1 || !strings.Contains(s.output(), "Error: passwords do not match") {
		t.Errorf("two different passwords: exit %d, terminal %q", code, s.output())
	}
	if _, err := os.Stat(filepath.Join(dir, "mismatch.key")); err == nil {
		t.Error("a refused generate-key-pair wrote mismatch.key")
	}

	c := cmd("stdin")
	c.Stdin = strings.NewReader("piped\n")
	if out, err := c.CombinedOutput(); err != nil {
		t.Fatalf("generate-key-pair with the password on stdin: %v\n%s", err, out)
	}
	b, _ = os.ReadFile(filepath.Join(dir, "stdin.key"))
	if _, err := sign.ParsePrivateKey(b, []byte("piped\n")); err != nil {
		t.Errorf("the key does not open with all of stdin as the password: %v", err)
	}
}
