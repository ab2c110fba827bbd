package seccomp

import (
	"encoding/json"
	"reflect"
	"runtime"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/hoistbuild/hoist/internal/testutil/prereq"
)

// dockerCaps is docker's default capability set.
var dockerCaps = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
	"CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
	"CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
}

const (
	x32 = 0x40000000
	// x32 numbers (arch/x86/entry/syscalls/syscall_64.tbl)
	x32Getpid  = x32 | 39
	x32Unshare = x32 | 272
)

func requireAmd64Root(t *testing.T) {
	t.Helper()
	if runtime.GOARCH != "amd64" {
		prereq.Skip(t, "the probes use amd64 syscall numbers (an amd64 machine)")
	}
	prereq.Require(t, prereq.Root) // capabilities decide EPERM versus the filter
}

func defaultProgram(t *testing.T, caps []string) *Program {
	t.Helper()
	p, err := DefaultProgram(caps)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("default profile for %d caps: %d instructions", len(caps), p.Len())
	return p
}

const all64 = 0xffffffffffffffff // -1 as a 64-bit argument

func TestDefaultProfile(t *testing.T) {
	requireAmd64Root(t)
	p := defaultProgram(t, dockerCaps)
	ok := want{}
	perm := want{errno: unix.EPERM}
	nosys := want{errno: unix.ENOSYS}
	runCases(t, p, []probeCase{
		{"getpid", "", unix.SYS_GETPID, nil, ok},
		{"read bad fd", "", unix.SYS_READ, []uint64{all64, 0, 0}, want{errno: unix.EBADF}},
		{"write bad fd", "", unix.SYS_WRITE, []uint64{all64, 0, 0}, want{errno: unix.EBADF}},
		{"clone plain", "clone", unix.SYS_CLONE, []uint64{uint64(unix.SIGCHLD)}, ok},
		{"fork", "clone", unix.SYS_FORK, nil, ok},
		{"personality 0", "", unix.SYS_PERSONALITY, []uint64{0}, ok},
		{"personality query", "", unix.SYS_PERSONALITY, []uint64{0xffffffff}, ok},
		// 0x0008 (PER_LINUX32) is on docker's list too.
		{"personality PER_LINUX32", "", unix.SYS_PERSONALITY, []uint64{0x0008}, ok},
		{"personality ADDR_NO_RANDOMIZE", "", unix.SYS_PERSONALITY, []uint64{0x0040000}, perm},
		// the high half counts: 1<<32|0 is not 0
		{"personality 1<<32", "", unix.SYS_PERSONALITY, []uint64{1 << 32}, perm},
		{"socket AF_INET", "", unix.SYS_SOCKET, []uint64{unix.AF_INET, unix.SOCK_STREAM, 0}, ok},
		{"socket AF_UNIX", "", unix.SYS_SOCKET, []uint64{unix.AF_UNIX, unix.SOCK_STREAM, 0}, ok},
		{"socket AF_VSOCK", "", unix.SYS_SOCKET, []uint64{unix.AF_VSOCK, unix.SOCK_STREAM, 0}, perm},
		{"socket AF_ALG", "", unix.SYS_SOCKET, []uint64{unix.AF_ALG, unix.SOCK_SEQPACKET, 0}, perm},
		// The kernel reads the domain as an int; the filter must not
		// take 1<<32|AF_VSOCK for something below AF_INET+1 or equal to
		// an allowed domain.
		{"socket AF_VSOCK high bits", "", unix.SYS_SOCKET, []uint64{1<<32 | unix.AF_VSOCK, unix.SOCK_STREAM, 0}, perm},
		{"socket AF_INET high bits", "", unix.SYS_SOCKET, []uint64{1<<32 | unix.AF_INET, unix.SOCK_STREAM, 0}, perm},
		// ptrace is allowed on kernels >= 4.8; pid 1 is not our tracee.
		{"ptrace", "", unix.SYS_PTRACE, []uint64{unix.PTRACE_GETREGS, 1, 0, 0}, want{errno: unix.ESRCH}},
		{"unshare CLONE_NEWUSER", "", unix.SYS_UNSHARE, []uint64{unix.CLONE_NEWUSER}, perm},
		{"unshare CLONE_NEWNS", "", unix.SYS_UNSHARE, []uint64{unix.CLONE_NEWNS}, perm},
		{"clone CLONE_NEWUSER", "clone", unix.SYS_CLONE, []uint64{unix.CLONE_NEWUSER | uint64(unix.SIGCHLD)}, perm},
		{"clone CLONE_NEWNET", "clone", unix.SYS_CLONE, []uint64{unix.CLONE_NEWNET | uint64(unix.SIGCHLD)}, perm},
		{"mount", "", unix.SYS_MOUNT, []uint64{0, 0, 0, 0, 0}, perm},
		{"umount2", "", unix.SYS_UMOUNT2, []uint64{0, 0}, perm},
		{"keyctl", "", unix.SYS_KEYCTL, []uint64{unix.KEYCTL_GET_KEYRING_ID, all64, 0}, perm},
		{"add_key", "", unix.SYS_ADD_KEY, []uint64{0, 0, 0, 0, 0}, perm},
		{"request_key", "", unix.SYS_REQUEST_KEY, []uint64{0, 0, 0, 0}, perm},
		{"bpf", "", unix.SYS_BPF, []uint64{0, 0, 0}, perm},
		{"init_module", "", unix.SYS_INIT_MODULE, []uint64{0, 0, 0}, perm},
		{"finit_module", "", unix.SYS_FINIT_MODULE, []uint64{all64, 0, 0}, perm},
		{"kexec_load", "", unix.SYS_KEXEC_LOAD, []uint64{0, 0, 0, 0}, perm},
		{"open_by_handle_at", "", unix.SYS_OPEN_BY_HANDLE_AT, []uint64{all64, 0, 0}, perm},
		{"reboot", "", unix.SYS_REBOOT, []uint64{0, 0, 0, 0}, perm},
		{"setns", "", unix.SYS_SETNS, []uint64{all64, 0}, perm},
		{"perf_event_open", "", unix.SYS_PERF_EVENT_OPEN, []uint64{0, 0, 0, all64, 0}, perm},
		{"fsopen", "", unix.SYS_FSOPEN, []uint64{0, 0}, perm},
		{"clone3", "", unix.SYS_CLONE3, []uint64{0, 0}, nosys},
		{"syscall 1000", "", 1000, nil, nosys},
		// docker's amd64 profile lists x86 and x32 as sub-architectures:
		// x32 calls are filtered with the x32 table. This kernel may not
		// run x32 (ENOSYS after the filter lets it through).
		{"x32 getpid", "", x32Getpid, nil, want{notPerm: true}},
		{"x32 unshare", "", x32Unshare, []uint64{unix.CLONE_NEWUSER}, perm},
		{"x32 syscall 1000", "", x32 | 1000, nil, nosys},
	})
	t.Run("execve /bin/true", func(t *testing.T) {
		o := runProbe(t, probeSpec{Prog: p, Mode: "exec", Path: "/bin/true", Argv: []string{"true"}})
		if o.signal != 0 || o.out != "" {
			t.Errorf("execve /bin/true: signal %v, output %q (want none: the exec ran)", o.signal, o.out)
		}
	})
}

