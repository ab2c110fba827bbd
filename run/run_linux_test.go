package run_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hoistbuild/hoist/run"
	"github.com/moby/sys/user"
	"golang.org/x/sys/unix"
)

const testPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// dockerCaps is what /proc/self/status shows for docker's default set.
const dockerCaps = "00000000a80425fb"

func sh(script string) []string { return []string{"sh", "-c", script} }

func TestRun(t *testing.T) {
	requireRoot(t)
	rootfs := newRootfs(t)
	hostNet, err := os.ReadDir("/sys/class/net")
	if err != nil {
		t.Fatal(err)
	}
	var hostIfaces []string
	for _, e := range hostNet {
		hostIfaces = append(hostIfaces, e.Name())
	}
	tests := []struct {
		name       string
		spec       run.Spec // Rootfs and (when Env is nil) Env are filled in
		stdin      string
		wantCode   int
		wantStdout string
		wantStderr string
		wantErr    string // substring; "" means no error
		wantIs     error
	}{
		{name: "exit 0", spec: run.Spec{Args: sh("exit 0")}},
		{name: "exit 3", spec: run.Spec{Args: sh("exit 3")}, wantCode: 3},
		{
			// PID 1 ignores signals it sent itself, but not the kernel's
			// SIGKILL at the hard CPU limit.
			name:     "killed by SIGKILL",
			spec:     run.Spec{Args: sh("ulimit -t 1; while :; do :; done")},
			wantCode: 128 + 9,
		},
		{
			name:       "stdout and stderr",
			spec:       run.Spec{Args: sh("echo out; echo err >&2")},
			wantStdout: "out\n", wantStderr: "err\n",
		},
		{name: "stdin", spec: run.Spec{Args: []string{"cat"}}, stdin: "hello\n", wantStdout: "hello\n"},
		{name: "nil stdin is /dev/null", spec: run.Spec{Args: sh("cat; echo eof")}, wantStdout: "eof\n"},
		{
			name:       "env exactly as given",
			spec:       run.Spec{Args: []string{"/usr/bin/env"}, Env: []string{"B=2", "A=1", "HOME=/x", "EMPTY="}},
			wantStdout: "B=2\nA=1\nHOME=/x\nEMPTY=\n",
		},
		{
			name:       "HOME added for root",
			spec:       run.Spec{Args: []string{"env"}, Env: []string{testPath}},
			wantStdout: testPath + "\nHOME=/root\n",
		},
		{
			name:       "HOME added for user",
			spec:       run.Spec{Args: []string{"env"}, Env: []string{testPath}, User: "app"},
			wantStdout: testPath + "\nHOME=/home/app\n",
		},
		{
			name:       "HOME / without passwd entry",
			spec:       run.Spec{Args: []string{"env"}, Env: []string{testPath}, User: "4242"},
			wantStdout: testPath + "\nHOME=/\n",
		},
		{name: "cwd", spec: run.Spec{Args: []string{"pwd"}, Cwd: "/home/app"}, wantStdout: "/home/app\n"},
		{name: "default cwd", spec: run.Spec{Args: []string{"pwd"}}, wantStdout: "/\n"},
		{name: "missing cwd", spec: run.Spec{Args: []string{"pwd"}, Cwd: "/nope"}, wantCode: -1, wantErr: `chdir to cwd ("/nope")`},
		{name: "id root", spec: run.Spec{Args: []string{"id"}}, wantStdout: "uid=0(root) gid=0(root) groups=0(root)\n"},
		{name: "id nobody", spec: run.Spec{Args: []string{"id"}, User: "nobody"}, wantStdout: "uid=65534(nobody) gid=65534(nogroup) groups=65534(nogroup)\n"},
		{name: "id 1000", spec: run.Spec{Args: []string{"id"}, User: "1000"}, wantStdout: "uid=1000(app) gid=1000(app) groups=1000(app),2000(extra)\n"},
		{name: "id app", spec: run.Spec{Args: []string{"id"}, User: "app"}, wantStdout: "uid=1000(app) gid=1000(app) groups=1000(app),2000(extra)\n"},
		{name: "id 1000:2000", spec: run.Spec{Args: []string{"id"}, User: "1000:2000"}, wantStdout: "uid=1000(app) gid=2000(extra) groups=2000(extra)\n"},
		{name: "id app:extra", spec: run.Spec{Args: []string{"id"}, User: "app:extra"}, wantStdout: "uid=1000(app) gid=2000(extra) groups=2000(extra)\n"},
		{name: "id numeric without entry", spec: run.Spec{Args: []string{"id"}, User: "4242:4343"}, wantStdout: "uid=4242 gid=4343 groups=4343\n"},
		{
			name: "unknown user", spec: run.Spec{Args: []string{"id"}, User: "bob"}, wantCode: -1,
			wantErr: "unable to find user bob: no matching entries in passwd file", wantIs: user.ErrNoPasswdEntries,
		},
		{
			name: "unknown group", spec: run.Spec{Args: []string{"id"}, User: "app:nope"}, wantCode: -1,
			wantErr: "unable to find group nope: no matching entries in group file", wantIs: user.ErrNoGroupEntries,
		},
		{
			name: "command not found", spec: run.Spec{Args: []string{"foo"}}, wantCode: -1,
			wantErr: `exec: "foo": executable file not found in $PATH`, wantIs: exec.ErrNotFound,
		},
		{name: "absolute command missing", spec: run.Spec{Args: []string{"/nope"}}, wantCode: -1, wantErr: `exec: "/nope": stat /nope: no such file or directory`},
		{name: "not executable", spec: run.Spec{Args: []string{"/etc/passwd"}, User: "app"}, wantCode: -1, wantErr: `exec: "/etc/passwd": faccessat /etc/passwd: permission denied`},
		{
			name:       "hostname",
			spec:       run.Spec{Args: sh("hostname; cat /etc/hostname; head -1 /etc/hosts"), Hostname: "builder"},
			wantStdout: "builder\nbuilder\n127.0.0.1\tlocalhost builder\n",
		},
		{name: "default hostname", spec: run.Spec{Args: []string{"hostname"}}, wantStdout: run.DefaultHostname + "\n"},
		{name: "pid 1", spec: run.Spec{Args: sh("echo $$")}, wantStdout: "1\n"},
		{
			name:       "own pid namespace",
			spec:       run.Spec{Args: sh("exec ls -d /proc/[0-9]*")},
			wantStdout: "/proc/1\n",
		},
		{
			name: "proc dev and devpts work",
			spec: run.Spec{Args: sh(`test -c /dev/null && echo x >/dev/null && head -c 5 /dev/zero | wc -c &&
				test -c /dev/urandom && test -L /dev/ptmx && exec 3<>/dev/ptmx && ls /dev/pts &&
				grep -E '^[a-z]+ /dev(/pts|/shm|/mqueue)? ' /proc/mounts &&
				readlink /dev/fd && cat /proc/self/comm`)},
			wantStdout: "5\n0\nptmx\n" +
				"tmpfs /dev tmpfs rw,nosuid,size=65536k,mode=755 0 0\n" +
				"devpts /dev/pts devpts rw,nosuid,noexec,relatime,gid=5,mode=620,ptmxmode=666 0 0\n" +
				"shm /dev/shm tmpfs rw,nosuid,nodev,noexec,relatime,size=65536k 0 0\n" +
				"mqueue /dev/mqueue mqueue rw,nosuid,nodev,noexec,relatime 0 0\n" +
				"/proc/self/fd\ncat\n",
		},
		{
			name:       "proc and sys mounts",
			spec:       run.Spec{Args: sh("grep -E '^[a-z]+ /(proc|sys) ' /proc/mounts")},
			wantStdout: "proc /proc proc rw,nosuid,nodev,noexec,relatime 0 0\nsysfs /sys sysfs ro,nosuid,nodev,noexec,relatime 0 0\n",
		},
		{
			name:       "network none has only lo, up",
			spec:       run.Spec{Args: sh("ls /sys/class/net; cat /sys/class/net/lo/flags; cat /etc/resolv.conf"), Network: run.NetworkNone},
			wantStdout: "lo\n0x9\n# network none: no name servers\n",
		},
		{
			name:       "network host sees the host's interfaces",
			spec:       run.Spec{Args: []string{"ls", "/sys/class/net"}, Network: run.NetworkHost},
			wantStdout: strings.Join(hostIfaces, "\n") + "\n",
		},
		{
			name: "capabilities of root",
			spec: run.Spec{Args: []string{"grep", "^Cap", "/proc/self/status"}},
			wantStdout: "CapInh:\t0000000000000000\nCapPrm:\t" + dockerCaps + "\nCapEff:\t" + dockerCaps +
				"\nCapBnd:\t" + dockerCaps + "\nCapAmb:\t0000000000000000\n",
		},
		{
			name: "capabilities of a user",
			spec: run.Spec{Args: []string{"grep", "^Cap", "/proc/self/status"}, User: "app"},
			wantStdout: "CapInh:\t0000000000000000\nCapPrm:\t0000000000000000\nCapEff:\t0000000000000000" +
				"\nCapBnd:\t" + dockerCaps + "\nCapAmb:\t0000000000000000\n",
		},
		{
			name:       "umask",
			spec:       run.Spec{Args: sh("umask")},
			wantStdout: "0022\n",
		},
		{
			name:       "read-only rootfs",
			spec:       run.Spec{Args: sh("touch /tmp/x 2>&1 | grep -o 'Read-only file system'; echo ok > /dev/shm/f && cat /dev/shm/f"), ReadOnlyRootfs: true},
			wantStdout: "Read-only file system\nok\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := tt.spec
			spec.Rootfs = rootfs
			if spec.Env == nil {
				spec.Env = []string{testPath, "HOME=/root"}
			}
			res := sandbox(t, ctxTimeout(t, time.Minute), spec, tt.stdin, false)
			checkErr(t, res.err, tt.wantErr, tt.wantIs)
			if res.code != tt.wantCode {
				t.Errorf("exit code = %d, want %d (stderr %q)", res.code, tt.wantCode, res.stderr)
			}
			if res.stdout != tt.wantStdout {
				t.Errorf("stdout = %q, want %q", res.stdout, tt.wantStdout)
			}
			if res.stderr != tt.wantStderr {
				t.Errorf("stderr = %q, want %q", res.stderr, tt.wantStderr)
			}
		})
	}
}

