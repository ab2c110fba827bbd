package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hoistbuild/hoist/internal/testutil"
	"github.com/hoistbuild/hoist/internal/testutil/prereq"
)

// runCase is one `hoist run --rm ARGS...` and what a user sees.
type runCase struct {
	name     string
	args     []string
	wantOut  string
	wantCode int
	wantErr  string // stderr contains it
}

func runCases(t *testing.T, root string, cases []runCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := hoist(t, root, "", append([]string{"run", "--rm"}, tc.args...)...)
			if res.code != tc.wantCode || res.stdout != tc.wantOut || !strings.Contains(res.stderr, tc.wantErr) {
				t.Errorf("hoist run --rm %q:\ngot code %d stdout %q stderr %q\nwant code %d stdout %q stderr containing %q",
					tc.args, res.code, res.stdout, res.stderr, tc.wantCode, tc.wantOut, tc.wantErr)
			}
		})
	}
}

// --add-host and --dns*: the expectations are what docker 20.10 wrote on the reference host
// (`docker run --rm --network none --add-host foo:1.2.3.4 --add-host bar:::1 --dns 9.9.9.9
// --dns-search example.com --dns-option ndots:2 busybox ...`): the extra hosts after the standard
// lines, in order, as "IP<tab>NAME"; resolv.conf rebuilt as search, nameservers, options; the host's
// nameserver kept when only the search list or options are given. Bad values exit 125 naming the flag.
func TestRunHostsAndDNS(t *testing.T) {
	root := containerRoot(t)
	hostNS := hostNameservers(t)
	runCases(t, root, []runCase{
		{"add-host and dns", []string{"--network", "none", "--add-host", "foo:1.2.3.4", "--add-host", "bar:::1",
			"--dns", "9.9.9.9", "--dns-search", "example.com", "--dns-option", "ndots:2", "busybox", "sh", "-c",
			"tail -n 2 /etc/hosts; cat /etc/resolv.conf"},
			"1.2.3.4\tfoo\n::1\tbar\nsearch example.com\nnameserver 9.9.9.9\noptions ndots:2\n", 0, ""},
		{"host network keeps the host's servers", []string{"--network", "host", "--dns-search", "a.com", "--dns-search", "b.com",
			"--dns-option", "ndots:3", "--dns-option", "rotate", "busybox", "cat", "/etc/resolv.conf"},
			"search a.com b.com\n" + hostNS + "options ndots:3 rotate\n", 0, ""},
		{"search dot", []string{"--network", "host", "--dns-search", ".", "busybox", "cat", "/etc/resolv.conf"}, hostNS, 0, ""},
		{"loopback dns warns", []string{"--network", "none", "--dns", "127.0.0.1", "busybox", "cat", "/etc/resolv.conf"},
			"nameserver 127.0.0.1\n", 0, "WARNING: Localhost DNS setting (--dns=127.0.0.1) may fail in containers."},
		{"bad add-host", []string{"--network", "none", "--add-host", "foo", "busybox", "true"}, "", 125,
			`invalid argument "foo" for "--add-host" flag: bad format for add-host: "foo"`},
		{"bad add-host ip", []string{"--network", "none", "--add-host", "foo:1.2.3", "busybox", "true"}, "", 125,
			`invalid IP address in add-host: "1.2.3"`},
		{"bad dns", []string{"--network", "none", "--dns", "1.2.3", "busybox", "true"}, "", 125,
			`"--dns" flag: 1.2.3 is not an ip address`},
	})
	// On the bridge, host-gateway is the bridge's address and the container's own line comes last,
	// after the extra hosts (docker: libnetwork writes the extra hosts, then the container's record).
	res := mustOK(t, hoist(t, root, "", "run", "--rm", "--name", "hd", "--add-host", "gw:host-gateway", "busybox", "sh", "-c",
		"tail -n 2 /etc/hosts"), "run --add-host gw:host-gateway")
	lines := strings.Split(strings.TrimSpace(res.stdout), "\n")
	if len(lines) != 2 || lines[0] != "10.89.0.1\tgw" || !strings.HasPrefix(lines[1], "10.89.") || !strings.HasSuffix(lines[1], " hd") {
		t.Errorf("bridge /etc/hosts tail and address: %q", res.stdout)
	}
	if res := mustOK(t, hoist(t, root, "", "create", "--name", "insp", "--network", "none", "--add-host", "db:10.0.0.5",
		"--dns", "9.9.9.9", "--dns-search", "x.org", "busybox", "true"), "create"); res.stdout == "" {
		t.Fatal("create printed no ID")
	}
	got := hoist(t, root, "", "inspect", "-f", "{{.HostConfig.ExtraHosts}} {{.HostConfig.Dns}} {{.HostConfig.DnsSearch}} {{.HostConfig.DnsOptions}}", "insp").stdout
	if got != "[db:10.0.0.5] [9.9.9.9] [x.org] []\n" {
		t.Errorf("inspect HostConfig: %q", got)
	}
}