func TestDefaultProfileSysAdmin(t *testing.T) {
	requireAmd64Root(t)
	p := defaultProgram(t, append([]string{"CAP_SYS_ADMIN"}, dockerCaps...))
	runCases(t, p, []probeCase{
		// a multithreaded process gets EINVAL for CLONE_NEWUSER from the
		// kernel: the filter let it through
		{"unshare CLONE_NEWUSER", "", unix.SYS_UNSHARE, []uint64{unix.CLONE_NEWUSER}, want{notPerm: true}},
		{"unshare CLONE_NEWUTS", "", unix.SYS_UNSHARE, []uint64{unix.CLONE_NEWUTS}, want{}},
		{"clone3 reaches the kernel", "", unix.SYS_CLONE3, []uint64{0, 0}, want{errno: unix.EINVAL}},
		{"mount reaches the kernel", "", unix.SYS_MOUNT, []uint64{0, 0, 0, 0, 0}, want{notPerm: true}},
		{"kexec_load", "", unix.SYS_KEXEC_LOAD, []uint64{0, 0, 0, 0}, want{errno: unix.EPERM}},
	})
}

func TestProgramJSON(t *testing.T) {
	p := defaultProgram(t, dockerCaps)
	b, err := json.Marshal(struct{ Seccomp *Program }{p})
	if err != nil {
		t.Fatal(err)
	}
	var back struct{ Seccomp *Program }
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back.Seccomp, p) {
		t.Fatal("program changed in a JSON round trip")
	}
	for _, bad := range []string{`{"bpf":""}`, `{"bpf":"AAAA"}`, `{"bpf":"AAAAAAAAAAA=","flags":1}`} {
		if err := json.Unmarshal([]byte(bad), new(Program)); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}

func TestDefaultProgramCached(t *testing.T) {
	a := defaultProgram(t, []string{"CAP_KILL", "CAP_CHOWN"})
	b := defaultProgram(t, []string{"CAP_CHOWN", "CAP_KILL", "CAP_CHOWN"})
	if a != b {
		t.Error("same caps in another order compiled twice")
	}
	if c := defaultProgram(t, []string{"CAP_CHOWN", "CAP_SYS_ADMIN"}); c == a {
		t.Error("different caps share a program")
	}
}

func BenchmarkCompileDefault(b *testing.B) {
	cfg, err := Default(dockerCaps)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Compile(cfg); err != nil {
			b.Fatal(err)
		}
	}
}
