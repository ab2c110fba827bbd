package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hoistbuild/hoist/internal/testutil"
)

// cosignEnv names a cosign binary (2.x) for TestCosignInterop.
const cosignEnv = "HOIST_COSIGN"

// runCosign runs cosign with COSIGN_PASSWORD=pw in dir.
func runCosign(t *testing.T, bin, dir, pw string, args ...string) result {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "COSIGN_PASSWORD="+pw)
	return runCmd(t, cmd, "")
}

// TestCosignInterop runs the real cosign against hoist, both ways: cosign verify accepts what hoist
// signed with hoist's keys, hoist sign uses cosign's key pair, hoist verify accepts what cosign
// signed, and cosign refuses an image hoist signed that was changed afterwards.
//
// It runs only when HOIST_COSIGN names a cosign binary (for example one built with
// `go install github.com/sigstore/cosign/v2/cmd/cosign@v2.6.5`); CI has no cosign and does not set
// it, so there the test returns at once: it is not a prerequisite skip, which strict mode would turn
// into a failure. What CI checks without cosign are the recorded expectations in
// push/sign/testdata/cosign (TestRecordedCosignSignature, TestRecordedCosignKey).
func TestCosignInterop(t *testing.T) {
	bin := os.Getenv(cosignEnv)
	if bin == "" {
		t.Logf("%s is not set: the live cosign interop check does not run (the recorded cosign expectations do, in push/sign)", cosignEnv)
		return
	}
	root := newRoot(t)
	reg := testutil.Registry(t)
	dir := t.TempDir()
	const pw = "interop"
	env := []string{"COSIGN_PASSWORD=" + pw}
	verifyFlags := []string{"--insecure-ignore-tlog", "--allow-insecure-registry"}

	// hoist's key pair, hoist's signature, cosign's verify.
	mustOK(t, hoistEnv(t, root, env, "generate-key-pair", "--output-key-prefix", filepath.Join(dir, "hoist")), "hoist generate-key-pair")
	mustOK(t, hoist(t, root, "", "push", "busybox", reg+"/interop/a:1"), "push")
	mustOK(t, hoistEnv(t, root, env, "sign", "--key", filepath.Join(dir, "hoist.key"), "-a", "by=hoist", reg+"/interop/a:1"), "hoist sign")
	r := runCosign(t, bin, dir, pw, append([]string{"verify", "--key", "hoist.pub", "-a", "by=hoist"}, append(verifyFlags, reg+"/interop/a:1")...)...)
	if r.code != 0 || !strings.Contains(r.stdout, `"by":"hoist"`) {
		t.Errorf("cosign verify of hoist's signature: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	hoistOut := mustOK(t, hoistEnv(t, root, nil, "verify", "--key", filepath.Join(dir, "hoist.pub"), "-a", "by=hoist", reg+"/interop/a:1"), "hoist verify")
	if hoistOut.stdout != r.stdout {
		t.Errorf("verify's stdout differs from cosign's:\nhoist:  %s\ncosign: %s", hoistOut.stdout, r.stdout)
	}

	// cosign's key pair, hoist's signature (cosign reads nothing hoist wrote but the signature).
	if r := runCosign(t, bin, dir, pw, "generate-key-pair"); r.code != 0 {
		t.Fatalf("cosign generate-key-pair: %s", r.stderr)
	}
	mustOK(t, hoist(t, root, "", "push", "busybox", reg+"/interop/b:1"), "push")
	mustOK(t, hoistEnv(t, root, env, "sign", "--key", filepath.Join(dir, "cosign.key"), reg+"/interop/b:1"), "hoist sign with cosign's key")
	if r := runCosign(t, bin, dir, pw, append([]string{"verify", "--key", "cosign.pub"}, append(verifyFlags, reg+"/interop/b:1")...)...); r.code != 0 {
		t.Errorf("cosign verify of hoist's signature with cosign's key: exit %d\n%s", r.code, r.stderr)
	}

	// cosign's signature, hoist's verify; then both sign the same image and both verify the two.
	mustOK(t, hoist(t, root, "", "push", "busybox", reg+"/interop/c:1"), "push")
	if r := runCosign(t, bin, dir, pw, "sign", "--key", "cosign.key", "--tlog-upload=false", "--allow-insecure-registry", "-y", reg+"/interop/c:1"); r.code != 0 {
		t.Fatalf("cosign sign: %s", r.stderr)
	}
	mustOK(t, hoistEnv(t, root, nil, "verify", "--key", filepath.Join(dir, "cosign.pub"), reg+"/interop/c:1"), "hoist verify of cosign's signature")
	mustFail(t, hoistEnv(t, root, nil, "verify", "--key", filepath.Join(dir, "hoist.pub"), reg+"/interop/c:1"), 1, "does not verify", "hoist verify of cosign's signature with another key")
	mustOK(t, hoistEnv(t, root, env, "sign", "--key", filepath.Join(dir, "hoist.key"), reg+"/interop/c:1"), "hoist sign after cosign")
	for _, pub := range []string{"cosign.pub", "hoist.pub"} {
		if r := runCosign(t, bin, dir, pw, append([]string{"verify", "--key", pub}, append(verifyFlags, reg+"/interop/c:1")...)...); r.code != 0 {
			t.Errorf("cosign verify --key %s after both signed: exit %d\n%s", pub, r.code, r.stderr)
		}
		mustOK(t, hoistEnv(t, root, nil, "verify", "--key", filepath.Join(dir, pub), reg+"/interop/c:1"), "hoist verify --key "+pub+" after both signed")
	}

	// The image and its signatures copied to another repository: the payloads' docker-reference
	// names interop/c, and cosign still accepts them (it does not compare the name); so does hoist.
	digestFile := filepath.Join(t.TempDir(), "digest")
	mustOK(t, hoist(t, root, "", "push", "--digestfile", digestFile, "busybox", reg+"/interop/d:1"), "push")
	d, _ := os.ReadFile(digestFile)
	sigTag := ":" + strings.Replace(string(d), ":", "-", 1) + ".sig"
	copySignatures(t, reg+"/interop/c"+sigTag, reg+"/interop/d"+sigTag)
	r = runCosign(t, bin, dir, pw, append([]string{"verify", "--key", "cosign.pub"}, append(verifyFlags, reg+"/interop/d:1")...)...)
	if r.code != 0 || !strings.Contains(r.stdout, reg+"/interop/c") {
		t.Errorf("cosign verify of signatures copied to another repository: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if h := mustOK(t, hoistEnv(t, root, nil, "verify", "--key", filepath.Join(dir, "cosign.pub"), reg+"/interop/d:1"), "hoist verify of copied signatures"); h.stdout != r.stdout {
		t.Errorf("verify's stdout differs from cosign's:\nhoist:  %s\ncosign: %s", h.stdout, r.stdout)
	}

	// An image changed and re-pushed under the signed tag: cosign refuses it too.
	ctxDir := writeContext(t, map[string]string{"Dockerfile": "FROM busybox\nLABEL changed=yes\n"})
	mustOK(t, hoist(t, root, "", "build", "-q", "-t", "changed", ctxDir), "build")
	mustOK(t, hoist(t, root, "", "push", "changed", reg+"/interop/a:1"), "re-push")
	if r := runCosign(t, bin, dir, pw, append([]string{"verify", "--key", "hoist.pub"}, append(verifyFlags, reg+"/interop/a:1")...)...); r.code == 0 {
		t.Errorf("cosign verify accepted a changed image:\n%s", r.stdout)
	}
	mustFail(t, hoistEnv(t, root, nil, "verify", "--key", filepath.Join(dir, "hoist.pub"), reg+"/interop/a:1"), 1, "no signatures found", "hoist verify of a changed image")
}