// hostNameservers are the host's resolv.conf nameserver lines (kept by --network host).
func hostNameservers(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("/etc/resolv.conf")
	if err != nil {
		t.Fatal(err)
	}
	var out string
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "nameserver" {
			out += "nameserver " + f[1] + "\n"
		}
	}
	return out
}

// --mount, docker's CSV syntax, through the same rules as -v and --tmpfs. Expectations from docker
// 20.10 on the reference host: a single file bound read-only; a tmpfs with size and mode
// ("rw,nosuid,nodev,noexec,relatime,size=1024k,mode=1770", mode 1770); a volume filled from the
// image; every bad value exits 125 with docker's message.
func TestRunMount(t *testing.T) {
	root := containerRoot(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "f.txt")
	if err := os.WriteFile(file, []byte("hi\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	none := func(args ...string) []string { return append([]string{"--network", "none"}, args...) }
	runCases(t, root, []runCase{
		{"bind a file ro", none("--mount", "type=bind,src="+file+",dst=/f.txt,ro", "busybox", "sh", "-c", "cat /f.txt; echo x >> /f.txt || echo refused"),
			"hi\nrefused\n", 0, "Read-only file system"},
		{"tmpfs size and mode", none("--mount", "type=tmpfs,dst=/t,tmpfs-size=1m,tmpfs-mode=1770", "busybox", "sh", "-c",
			`grep " /t " /proc/mounts | cut -d" " -f4; stat -c %a /t`), "rw,nosuid,nodev,noexec,relatime,size=1024k,mode=1770\n1770\n", 0, ""},
		{"tmpfs ro", none("--mount", "type=tmpfs,dst=/t,ro", "busybox", "sh", "-c", `grep " /t " /proc/mounts | cut -d" " -f4`),
			"ro,nosuid,nodev,noexec,relatime\n", 0, ""},
		{"--tmpfs the same way", none("--tmpfs", "/t:size=1m", "busybox", "sh", "-c", `grep " /t " /proc/mounts | cut -d" " -f4`),
			"rw,nosuid,nodev,noexec,relatime,size=1024k\n", 0, ""},
		{"named volume", none("--mount", "src=mvol,dst=/etc", "busybox", "sh", "-c", "test -s /etc/passwd && echo filled"), "filled\n", 0, ""},
		{"volume nocopy", none("--mount", "src=mvol2,dst=/etc,volume-nocopy", "busybox", "ls", "/etc"), "", 0, ""},
		{"bind and -v on one target", none("--mount", "type=bind,src="+dir+",dst=/x", "-v", "/tmp:/x", "busybox", "true"), "", 125, "Duplicate mount point: /x"},
		{"missing source", none("--mount", "type=bind,src="+dir+"/nosuch,dst=/x", "busybox", "true"), "", 125,
			`invalid mount config for type "bind": bind source path does not exist: ` + dir + "/nosuch"},
		{"no target", none("--mount", "type=bind,src="+dir, "busybox", "true"), "", 125, "target is required"},
		{"unknown key", none("--mount", "type=bind,src="+dir+",dst=/x,foo=bar", "busybox", "true"), "", 125,
			`"--mount" flag: unexpected key 'foo' in 'foo=bar'`},
		{"mixed options", none("--mount", "type=bind,src="+dir+",dst=/x,tmpfs-size=1m", "busybox", "true"), "", 125,
			"cannot mix 'tmpfs-*' options with mount type 'bind'"},
		{"unknown type", none("--mount", "type=nfs,src="+dir+",dst=/x", "busybox", "true"), "", 125, `invalid mount config for type "nfs": mount type unknown`},
		{"bad propagation", none("--mount", "type=bind,src="+dir+",dst=/x,bind-propagation=bogus", "busybox", "true"), "", 125, "invalid propagation mode: bogus"},
		{"slave of a private mount", none("--mount", "type=bind,src="+dir+",dst=/x,bind-propagation=rslave", "busybox", "true"), "", 125,
			"is mounted on / but it is not a shared or slave mount"},
	})
	if res := hoist(t, root, "", "ps", "-aq"); res.stdout != "" {
		t.Errorf("failed creates left containers: %q", res.stdout)
	}
}

// bind-propagation=rslave: a mount made on the host under the source after the start appears
// inside; the same source bound with the default (rprivate) does not see it.
func TestRunMountPropagation(t *testing.T) {
	root := containerRoot(t)
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	// The reference host's mounts are all private: make dir a shared mount of its own.
	if err := unix.Mount(dir, dir, "", unix.MS_BIND, ""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = unix.Unmount(dir, unix.MNT_DETACH) })
	if err := unix.Mount("", dir, "", unix.MS_SHARED, ""); err != nil {
		t.Fatal(err)
	}
	mustOK(t, hoist(t, root, "", "run", "-d", "--name", "prop", "--network", "none",
		"--mount", "type=bind,src="+dir+",dst=/slave,bind-propagation=rslave", "--mount", "type=bind,src="+dir+",dst=/private",
		"busybox", "sleep", "120"), "run -d with an rslave mount")
	sub := filepath.Join(dir, "sub")
	if err := unix.Mount("tmpfs", sub, "tmpfs", 0, "size=1m"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = unix.Unmount(sub, unix.MNT_DETACH) })
	if err := os.WriteFile(filepath.Join(sub, "seen"), []byte("propagated\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	res := hoist(t, root, "", "exec", "prop", "sh", "-c", "cat /slave/sub/seen; ls /private/sub | wc -l; grep -c ' /slave .*master:' /proc/self/mountinfo")
	if res.code != 0 || res.stdout != "propagated\n0\n1\n" {
		t.Errorf("exec in the rslave container: %+v", res)
	}

	// The attack: a privileged container mounts over the slave bind (and over its / and the private
	// bind); propagation is one way, so no mount of the container may appear on the host.
	if err := os.Mkdir(filepath.Join(dir, "drop"), 0o755); err != nil {
		t.Fatal(err)
	}
	res = hoist(t, root, "", "run", "--rm", "--privileged", "--network", "none",
		"--mount", "type=bind,src="+dir+",dst=/slave,bind-propagation=rslave", "--mount", "type=bind,src="+dir+",dst=/private",
		"busybox", "sh", "-c", "mount -t tmpfs pwned /slave/drop && mount -t tmpfs pwned /private/drop && mkdir -p /x && mount -t tmpfs pwned /x && echo mounted")
	if res.code != 0 || res.stdout != "mounted\n" {
		t.Fatalf("the privileged container could not even mount (the probe did not run): %+v", res)
	}
	mi, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(mi), " pwned ") {
		t.Errorf("a container's mount reached the host through an rslave bind:\n%s", mi)
	}
	// The probe is real: under podman with an rshared bind (which hoist refuses) the same mount
	// reaches the host.
	prereq.Require(t, prereq.Podman)
	out, err := exec.Command("podman", "run", "--rm", "--privileged", "--network", "none",
		"--mount", "type=bind,src="+dir+",dst=/s,bind-propagation=rshared", "docker.io/library/busybox:latest",
		"mount", "-t", "tmpfs", "pwned", "/s/drop").CombinedOutput()
	if err != nil {
		t.Fatalf("podman probe: %v: %s", err, out)
	}
	t.Cleanup(func() { _ = unix.Unmount(filepath.Join(dir, "drop"), unix.MNT_DETACH) })
	if mi, err = os.ReadFile("/proc/self/mountinfo"); err != nil || !strings.Contains(string(mi), " pwned ") {
		t.Errorf("podman's rshared mount did not reach the host either (%v): the probe proves nothing", err)
	}
}

// --volumes-from: the other container's bind mounts and volumes at the same targets (not its
// tmpfs), :ro making them read-only; a -v on the same target wins; rm -v of the second container
// keeps the first one's anonymous volume. Docker 20.10: the same, and "No such container: nosuch",
// "invalid mode: xx", both exit 125.
func TestRunVolumesFrom(t *testing.T) {
	root := containerRoot(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "f"), []byte("host\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	mustOK(t, hoist(t, root, "", "create", "--name", "src", "--network", "none", "-v", dir+":/p", "-v", "/anon", "--tmpfs", "/t",
		"busybox", "true"), "create src")
	none := func(args ...string) []string { return append([]string{"--network", "none"}, args...) }
	runCases(t, root, []runCase{
		{"shared", none("--volumes-from", "src", "busybox", "sh", "-c", `cat /p/f; echo a > /anon/a; grep -cE " /(p|anon|t) " /proc/mounts`), "host\n2\n", 0, ""},
		{"ro", none("--volumes-from", "src:ro", "busybox", "sh", "-c", "cat /anon/a; touch /p/x || exit 4"), "a\n", 4, "Read-only file system"},
		{"-v wins", none("--volumes-from", "src", "-v", "/tmp:/p", "busybox", "sh", "-c", "test -e /p/f || echo other"), "other\n", 0, ""},
		{"no such container", none("--volumes-from", "nosuch", "busybox", "true"), "", 125, "such container: nosuch"}, // hoist says "no such container" everywhere
		{"bad mode", none("--volumes-from", "src:xx", "busybox", "true"), "", 125, "invalid mode: xx"},
	})
	mustOK(t, hoist(t, root, "", "run", "--name", "user", "--network", "none", "--volumes-from", "src", "busybox", "true"), "run user")
	mustOK(t, hoist(t, root, "", "rm", "-v", "user"), "rm -v user")
	res := hoist(t, root, "", "run", "--rm", "--network", "none", "--volumes-from", "src", "busybox", "cat", "/anon/a")
	if res.code != 0 || res.stdout != "a\n" {
		t.Errorf("src's anonymous volume after rm -v of a container sharing it: %+v", res)
	}
}

