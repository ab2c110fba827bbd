package seccomp

import (
	"encoding/binary"
	"strings"
	"testing"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

func mustCompile(t *testing.T, profile string) *Program {
	t.Helper()
	cfg, err := Parse([]byte(profile), dockerCaps)
	if err != nil {
		t.Fatal(err)
	}
	p, err := Compile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// An allow list: the probe needs only write and exit_group after Install
// (and rt_sigreturn if a signal comes).
func TestCustomAllowList(t *testing.T) {
	requireAmd64Root(t)
	p := mustCompile(t, `{
		"defaultAction": "SCMP_ACT_ERRNO",
		"defaultErrnoRet": 13,
		"architectures": ["SCMP_ARCH_X86_64"],
		"syscalls": [
			{"names": ["write", "exit_group", "rt_sigreturn", "getpid", "no_such_syscall"], "action": "SCMP_ACT_ALLOW"},
			{"names": ["uname"], "action": "SCMP_ACT_ERRNO", "errnoRet": 95},
			{"names": ["getppid"], "action": "SCMP_ACT_KILL_PROCESS"},
			{"names": ["getuid"], "action": "SCMP_ACT_LOG"},
			{"names": ["getgid"], "action": "SCMP_ACT_TRACE"},
			{"names": ["gettid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}
		]
	}`)
	runCases(t, p, []probeCase{
		{"getpid allowed", "", unix.SYS_GETPID, nil, want{}},
		{"getuid logged and allowed", "", unix.SYS_GETUID, nil, want{}},
		{"gettid default errno", "", unix.SYS_GETTID, nil, want{errno: unix.EACCES}},
		{"getegid default errno", "", unix.SYS_GETEGID, nil, want{errno: unix.EACCES}},
		{"uname own errno", "", unix.SYS_UNAME, []uint64{0}, want{errno: unix.EOPNOTSUPP}},
		{"getppid kills", "", unix.SYS_GETPPID, nil, want{killed: true}},
		// no tracer: the kernel answers SECCOMP_RET_TRACE with ENOSYS
		{"getgid trace", "", unix.SYS_GETGID, nil, want{errno: unix.ENOSYS}},
		{"beyond the table", "", 1000, nil, want{errno: unix.ENOSYS}},
		// x32 is not listed: an x32 call is a foreign ABI
		{"x32 getpid", "", x32Getpid, nil, want{killed: true}},
	})
}

// Argument conditions, 64 bits wide; getpid ignores its arguments, so
// its result says whether the filter let it through.
func TestCustomConditions(t *testing.T) {
	requireAmd64Root(t)
	p := mustCompile(t, `{
		"defaultAction": "SCMP_ACT_ERRNO",
		"syscalls": [
			{"names": ["write", "exit_group", "rt_sigreturn"], "action": "SCMP_ACT_ALLOW"},
			{"names": ["getpid"], "action": "SCMP_ACT_ALLOW", "args": [
				{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"},
				{"index": 0, "value": 2, "op": "SCMP_CMP_EQ"}]},
			{"names": ["getppid"], "action": "SCMP_ACT_ALLOW", "args": [
				{"index": 1, "value": 65280, "valueTwo": 4608, "op": "SCMP_CMP_MASKED_EQ"}]},
			{"names": ["gettid"], "action": "SCMP_ACT_ALLOW", "args": [
				{"index": 0, "value": 18446744069414584320, "valueTwo": 21474836480, "op": "SCMP_CMP_MASKED_EQ"}]},
			{"names": ["getuid"], "action": "SCMP_ACT_ALLOW", "args": [
				{"index": 0, "value": 7, "op": "SCMP_CMP_EQ"},
				{"index": 1, "value": 4294967296, "op": "SCMP_CMP_GT"}]},
			{"names": ["getgid"], "action": "SCMP_ACT_ALLOW", "args": [
				{"index": 2, "value": 5, "op": "SCMP_CMP_NE"}]},
			{"names": ["getegid"], "action": "SCMP_ACT_ALLOW", "args": [
				{"index": 5, "value": 4294967296, "op": "SCMP_CMP_LE"}]},
			{"names": ["geteuid"], "action": "SCMP_ACT_ALLOW", "args": [
				{"index": 3, "value": 4294967296, "op": "SCMP_CMP_GE"}]},
			{"names": ["getpgrp"], "action": "SCMP_ACT_ALLOW", "args": [
				{"index": 4, "value": 8589934592, "op": "SCMP_CMP_LT"}]}
		]
	}`)
	ok, perm := want{}, want{errno: unix.EPERM}
	runCases(t, p, []probeCase{
		// two conditions on one argument: ORed (runc)
		{"or 1", "", unix.SYS_GETPID, []uint64{1}, ok},
		{"or 2", "", unix.SYS_GETPID, []uint64{2}, ok},
		{"or 3", "", unix.SYS_GETPID, []uint64{3}, perm},
		{"or 1<<32|1", "", unix.SYS_GETPID, []uint64{1<<32 | 1}, perm},
		// (arg1 & 0xff00) == 0x1200
		{"masked match", "", unix.SYS_GETPPID, []uint64{0, 0x1234}, ok},
		{"masked high half ignored", "", unix.SYS_GETPPID, []uint64{0, 0x7_0000_12ff}, ok},
		{"masked mismatch", "", unix.SYS_GETPPID, []uint64{0, 0x1334}, perm},
		// (arg0 & 0xffffffff00000000) == 5<<32
		{"masked 64 match", "", unix.SYS_GETTID, []uint64{5<<32 | 0xdead}, ok},
		{"masked 64 mismatch", "", unix.SYS_GETTID, []uint64{6<<32 | 0xdead}, perm},
		// arg0 == 7 AND arg1 > 1<<32
		{"and both", "", unix.SYS_GETUID, []uint64{7, 1<<32 + 1}, ok},
		{"and high word larger", "", unix.SYS_GETUID, []uint64{7, 2 << 32}, ok},
		{"and equal", "", unix.SYS_GETUID, []uint64{7, 1 << 32}, perm},
		{"and low word larger only", "", unix.SYS_GETUID, []uint64{7, 0xffffffff}, perm},
		{"and first fails", "", unix.SYS_GETUID, []uint64{8, 2 << 32}, perm},
		// arg2 != 5
		{"ne equal", "", unix.SYS_GETGID, []uint64{0, 0, 5}, perm},
		{"ne high differs", "", unix.SYS_GETGID, []uint64{0, 0, 1<<32 | 5}, ok},
		// arg5 <= 1<<32
		{"le equal", "", unix.SYS_GETEGID, []uint64{0, 0, 0, 0, 0, 1 << 32}, ok},
		{"le low max", "", unix.SYS_GETEGID, []uint64{0, 0, 0, 0, 0, 0xffffffff}, ok},
		{"le above", "", unix.SYS_GETEGID, []uint64{0, 0, 0, 0, 0, 1<<32 + 1}, perm},
		// arg3 >= 1<<32
		{"ge equal", "", unix.SYS_GETEUID, []uint64{0, 0, 0, 1 << 32}, ok},
		{"ge below", "", unix.SYS_GETEUID, []uint64{0, 0, 0, 0xffffffff}, perm},
		// arg4 < 2<<32
		{"lt below", "", unix.SYS_GETPGRP, []uint64{0, 0, 0, 0, 2<<32 - 1}, ok},
		{"lt equal", "", unix.SYS_GETPGRP, []uint64{0, 0, 0, 0, 2 << 32}, perm},
	})
}

func TestParseErrors(t *testing.T) {
	for _, c := range []struct{ name, profile, want string }{
		{"truncated", `{"defaultAction": "SCMP_ACT_ERRNO",`, "JSON syntax error"},
		{"bad character", "{\n  \"defaultAction\": SCMP_ACT_ERRNO}", "line 2, column 20"},
		{"wrong type", `{"defaultAction": 1}`, "wrong JSON type"},
		{"no default action", `{}`, "no defaultAction"},
		{"unknown default action", `{"defaultAction": "SCMP_ACT_NOPE"}`, `defaultAction: unknown action "SCMP_ACT_NOPE"`},
		{"unknown action", `{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALOW"}]}`,
			`syscalls[0] (read): unknown action "SCMP_ACT_ALOW"`},
		{"notify", `{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_NOTIFY"}]}`, "SCMP_ACT_NOTIFY is not supported"},
		{"unknown operator", `{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQUAL"}]}]}`,
			`args[0]: unknown operator "SCMP_CMP_EQUAL"`},
		{"argument index", `{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}]}]}`,
			"index 6"},
		{"unknown arch", `{"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_X86_65"]}`, `unknown architecture "SCMP_ARCH_X86_65"`},
		{"unknown archMap arch", `{"defaultAction": "SCMP_ACT_ERRNO", "archMap": [{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_I386"]}]}`,
			`archMap[0]: unknown architecture "SCMP_ARCH_I386"`},
		{"errno too large", `{"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 70000}`, "errnoRet 70000"},
		{"unknown flag", `{"defaultAction": "SCMP_ACT_ERRNO", "flags": ["SECCOMP_FILTER_FLAG_NOPE"]}`, `unknown flag "SECCOMP_FILTER_FLAG_NOPE"`},
		{"excluded rule still checked", `{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["mount"], "action": "SCMP_ACT_ALLOWW", "includes": {"caps": ["CAP_SYS_ADMIN"]}}]}`,
			`syscalls[0] (mount): unknown action`},
		{"name and names", `{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"name": "read", "names": ["write"], "action": "SCMP_ACT_ALLOW"}]}`, "both 'name' and 'names'"},
	} {
		_, err := Parse([]byte(c.profile), dockerCaps)
		if err == nil {
			t.Errorf("%s: no error", c.name)
			continue
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %q does not mention %q", c.name, err, c.want)
		}
	}
}

// simulate runs p on a seccomp_data in x/net/bpf's VM. The VM loads words
// big endian, the kernel in native (little) endian: store each word
// byte-swapped so both read the same values.
func simulate(t *testing.T, p *Program, audit, nr uint32, args ...uint64) uint32 {
	t.Helper()
	vm, err := bpf.NewVM(p.Instructions())
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 64)
	binary.BigEndian.PutUint32(data[0:], nr)
	binary.BigEndian.PutUint32(data[4:], audit)
	for i, a := range args {
		binary.BigEndian.PutUint32(data[16+8*i:], uint32(a))
		binary.BigEndian.PutUint32(data[20+8*i:], uint32(a>>32))
	}
	ret, err := vm.Run(data)
	if err != nil {
		t.Fatal(err)
	}
	return uint32(ret)
}

// TestSimulated checks the filter's verdicts where this kernel cannot
// show them: i386 programs (this VM's kernel cannot exec them, no package installs ia32 emulation) and
// x32 calls (without x32 support the kernel says ENOSYS after the filter
// allowed the call).
func TestSimulated(t *testing.T) {
	const auditI386, auditX86_64 = 0x40000003, 0xc000003e
	p := defaultProgram(t, dockerCaps)
	eperm := unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM)
	enosys := unix.SECCOMP_RET_ERRNO | uint32(unix.ENOSYS)
	for _, c := range []struct {
		name      string
		audit, nr uint32
		args      []uint64
		want      uint32
	}{
		{"i386 getpid", auditI386, 20, nil, unix.SECCOMP_RET_ALLOW},
		{"i386 socketcall", auditI386, 102, nil, unix.SECCOMP_RET_ALLOW},
		{"i386 unshare", auditI386, 310, []uint64{unix.CLONE_NEWUSER}, eperm},
		{"i386 socket AF_INET", auditI386, 359, []uint64{unix.AF_INET}, unix.SECCOMP_RET_ALLOW},
		{"i386 socket AF_VSOCK", auditI386, 359, []uint64{unix.AF_VSOCK}, eperm},
		{"i386 clone plain", auditI386, 120, []uint64{uint64(unix.SIGCHLD)}, unix.SECCOMP_RET_ALLOW},
		{"i386 clone CLONE_NEWUSER", auditI386, 120, []uint64{unix.CLONE_NEWUSER}, eperm},
		{"i386 clone3", auditI386, 435, nil, enosys},
		{"i386 1000", auditI386, 1000, nil, enosys},
		{"i386 number 39 (mkdir, not getpid)", auditI386, 39, nil, unix.SECCOMP_RET_ALLOW},
		{"i386 number 272 (fadvise64_64)", auditI386, 272, nil, unix.SECCOMP_RET_ALLOW},
		{"x32 getpid", auditX86_64, x32Getpid, nil, unix.SECCOMP_RET_ALLOW},
		{"x32 unshare", auditX86_64, x32Unshare, []uint64{unix.CLONE_NEWUSER}, eperm},
		{"x32 1000", auditX86_64, x32 | 1000, nil, enosys},
		{"x86_64 kexec_load", auditX86_64, unix.SYS_KEXEC_LOAD, nil, eperm},
		{"foreign arch", 0xc00000b7, 39, nil, unix.SECCOMP_RET_KILL_PROCESS},
	} {
		if got := simulate(t, p, c.audit, c.nr, c.args...); got != c.want {
			t.Errorf("%s: %#x, want %#x", c.name, got, c.want)
		}
	}
}
