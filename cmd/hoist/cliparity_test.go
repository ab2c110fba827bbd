package main

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// Issue 11: what a docker user types works the same, with docker's output and exit status.

// A single file can be bind-mounted (docker: the file is there, read-only with :ro).
func TestBindMountFile(t *testing.T) {
	root := containerRoot(t)
	f := filepath.Join(t.TempDir(), "f.txt")
	if err := os.WriteFile(f, []byte("hello file\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	res := hoist(t, root, "", "run", "--rm", "--network", "none", "-v", f+":/f.txt:ro", "busybox",
		"sh", "-c", "cat /f.txt; echo x >> /f.txt || echo refused")
	if res.code != 0 || !strings.HasPrefix(res.stdout, "hello file\n") || !strings.HasSuffix(res.stdout, "refused\n") {
		t.Errorf("run -v FILE:/f.txt:ro: %+v", res)
	}
	if b, _ := os.ReadFile(f); string(b) != "hello file\n" {
		t.Errorf("the bound file changed: %q", b)
	}
}

// --format keeps integers exact (docker: 104857600, not 1.048576e+08); inspect of several names
// prints what it found, then the error, exit status 1.
func TestInspectFormatAndMissing(t *testing.T) {
	root := containerRoot(t)
	mustOK(t, hoist(t, root, "", "create", "--name", "mm", "-m", "100m", "busybox"), "create")
	if res := hoist(t, root, "", "inspect", "-f", "{{.HostConfig.Memory}}", "mm"); res.stdout != "104857600\n" || res.code != 0 {
		t.Errorf("inspect -f {{.HostConfig.Memory}}: %+v, want 104857600", res)
	}
	if res := hoist(t, root, "", "inspect", "-f", "{{json .HostConfig.Memory}}", "mm"); res.stdout != "104857600\n" {
		t.Errorf("inspect -f {{json .HostConfig.Memory}}: %+v", res)
	}
	res := hoist(t, root, "", "inspect", "-f", "{{.Name}}", "mm", "nosuch")
	if res.stdout != "/mm\n" || res.stderr != "Error: No such object: nosuch\n" || res.code != 1 {
		t.Errorf("inspect mm nosuch: %+v, want /m then docker's error, exit 1", res)
	}
	res = hoist(t, root, "", "inspect", "nosuch", "busybox")
	var got []map[string]any
	if err := json.Unmarshal([]byte(res.stdout), &got); err != nil || len(got) != 1 || res.code != 1 {
		t.Errorf("inspect nosuch busybox: %+v (%v), want busybox's JSON and exit 1", res, err)
	}
}

// ps: {{json .}} and json are JSON objects with docker's keys; -l and -n include stopped
// containers; COMMAND is quoted and escaped as docker shows it.
func TestPsFormats(t *testing.T) {
	root := containerRoot(t)
	mustOK(t, hoist(t, root, "", "create", "--name", "c1", "busybox", "sh", "-c", "echo hi\nthere; sleep 1000"), "create")
	res := mustOK(t, hoist(t, root, "", "ps", "-l"), "ps -l")
	lines := strings.Split(strings.TrimSpace(res.stdout), "\n")
	if len(lines) != 2 || !strings.Contains(lines[1], `"sh -c 'echo hi\nther…"`) || !strings.HasSuffix(lines[1], "c1") ||
		!strings.Contains(lines[1], "Created") {
		t.Errorf("ps -l:\n%s", res.stdout)
	}
	if !strings.HasPrefix(lines[0], "CONTAINER ID   IMAGE     COMMAND ") {
		t.Errorf("ps header %q, want docker's column widths", lines[0])
	}
	for _, f := range []string{"{{json .}}", "json"} {
		res := mustOK(t, hoist(t, root, "", "ps", "-a", "--format", f), "ps --format "+f)
		var row map[string]any
		if err := json.Unmarshal([]byte(res.stdout), &row); err != nil {
			t.Errorf("ps --format %s: %q is not JSON: %v", f, res.stdout, err)
			continue
		}
		if row["Names"] != "c1" || row["State"] != "created" || row["Command"] != `"sh -c 'echo hi\nther…"` ||
			row["Networks"] != "bridge" || row["LocalVolumes"] != "0" {
			t.Errorf("ps --format %s: %v", f, row)
		}
	}
	if res := hoist(t, root, "", "run", "--name", "c2", "--network", "none", "busybox", "sh", "-c", "exit 3"); res.code != 3 {
		t.Fatalf("run: %+v", res)
	}
	if res := hoist(t, root, "", "ps", "-n", "2", "--format", "{{.Names}} {{.State}}"); res.stdout != "c2 exited\nc1 created\n" {
		t.Errorf("ps -n 2: %+v", res)
	}
	if res := hoist(t, root, "", "ps", "-a", "--filter", "exited=3", "-q"); len(strings.TrimSpace(res.stdout)) != 12 {
		t.Errorf("ps --filter exited=3: %+v", res)
	}
	if res := hoist(t, root, "", "ps", "-a", "--filter", "before=c2", "--format", "{{.Names}}"); res.stdout != "c1\n" {
		t.Errorf("ps --filter before=c2: %+v", res)
	}
	if res := hoist(t, root, "", "ps", "-a", "--filter", "since=c1", "--format", "{{.Names}}"); res.stdout != "c2\n" {
		t.Errorf("ps --filter since=c1: %+v", res)
	}
	if res := hoist(t, root, "", "ps", "-a", "-s", "--no-trunc", "--filter", "name=c1"); !strings.Contains(res.stdout, "SIZE") {
		t.Errorf("ps -s: %+v", res)
	}
}

// rm -f of a missing container is not a failure (cleanup scripts under set -e); a flag error exits
// 125 in every command, with docker's usage hint.
func TestRmForceMissingAndFlagErrors(t *testing.T) {
	root := containerRoot(t)
	res := hoist(t, root, "", "rm", "-f", "nosuch")
	if res.code != 0 || res.stderr != "Error response from daemon: no such container: nosuch\n" {
		t.Errorf("rm -f nosuch: %+v, want exit 0", res)
	}
	if res := hoist(t, root, "", "rm", "nosuch"); res.code != 1 {
		t.Errorf("rm nosuch: %+v, want exit 1", res)
	}
	for _, args := range [][]string{{"ps", "--bogus"}, {"images", "--bogus"}, {"rm", "--bogus", "x"}, {"image", "ls", "--bogus"},
		{"logs", "--bogus", "x"}, {"build", "--bogus", "."}, {"run", "--bogus", "busybox"}} {
		res := hoist(t, root, "", args...)
		if res.code != 125 || !strings.HasPrefix(res.stderr, "unknown flag: --bogus\n\nUsage:  hoist ") ||
			!strings.Contains(res.stderr, "--help' for more information") {
			t.Errorf("hoist %q: %+v, want exit 125 and docker's usage hint", args, res)
		}
	}
}

// images -a, --filter, --format; history --format and -H=false.
func TestImagesFiltersAndFormats(t *testing.T) {
	root := containerRoot(t)
	mustOK(t, hoist(t, root, "", "tag", "busybox", "other:1"), "tag")
	mustOK(t, hoist(t, root, "", "commit", mustOK(t, hoist(t, root, "", "create", "busybox"), "create").stdout[:12]), "commit")
	id := strings.TrimSpace(mustOK(t, hoist(t, root, "", "images", "-q", "busybox"), "images -q").stdout)
	all := mustOK(t, hoist(t, root, "", "images", "-a", "--format", "{{.Repository}}:{{.Tag}}"), "images -a").stdout
	if all != "<none>:<none>\nbusybox:latest\nother:1\n" && all != "<none>:<none>\nother:1\nbusybox:latest\n" {
		t.Errorf("images -a --format: %q", all)
	}
	if q := hoist(t, root, "", "images", "-a", "-q").stdout; len(strings.Fields(q)) != 3 {
		t.Errorf("images -a -q: %q, want one ID per row as docker", q)
	}
	for filter, want := range map[string]string{"dangling=true": "<none>\n", "reference=busy*": "busybox\n",
		"reference=*:1": "other\n", "before=busybox": "", "label=nosuch": ""} {
		if res := hoist(t, root, "", "images", "--filter", filter, "--format", "{{.Repository}}"); res.stdout != want || res.code != 0 {
			t.Errorf("images --filter %s: %+v, want %q", filter, res, want)
		}
	}
	if res := hoist(t, root, "", "images", "--filter", "bogus=1"); res.code != 1 || !strings.Contains(res.stderr, "invalid filter 'bogus'") {
		t.Errorf("images --filter bogus=1: %+v", res)
	}
	res := mustOK(t, hoist(t, root, "", "images", "--format", "json", "busybox"), "images --format json")
	var row map[string]any
	if err := json.Unmarshal([]byte(res.stdout), &row); err != nil || row["ID"] != id || row["Repository"] != "busybox" {
		t.Errorf("images --format json: %q (%v)", res.stdout, err)
	}
	res = mustOK(t, hoist(t, root, "", "history", "--format", "{{.ID}} {{.Size}}", "busybox"), "history --format")
	if !regexp.MustCompile(`^[0-9a-f]{12} [0-9.]+[kM]?B\n$`).MatchString(res.stdout) {
		t.Errorf("history --format: %q", res.stdout)
	}
	res = mustOK(t, hoist(t, root, "", "history", "-H=false", "busybox"), "history -H=false")
	if !regexp.MustCompile(`(?m)^IMAGE +CREATED AT +CREATED BY +SIZE +COMMENT\n[0-9a-f]{12} +\d{4}-\d\d-\d\dT[0-9:]+(Z|[+-]\d\d:\d\d) .* \d+ `).MatchString(res.stdout) {
		t.Errorf("history -H=false:\n%s", res.stdout)
	}
}

// docker's management commands: `image ls`, `container rm`, ... are the same commands.
func TestManagementGroups(t *testing.T) {
	root := containerRoot(t)
	if a, b := hoist(t, root, "", "image", "ls"), hoist(t, root, "", "images"); a.code != 0 || a.stdout != b.stdout {
		t.Errorf("image ls: %+v, want images' output %q", a, b.stdout)
	}
	id := strings.TrimSpace(mustOK(t, hoist(t, root, "", "container", "create", "--name", "gg", "busybox"), "container create").stdout)
	if res := mustOK(t, hoist(t, root, "", "container", "ls", "-a", "-q", "--no-trunc"), "container ls"); strings.TrimSpace(res.stdout) != id {
		t.Errorf("container ls -a -q: %+v, want %s", res, id)
	}
	if res := mustOK(t, hoist(t, root, "", "container", "inspect", "-f", "{{.Name}}", "gg"), "container inspect"); res.stdout != "/gg\n" {
		t.Errorf("container inspect: %+v", res)
	}
	if res := hoist(t, root, "", "container", "inspect", "busybox"); res.code != 1 || res.stderr != "Error: No such container: busybox\n" {
		t.Errorf("container inspect of an image: %+v", res)
	}
	if res := mustOK(t, hoist(t, root, "", "image", "inspect", "-f", "{{.Os}}", "busybox"), "image inspect"); res.stdout != "linux\n" {
		t.Errorf("image inspect: %+v", res)
	}
	mustOK(t, hoist(t, root, "", "image", "tag", "busybox", "x:1"), "image tag")
	if res := mustOK(t, hoist(t, root, "", "image", "rm", "x:1"), "image rm"); res.stdout != "Untagged: x:1\n" {
		t.Errorf("image rm: %+v", res)
	}
	if res := mustOK(t, hoist(t, root, "", "container", "rm", "gg"), "container rm"); res.stdout != "gg\n" {
		t.Errorf("container rm: %+v", res)
	}
	if res := hoist(t, root, "", "image", "bogus"); res.code != 1 || !strings.HasPrefix(res.stderr, "unknown command: hoist image bogus") {
		t.Errorf("image bogus: %+v", res)
	}
	mustOK(t, hoist(t, root, "", "create", "--name", "stopped", "busybox"), "create")
	if res := mustOK(t, hoist(t, root, "", "container", "prune", "-f"), "container prune"); !strings.HasPrefix(res.stdout, "Deleted Containers:\n") {
		t.Errorf("container prune -f: %+v", res)
	}
	if res := hoist(t, root, "", "ps", "-aq"); res.stdout != "" {
		t.Errorf("after container prune: %+v", res)
	}
}

// commit -m sets the image's Comment and -a its Author.
func TestCommitMessage(t *testing.T) {
	root := containerRoot(t)
	mustOK(t, hoist(t, root, "", "create", "--name", "cc", "busybox"), "create")
	mustOK(t, hoist(t, root, "", "commit", "-m", "my message", "-a", "Jo <jo@example.com>", "cc", "committed:1"), "commit")
	res := hoist(t, root, "", "image", "inspect", "-f", "{{.Comment}}|{{.Author}}", "committed:1")
	if res.stdout != "my message|Jo <jo@example.com>\n" {
		t.Errorf("inspect of the committed image: %+v", res)
	}
	if res := hoist(t, root, "", "history", "--format", "{{.Comment}}", "committed:1"); !strings.HasPrefix(res.stdout, "my message\n") {
		t.Errorf("history of the committed image: %+v", res)
	}
}

// import --change and commit -c use the Dockerfile parser: `ENV A=1 B=2` is two variables, `LABEL
// a=1 b=2` two labels, as docker gives; an instruction docker refuses there is refused.
func TestChangesUseDockerfileParser(t *testing.T) {
	root := containerRoot(t)
	dir := t.TempDir()
	tarPath := filepath.Join(dir, "fs.tar")
	hoist(t, root, "", "create", "--name", "src", "busybox")
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Name: "hello", Mode: 0o644, Size: 3}); err != nil {
		t.Fatal(err)
	}
	if _, err := tw.Write([]byte("hi\n")); err != nil || tw.Close() != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(tarPath, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	mustOK(t, hoist(t, root, "", "import", "--change", "ENV A=1 B=2", "--change", "LABEL a=1 b=2", tarPath, "imp:1"), "import")
	res := hoist(t, root, "", "inspect", "-f", "{{json .Config.Env}} {{json .Config.Labels}}", "imp:1")
	if res.stdout != `["A=1","B=2"] {"a":"1","b":"2"}`+"\n" {
		t.Errorf("import --change: %+v", res)
	}
	res = hoist(t, root, "", "import", "--change", "RUN true", tarPath, "imp:2")
	if res.code != 1 || !strings.Contains(res.stderr, "run is not a valid change command") {
		t.Errorf("import --change 'RUN true': %+v", res)
	}
	mustOK(t, hoist(t, root, "", "commit", "-c", "ENV X=1 Y=$X", "-c", `LABEL "k k"="v v" z=9`, "-c", "CMD echo hi", "src", "com:1"), "commit")
	res = hoist(t, root, "", "inspect", "-f", "{{json .Config.Env}} {{json .Config.Labels}} {{json .Config.Cmd}}", "com:1")
	if !strings.HasSuffix(res.stdout, `"X=1","Y="] {"k k":"v v","z":"9"} ["/bin/sh","-c","echo hi"]`+"\n") {
		t.Errorf("commit -c: %+v", res)
	}
}