// --pull and --platform. Docker 20.10: --pull never with a missing image is "No such image:
// nosuchimg:latest", 125; a missing image with --pull missing prints "Unable to find image
// '...:latest' locally" on stderr, pulls (progress on stderr), runs; --pull always pulls first.
// Without --pull, hoist pulls a missing image as docker does (missing). --platform of a
// single-platform image of another platform is docker's "image with reference ... was found but does
// not match the specified platform", 125, with --pull never (missing pulls the platform's image, as
// docker does; platform_test.go runs other platforms of an index).
func TestRunPullAndPlatform(t *testing.T) {
	root := containerRoot(t)
	reg := testutil.Registry(t)
	mustOK(t, hoist(t, root, "", "push", "busybox", reg+"/library/bb:1"), "push")
	mustOK(t, hoist(t, root, "", "push", "busybox", reg+"/library/bb:2"), "push")
	img, img2 := reg+"/library/bb:1", reg+"/library/bb:2"
	host := "linux/" + runtime.GOARCH
	runCases(t, root, []runCase{
		{"never, missing", []string{"--network", "none", "--pull", "never", "nosuchimg", "true"}, "", 125, "No such image: nosuchimg:latest"},
		{"no policy: missing, docker's default", []string{"--network", "none", "--rm", img2, "true"}, "", 0,
			"Unable to find image '" + img2 + "' locally\n2: Pulling from " + reg + "/library/bb\n"},
		{"bad policy", []string{"--network", "none", "--pull", "sometimes", "busybox", "true"}, "", 125,
			`invalid pull option: 'sometimes': must be one of "always", "missing" or "never"`},
		{"missing pulls", []string{"--network", "none", "--pull", "missing", img, "echo", "ran"}, "ran\n", 0,
			"Unable to find image '" + img + "' locally\n1: Pulling from " + reg + "/library/bb\n"},
		{"missing, present", []string{"--network", "none", "--pull", "missing", img, "echo", "ran"}, "ran\n", 0, ""},
		{"always pulls", []string{"--network", "none", "--pull", "always", img, "echo", "ran"}, "ran\n", 0, "Status: Image is up to date for " + img},
		{"never, present", []string{"--network", "none", "--pull", "never", img, "echo", "ran"}, "ran\n", 0, ""},
		{"host platform", []string{"--network", "none", "--platform", host, "busybox", "echo", "ran"}, "ran\n", 0, ""},
		{"other platform", []string{"--network", "none", "--pull", "never", "--platform", "linux/s390x", "busybox", "true"}, "", 125,
			"image with reference busybox was found but does not match the specified platform: wanted linux/s390x, actual: " + host},
		{"other variant", []string{"--network", "none", "--pull", "never", "--platform", host + "/v9", "busybox", "true"}, "", 125,
			"does not match the specified platform: wanted " + host + "/v9"},
		{"unknown platform", []string{"--network", "none", "--platform", "linux/foo", "busybox", "true"}, "", 125,
			`--platform: unknown platform "linux/foo"`},
	})
	if res := hoist(t, root, "", "run", "--rm", "--network", "none", "--pull", "missing", img, "true"); strings.Contains(res.stderr, "Unable to find") {
		t.Errorf("--pull missing of a present image pulled again: %+v", res)
	}
}

