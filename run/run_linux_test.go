package run_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/hoistbuild/hoist/run"
	"github.com/moby/sys/user"
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
		// veths come and go with the containers and builds of other tests running meanwhile
		if !strings.HasPrefix(e.Name(), "veth") {
			hostIfaces = append(hostIfaces, e.Name())
		}
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
		{name: "shm size", spec: run.Spec{Args: sh("grep ' /dev/shm ' /proc/mounts | grep -o 'size=[0-9a-z]*'"), ShmSize: 3 << 20}, wantStdout: "size=3072k\n"},
		{
			name:       "rlimits",
			spec:       run.Spec{Args: sh("ulimit -Sn; ulimit -Hn; ulimit -c"), Rlimits: []run.Rlimit{{Name: "nofile", Soft: 300, Hard: 400}, {Name: "core", Soft: 0, Hard: 0}}},
			wantStdout: "300\n400\n0\n",
		},
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
			spec:       run.Spec{Args: sh("ls /sys/class/net | grep -v ^veth"), Network: run.NetworkHost},
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
			// The pty comes from the sandbox's own devpts and belongs to the
			// user, as with docker run -t; output has the tty's CRLF.
			name: "terminal",
			spec: run.Spec{
				Args: sh("tty; stty size; stat -c '%u %g %a' /dev/pts/0; test -t 0 && test -t 2 && echo all"),
				User: "app", Terminal: true, ConsoleSize: run.WindowSize{Rows: 33, Cols: 77},
			},
			wantStdout: "/dev/pts/0\r\n33 77\r\n1000 5 620\r\nall\r\n",
		},
		{
			// Input reaches the command through the pty (and is echoed).
			name:       "terminal stdin",
			spec:       run.Spec{Args: sh("read -r x; echo got $x"), Terminal: true},
			stdin:      "hi\n",
			wantStdout: "hi\r\ngot hi\r\n",
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
		{"unknown rlimit", run.Spec{Rootfs: rootfs, Args: []string{"true"}, Rlimits: []run.Rlimit{{Name: "as", Soft: 1, Hard: 1}}}},
		{"rlimit soft above hard", run.Spec{Rootfs: rootfs, Args: []string{"true"}, Rlimits: []run.Rlimit{{Name: "nofile", Soft: 2, Hard: 1}}}},
		{"negative shm size", run.Spec{Rootfs: rootfs, Args: []string{"true"}, ShmSize: -1}},
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