// cp C:/dir/. DEST copies the directory's contents (into DEST, created when missing), as docker
// does; errors name container paths, never the host path of the container's root.
func TestCpDirContents(t *testing.T) {
	root := containerRoot(t)
	mustOK(t, hoist(t, root, "", "run", "-d", "--network", "none", "--name", "cpbox", "busybox", "sh", "-c",
		"mkdir -p /dir/sub && echo a > /dir/a && echo b > /dir/sub/b && sleep 60"), "run")
	waitFor(t, 10*time.Second, "/dir/sub/b", func() bool {
		return hoist(t, root, "", "exec", "cpbox", "cat", "/dir/sub/b").stdout == "b\n"
	})
	dest := t.TempDir()
	for _, d := range []string{filepath.Join(dest, "new"), dest} {
		if res := hoist(t, root, "", "cp", "cpbox:/dir/.", d); res.code != 0 {
			t.Fatalf("cp cpbox:/dir/. %s: %+v", d, res)
		}
		a, _ := os.ReadFile(filepath.Join(d, "a"))
		b, _ := os.ReadFile(filepath.Join(d, "sub", "b"))
		if string(a) != "a\n" || string(b) != "b\n" {
			t.Errorf("cp cpbox:/dir/. %s: a=%q sub/b=%q", d, a, b)
		}
		if _, err := os.Stat(filepath.Join(d, "dir")); err == nil {
			t.Errorf("cp cpbox:/dir/. %s made %s/dir", d, d)
		}
	}
	res := hoist(t, root, "", "cp", "cpbox:/nosuch", dest)
	if res.code != 1 || res.stderr != "Error: Could not find the file /nosuch in container cpbox\n" {
		t.Errorf("cp of a missing path: %+v", res)
	}
	res = hoist(t, root, "", "cp", filepath.Join(dest, "a"), "cpbox:/nosuchdir/x")
	if res.code != 1 || strings.Contains(res.stderr, "/proc/") || !strings.Contains(res.stderr, "/nosuchdir") {
		t.Errorf("cp into a missing directory: %+v", res)
	}
	src := t.TempDir()
	if err := os.WriteFile(filepath.Join(src, "q"), []byte("q\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	mustOK(t, hoist(t, root, "", "cp", src+"/.", "cpbox:/newdir"), "cp SRC/. into the container")
	if res := hoist(t, root, "", "exec", "cpbox", "cat", "/newdir/q"); res.stdout != "q\n" {
		t.Errorf("cp SRC/. cpbox:/newdir: %+v", res)
	}
	// Into an existing directory: the contents, not the directory (docker: /dir/q, no /dir/<src>).
	mustOK(t, hoist(t, root, "", "cp", src+"/.", "cpbox:/dir"), "cp SRC/. into an existing directory")
	res = hoist(t, root, "", "exec", "cpbox", "ls", "/dir")
	if res.stdout != "a\nq\nsub\n" {
		t.Errorf("cp SRC/. cpbox:/dir: ls /dir = %q, want a q sub", res.stdout)
	}
}

// top CONTAINER [ps OPTIONS] runs the host's ps with the options and shows the container's rows:
// docker's default -ef columns with user names, or the columns the options ask for.
func TestTopPsOptions(t *testing.T) {
	root := containerRoot(t)
	mustOK(t, hoist(t, root, "", "run", "-d", "--network", "none", "--name", "topbox", "busybox", "sleep", "60"), "run")
	res := mustOK(t, hoist(t, root, "", "top", "topbox"), "top")
	if !regexp.MustCompile(`^UID +PID +PPID +C +STIME +TTY +TIME +CMD\nroot +\d+ +\d+ .* sleep 60\n$`).MatchString(res.stdout) {
		t.Errorf("top:\n%s", res.stdout)
	}
	res = mustOK(t, hoist(t, root, "", "top", "topbox", "-o", "pid,comm"), "top -o pid,comm")
	if !regexp.MustCompile(`^PID                 COMMAND\n\d+ +sleep\n$`).MatchString(res.stdout) {
		t.Errorf("top -o pid,comm:\n%q", res.stdout)
	}
}

// --version and -v print the version line and exit 0, as `docker --version` does (scripts check
// for the tool with it); the version command prints the same line.
func TestVersionFlag(t *testing.T) {
	root := t.TempDir()
	want := hoist(t, root, "", "version")
	if want.code != 0 || !strings.HasPrefix(want.stdout, "hoist version ") {
		t.Fatalf("hoist version: %+v", want)
	}
	for _, flag := range []string{"--version", "-v"} {
		if got := hoist(t, root, "", flag); got != want {
			t.Errorf("hoist %s: %+v, want %+v", flag, got, want)
		}
	}
}