// --cidfile and -a. Docker 20.10: the full ID (64 hex digits, no newline) in the file; an existing
// file is "container ID file found, make sure the other container isn't running or delete FILE",
// 125, and no file is left by a failed create; -a stdout shows only stdout, -a stderr only stderr;
// -a bogus names the flag; -a with -d conflicts.
func TestRunCIDFileAndAttach(t *testing.T) {
	root := containerRoot(t)
	cid := filepath.Join(t.TempDir(), "cid")
	res := mustOK(t, hoist(t, root, "", "run", "-d", "--network", "none", "--cidfile", cid, "busybox", "true"), "run --cidfile")
	if b, err := os.ReadFile(cid); err != nil || string(b) != strings.TrimSpace(res.stdout) || len(b) != 64 {
		t.Errorf("cidfile %q (%v), run printed %q", b, err, res.stdout)
	}
	failed := filepath.Join(t.TempDir(), "failed")
	runCases(t, root, []runCase{
		{"existing cidfile", []string{"--network", "none", "--cidfile", cid, "busybox", "true"}, "", 125,
			"container ID file found, make sure the other container isn't running or delete " + cid},
		{"failed create", []string{"--network", "none", "--cidfile", failed, "--pull", "never", "nosuchimg", "true"}, "", 125, "No such image"},
		{"stdout only", []string{"--network", "none", "-a", "stdout", "busybox", "sh", "-c", "echo out; echo err >&2"}, "out\n", 0, ""},
		{"stderr only", []string{"--network", "none", "-a", "STDERR", "busybox", "sh", "-c", "echo out; echo err >&2"}, "", 0, "err\n"},
		{"bad stream", []string{"--network", "none", "-a", "bogus", "busybox", "true"}, "", 125,
			`invalid argument "bogus" for "-a, --attach" flag: valid streams are STDIN, STDOUT and STDERR`},
		{"with -d", []string{"-d", "--network", "none", "-a", "stdout", "busybox", "true"}, "", 125, "Conflicting options: -a and -d"},
	})
	if _, err := os.Stat(failed); err == nil {
		t.Error("a failed create left its cidfile")
	}
	if res := hoist(t, root, "", "run", "--rm", "--network", "none", "-a", "stderr", "busybox", "sh", "-c", "echo out; echo err >&2"); res.stderr != "err\n" || res.stdout != "" {
		t.Errorf("-a stderr: %+v", res)
	}
}