func TestRunInvalidSpec(t *testing.T) {
	rootfs := t.TempDir()
	tests := []struct {
		name string
		spec run.Spec
	}{
		{"no args", run.Spec{Rootfs: rootfs}},
		{"empty argv0", run.Spec{Rootfs: rootfs, Args: []string{""}}},
		{"no rootfs", run.Spec{Args: []string{"true"}}},
		{"relative cwd", run.Spec{Rootfs: rootfs, Args: []string{"true"}, Cwd: "tmp"}},
		{"unknown network", run.Spec{Rootfs: rootfs, Args: []string{"true"}, Network: "bridge"}},
		{"unknown mount type", run.Spec{Rootfs: rootfs, Args: []string{"true"}, Mounts: []run.Mount{{Type: "nfs", Target: "/x"}}}},
		{"relative mount target", run.Spec{Rootfs: rootfs, Args: []string{"true"}, Mounts: []run.Mount{{Type: "tmpfs", Target: "x"}}}},
		{"bad bind option", run.Spec{Rootfs: rootfs, Args: []string{"true"}, Mounts: []run.Mount{{Type: "bind", Source: rootfs, Target: "/x", Options: []string{"size=1m"}}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := listing(t, rootfs)
			code, err := run.Run(context.Background(), tt.spec, run.IO{})
			if !errors.Is(err, run.ErrInvalidSpec) || code != -1 {
				t.Fatalf("Run = %d, %v; want -1, ErrInvalidSpec", code, err)
			}
			if after := listing(t, rootfs); after != before {
				t.Errorf("rootfs changed:\n%s", diffLines(before, after))
			}
		})
	}
}

func TestRunMounts(t *testing.T) {
	requireRoot(t)
	rootfs := newRootfs(t)
	src := t.TempDir()
	writeFile(t, filepath.Join(src, "hello"), "hi\n")
	conf := filepath.Join(t.TempDir(), "app.conf")
	writeFile(t, conf, "key=value\n")
	spec := run.Spec{
		Rootfs: rootfs,
		Env:    []string{testPath},
		Args: sh(`cat /data/in/hello; touch /data/in/x 2>&1 | grep -o 'Read-only file system';
			echo rw > /data/rw/w; cat /etc/app.conf; echo t > /scratch/f && cat /scratch/f;
			grep -E ' /(scratch|dev/shm|data/in|data/rw|etc/app.conf) ' /proc/mounts | awk '{
				n = split($4, o, ","); s = $2
				for (i = 1; i <= n; i++) if (o[i] ~ /^(ro|rw|nosuid|nodev|noexec|size=.*|mode=.*)$/) s = s " " o[i]
				print s }'`),
		Mounts: []run.Mount{
			{Type: "bind", Source: src, Target: "/data/in", ReadOnly: true},
			{Type: "bind", Source: src, Target: "/data/rw", Options: []string{"bind", "nosuid"}},
			{Type: "bind", Source: conf, Target: "/etc/app.conf", Options: []string{"ro"}},
			{Type: "tmpfs", Target: "/scratch", Options: []string{"nodev", "size=1m", "mode=0700"}},
			{Type: "tmpfs", Target: "/dev/shm", Options: []string{"size=2m"}}, // covers a standard mount
		},
	}
	res := sandbox(t, ctxTimeout(t, time.Minute), spec, "", false)
	checkErr(t, res.err, "", nil)
	want := "hi\nRead-only file system\nkey=value\nt\n" +
		"/dev/shm rw nosuid nodev noexec size=65536k\n" + // the standard one, then covered
		"/data/in ro\n" +
		"/data/rw rw nosuid\n" +
		"/etc/app.conf ro\n" +
		"/scratch rw nodev size=1024k mode=700\n" +
		"/dev/shm rw size=2048k\n"
	if res.code != 0 || res.stdout != want {
		t.Fatalf("Run = %d, stdout %q, stderr %q; want 0, %q", res.code, res.stdout, res.stderr, want)
	}
	if b, err := os.ReadFile(filepath.Join(src, "w")); err != nil || string(b) != "rw\n" {
		t.Errorf("write through the rw bind mount: %q, %v", b, err)
	}
	if _, err := os.Stat(filepath.Join(src, "x")); err == nil {
		t.Errorf("write through the read-only bind mount succeeded")
	}
}

// A rootfs that has its mount points already keeps them, untouched.
func TestRunKeepsExistingMountPoints(t *testing.T) {
	requireRoot(t)
	rootfs := newRootfs(t)
	for _, d := range []string{"proc", "sys", "dev"} {
		if err := os.Mkdir(filepath.Join(rootfs, d), 0o555); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(t, filepath.Join(rootfs, "etc/hosts"), "# image hosts\n")
	// resolv.conf is a symlink resolved inside the rootfs, to a missing file.
	if err := os.Symlink("/run/resolv.conf", filepath.Join(rootfs, "etc/resolv.conf")); err != nil {
		t.Fatal(err)
	}
	spec := run.Spec{Rootfs: rootfs, Env: []string{testPath}, Args: sh("cat /etc/hosts | wc -l; test -f /run/resolv.conf && echo resolv")}
	res := sandbox(t, ctxTimeout(t, time.Minute), spec, "", false)
	if res.err != nil || res.code != 0 || res.stdout != "2\nresolv\n" {
		t.Fatalf("Run = %d, %v, stdout %q, stderr %q", res.code, res.err, res.stdout, res.stderr)
	}
	if b, _ := os.ReadFile(filepath.Join(rootfs, "etc/hosts")); string(b) != "# image hosts\n" {
		t.Errorf("image /etc/hosts changed: %q", b)
	}
}

// Mount points created for the run are removed, but what the command wrote
// next to them stays, and a parent the command changed keeps its new mtime.
func TestRunStubsKeepCommandChanges(t *testing.T) {
	requireRoot(t)
	rootfs := t.TempDir()
	if err := os.Mkdir(filepath.Join(rootfs, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	copyFile(t, busybox(t), filepath.Join(rootfs, "bin/busybox"), 0o755)
	if err := os.Symlink("busybox", filepath.Join(rootfs, "bin/sh")); err != nil {
		t.Fatal(err)
	}
	// No /etc, /proc, /sys, /dev: all are created for the run.
	spec := run.Spec{
		Rootfs: rootfs, Env: []string{"PATH=/bin"},
		Args: []string{"sh", "-c", "busybox mkdir /etc/app && echo x > /etc/app/conf && echo > /new"},
	}
	var before unix.Stat_t
	if err := unix.Lstat(rootfs, &before); err != nil {
		t.Fatal(err)
	}
	res := sandbox(t, ctxTimeout(t, time.Minute), spec, "", true)
	if res.err != nil || res.code != 0 {
		t.Fatalf("Run = %d, %v, stderr %q", res.code, res.err, res.stderr)
	}
	var got []string
	err := filepath.WalkDir(rootfs, func(p string, _ os.DirEntry, err error) error {
		rel, _ := filepath.Rel(rootfs, p)
		got = append(got, rel)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	want := ". bin bin/busybox bin/sh etc etc/app etc/app/conf new"
	if strings.Join(got, " ") != want {
		t.Errorf("rootfs after run = %q, want %q", strings.Join(got, " "), want)
	}
	var after unix.Stat_t
	if err := unix.Lstat(rootfs, &after); err != nil {
		t.Fatal(err)
	}
	if after.Mtim == before.Mtim {
		t.Errorf("rootfs mtime restored although the command created /new in it")
	}
}

func TestRunKillsBackgroundProcesses(t *testing.T) {
	requireRoot(t)
	rootfs := newRootfs(t)
	const marker = "98765"
	spec := run.Spec{Rootfs: rootfs, Env: []string{testPath}, Args: sh("sleep " + marker + " & sleep 0.2; pidof sleep >/dev/null && echo started")}
	res := sandbox(t, ctxTimeout(t, time.Minute), spec, "", false)
	if res.err != nil || res.code != 0 || res.stdout != "started\n" {
		t.Fatalf("Run = %d, %v, stdout %q, stderr %q", res.code, res.err, res.stdout, res.stderr)
	}
	if left := processesWith(t, "sleep", marker); len(left) != 0 {
		t.Errorf("processes left after the run: %q", left)
	}
}

func TestRunClosesExtraFds(t *testing.T) {
	requireRoot(t)
	rootfs := newRootfs(t)
	// A descriptor without O_CLOEXEC is inherited by the re-executed init;
	// it must not reach the command.
	fd, err := unix.Open("/dev/null", unix.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if err := unix.Dup3(fd, 100, 0); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(100)
	// ls itself holds fd 3 (the directory it lists).
	spec := run.Spec{Rootfs: rootfs, Env: []string{testPath}, Args: []string{"ls", "/proc/self/fd"}}
	res := sandbox(t, ctxTimeout(t, time.Minute), spec, "", false)
	if res.err != nil || res.code != 0 || res.stdout != "0\n1\n2\n3\n" {
		t.Fatalf("Run = %d, %v, stdout %q (want 0 1 2 3), stderr %q", res.code, res.err, res.stdout, res.stderr)
	}
}

func TestRunCancel(t *testing.T) {
	requireRoot(t)
	rootfs := newRootfs(t)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	const marker = "100"
	spec := run.Spec{Rootfs: rootfs, Env: []string{testPath}, Args: sh("sleep " + marker + " & sleep " + marker)}
	start := time.Now()
	res := sandbox(t, ctx, spec, "", false)
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("Run took %v after cancel", took)
	}
	if !errors.Is(res.err, context.DeadlineExceeded) || res.code != 128+9 {
		t.Errorf("Run = %d, %v; want 137, context.DeadlineExceeded", res.code, res.err)
	}
	if left := processesWith(t, "sleep", marker); len(left) != 0 {
		t.Errorf("processes left after cancel: %q", left)
	}
	// Already cancelled: nothing runs.
	code, err := run.Run(ctx, spec, run.IO{})
	if code != -1 || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Run with a done ctx = %d, %v", code, err)
	}
}

// The sandbox dies with its caller (Pdeathsig), even if the caller is
// SIGKILLed and cannot clean up.
func TestRunDiesWithCaller(t *testing.T) {
	requireRoot(t)
	rootfs := newRootfs(t)
	ctx := ctxTimeout(t, time.Minute)
	helper := exec.CommandContext(ctx, "/proc/self/exe", "-test.run=^$")
	helper.Env = append(os.Environ(), orphanEnv+"="+rootfs)
	var stderr strings.Builder
	helper.Stderr = &stderr
	if err := helper.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for len(processesWith(t, "sleep", orphanMarker)) == 0 {
		if time.Now().After(deadline) {
			_ = helper.Process.Kill()
			_ = helper.Wait()
			t.Fatalf("the sandbox never started; helper stderr: %s", stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := helper.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = helper.Wait()
	deadline = time.Now().Add(5 * time.Second)
	for {
		left := processesWith(t, "sleep", orphanMarker)
		if len(left) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("sandbox outlived its killed caller: %q", left)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The caller could not remove its temp dir and mount points; that is the
	// price of SIGKILL, but no mount may have leaked into our namespace.
	if m := ourMounts(t, rootfs); len(m) != 0 {
		t.Errorf("mounts leaked: %q", m)
	}
}

func BenchmarkRunTrue(b *testing.B) {
	requireRoot(b)
	rootfs := newRootfs(b)
	spec := run.Spec{Rootfs: rootfs, Env: []string{testPath}, Args: []string{"true"}}
	ctx := context.Background()
	b.ResetTimer()
	for b.Loop() {
		if code, err := run.Run(ctx, spec, run.IO{}); code != 0 || err != nil {
			b.Fatalf("Run = %d, %v", code, err)
		}
	}
}