// --log-opt max-size/max-file and --log-driver. Docker 20.10 (max-size=1k, max-file=3, 100 lines of
// 32 bytes): three files of ~1 KiB (json.log, .1, .2), `logs` prints the 30 newest lines in order,
// `logs --tail 2` the last two; inspect shows {"Type":"json-file","Config":{"max-file":"3",
// "max-size":"1k"}}; --log-driver none keeps nothing and `logs` fails with "configured logging
// driver does not support reading", exit 1; bad options exit 125 with the daemon's message.
func TestRunLogOptions(t *testing.T) {
	root := containerRoot(t)
	mustOK(t, hoist(t, root, "", "run", "--name", "lg", "--network", "none", "--log-opt", "max-size=1k", "--log-opt", "max-file=3",
		"busybox", "sh", "-c", "for i in $(seq 1 100); do echo line-$i-xxxxxxxxxxxxxxxxxxxxxxxx; done"), "run with rotation")
	logPath := strings.TrimSpace(hoist(t, root, "", "inspect", "-f", "{{.LogPath}}", "lg").stdout)
	files, _ := filepath.Glob(logPath + "*")
	if len(files) != 3 {
		t.Errorf("log files %q, want 3 (docker: -json.log, .1, .2)", files)
	}
	out := hoist(t, root, "", "logs", "lg").stdout
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if n := len(lines); n < 25 || n > 35 || lines[n-1] != "line-100-xxxxxxxxxxxxxxxxxxxxxxxx" ||
		lines[0] != "line-"+strconv.Itoa(101-n)+"-xxxxxxxxxxxxxxxxxxxxxxxx" {
		t.Errorf("logs across rotated files: %d lines, %q ... %q (docker: 30, line-71 ... line-100)", n, lines[0], lines[n-1])
	}
	if got := hoist(t, root, "", "logs", "--tail", "2", "lg").stdout; got != "line-99-xxxxxxxxxxxxxxxxxxxxxxxx\nline-100-xxxxxxxxxxxxxxxxxxxxxxxx\n" {
		t.Errorf("logs --tail 2: %q", got)
	}
	if got := hoist(t, root, "", "inspect", "-f", "{{.HostConfig.LogConfig.Type}} {{json .HostConfig.LogConfig.Config}}", "lg").stdout; got != `json-file {"max-file":"3","max-size":"1k"}`+"\n" {
		t.Errorf("inspect LogConfig: %q", got)
	}
	res := hoist(t, root, "", "run", "--name", "nolog", "--network", "none", "--log-driver", "none", "busybox", "echo", "hi")
	if res.code != 0 || res.stdout != "hi\n" {
		t.Errorf("run --log-driver none: %+v", res)
	}
	if res := hoist(t, root, "", "logs", "nolog"); res.code != 1 || !strings.Contains(res.stderr, "configured logging driver does not support reading") {
		t.Errorf("logs of a --log-driver none container: %+v", res)
	}
	runCases(t, root, []runCase{
		{"unknown opt", []string{"--network", "none", "--log-opt", "foo=bar", "busybox", "true"}, "", 125, "unknown log opt 'foo' for json-file log driver"},
		{"bad size", []string{"--network", "none", "--log-opt", "max-size=abc", "busybox", "true"}, "", 125, "invalid size: 'abc'"},
		{"max-file 0", []string{"--network", "none", "--log-opt", "max-file=0", "--log-opt", "max-size=1k", "busybox", "true"}, "", 125, "max-file cannot be less than 1"},
		{"other driver", []string{"--network", "none", "--log-driver", "syslog", "busybox", "true"}, "", 125, "--log-driver syslog is not supported"},
	})
}

// stop/restart -s (docker 23's --signal; docker 20.10 has no -s): the signal replaces the stop
// signal for this stop; a bad one exits 125 before anything is stopped.
func TestStopRestartSignal(t *testing.T) {
	root := containerRoot(t)
	script := `trap "echo got-usr1; exit 3" USR1; echo up; while true; do sleep 0.1; done`
	mustOK(t, hoist(t, root, "", "run", "-d", "--name", "sg", "--network", "none", "busybox", "sh", "-c", script), "run -d")
	waitFor(t, 10*time.Second, "the trap to be set", func() bool { return strings.Contains(hoist(t, root, "", "logs", "sg").stdout, "up") })
	if res := hoist(t, root, "", "stop", "-s", "BOGUS", "sg"); res.code != 125 || !strings.Contains(res.stderr, "BOGUS") {
		t.Errorf("stop -s BOGUS: %+v", res)
	}
	start := time.Now()
	if res := mustOK(t, hoist(t, root, "", "stop", "-s", "USR1", "sg"), "stop -s USR1"); res.stdout != "sg\n" {
		t.Errorf("stop -s USR1 printed %q", res.stdout)
	}
	if d := time.Since(start); d > 8*time.Second {
		t.Errorf("stop -s USR1 took %v: the signal did not end it", d)
	}
	if got := hoist(t, root, "", "inspect", "-f", "{{.State.ExitCode}}", "sg").stdout; got != "3\n" {
		t.Errorf("exit code after stop -s USR1: %q, want 3 (the trap's)", got)
	}
	mustOK(t, hoist(t, root, "", "start", "sg"), "start")
	waitFor(t, 10*time.Second, "the second start", func() bool {
		return strings.Count(hoist(t, root, "", "logs", "sg").stdout, "up") == 2
	})
	mustOK(t, hoist(t, root, "", "restart", "-s", "SIGUSR1", "sg"), "restart -s SIGUSR1")
	if logs := hoist(t, root, "", "logs", "sg").stdout; strings.Count(logs, "got-usr1") != 2 {
		t.Errorf("logs after restart -s: %q, want two got-usr1", logs)
	}
	if got := hoist(t, root, "", "inspect", "-f", "{{.State.Status}}", "sg").stdout; got != "running\n" {
		t.Errorf("status after restart: %q", got)
	}
}

// commit -p (docker's default): a running container's cgroup is frozen while its changes are read
// and thawed after; --pause=false never freezes it. Seen from the host through the container's
// freezer (v1 freezer.state, v2 cgroup.events), polled while a commit of ~40 MB runs.
func TestCommitPause(t *testing.T) {
	root := containerRoot(t)
	id := strings.TrimSpace(mustOK(t, hoist(t, root, "", "run", "-d", "--network", "none", "busybox", "sh", "-c",
		"head -c 40000000 /dev/urandom > /big; echo ready; while :; do sleep 0.05; done"), "run -d").stdout)
	waitFor(t, 60*time.Second, "the container's file", func() bool { return strings.Contains(hoist(t, root, "", "logs", id).stdout, "ready") })
	state := freezerStateFile(t, id)
	for _, tc := range []struct {
		flag       string
		wantFrozen bool
	}{{"--pause=true", true}, {"--pause=false", false}, {"-p", true}} {
		sawFrozen := make(chan bool)
		stop := make(chan struct{})
		go func() {
			saw := false
			for {
				select {
				case <-stop:
					sawFrozen <- saw
					return
				default:
				}
				if b, err := os.ReadFile(state); err == nil && (strings.Contains(string(b), "FROZEN") || strings.Contains(string(b), "frozen 1")) {
					saw = true
				}
				time.Sleep(2 * time.Millisecond)
			}
		}()
		res := hoist(t, root, "", "commit", tc.flag, id)
		close(stop)
		if saw := <-sawFrozen; res.code != 0 || saw != tc.wantFrozen {
			t.Errorf("commit %s: %+v; frozen during the commit: %v, want %v", tc.flag, res, saw, tc.wantFrozen)
		}
		if b, _ := os.ReadFile(state); strings.Contains(string(b), "FROZEN") || strings.Contains(string(b), "frozen 1") {
			t.Errorf("commit %s left the container frozen: %q", tc.flag, b)
		}
	}
	if got := hoist(t, root, "", "exec", id, "echo", "alive"); got.stdout != "alive\n" {
		t.Errorf("exec after the commits: %+v", got)
	}
}

// freezerStateFile is the file that tells whether container id's cgroup is frozen.
func freezerStateFile(t *testing.T, id string) string {
	t.Helper()
	for _, pattern := range []string{"/sys/fs/cgroup/freezer/hoist/" + id + "/freezer.state", "/sys/fs/cgroup/freezer/*/hoist/" + id + "/freezer.state",
		"/sys/fs/cgroup/freezer/*/*/hoist/" + id + "/freezer.state", "/sys/fs/cgroup/hoist/" + id + "/cgroup.events"} {
		if m, _ := filepath.Glob(pattern); len(m) == 1 {
			return m[0]
		}
	}
	t.Fatalf("no freezer state file for container %s", id)
	return ""
}

// search --filter and --format against a loopback registry's catalog. Docker 20.10 searches only
// Docker Hub, so the expectations are docker's documented fields and renderings: .Name,
// .Description, .StarCount ("0"), .IsOfficial/.IsAutomated ("[OK]" or ""); stars=N is a minimum;
// a catalog has no stars and no official or automated repositories.
func TestSearchFilterFormat(t *testing.T) {
	root := containerRoot(t)
	reg := testutil.Registry(t)
	mustOK(t, hoist(t, root, "", "push", "busybox", reg+"/library/sbox:1"), "push")
	mustOK(t, hoist(t, root, "", "push", "busybox", reg+"/team/sbox:1"), "push")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--format", "{{.Name}}|{{.Description}}|{{.StarCount}}|{{.IsOfficial}}|{{.IsAutomated}}"},
			reg + "/library/sbox||0||\n" + reg + "/team/sbox||0||\n"},
		{[]string{"--filter", "is-official=false", "--filter", "stars=0", "--format", "{{.Name}}"}, reg + "/library/sbox\n" + reg + "/team/sbox\n"},
		{[]string{"--filter", "stars=1", "--format", "{{.Name}}"}, ""},
		// docker's table writer: columns at least 10 wide, 3 spaces of padding
		{[]string{"--filter", "is-automated=true"}, "NAME      DESCRIPTION   STARS     OFFICIAL   AUTOMATED\n"},
		{[]string{"--limit", "1", "--format", "table {{.Name}}\t{{.StarCount}}"}, "NAME" + strings.Repeat(" ", len(reg)+13+3-4) + "STARS\n" + reg + "/library/sbox   0\n"},
	} {
		res := hoist(t, root, "", append([]string{"search"}, append(c.args, reg+"/sbox")...)...)
		if res.code != 0 || res.stdout != c.want {
			t.Errorf("search %q: %+v\nwant stdout %q", c.args, res, c.want)
		}
	}
	for _, f := range []string{"foo=bar", "stars=abc", "is-official=maybe"} {
		if res := hoist(t, root, "", "search", "--filter", f, reg+"/sbox"); res.code == 0 || !strings.Contains(res.stderr, "invalid filter '"+strings.Split(f, "=")[0]) {
			t.Errorf("search --filter %s: %+v", f, res)
		}
	}
}
