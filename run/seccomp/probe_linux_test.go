package seccomp

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// A probe is this test binary re-executed with probeEnv set: it installs
// a filter on its locked thread and makes one raw syscall, so every case
// runs against the real kernel.
const probeEnv = "HOIST_SECCOMP_PROBE"

type probeSpec struct {
	Prog *Program `json:"prog"`
	Mode string   `json:"mode,omitempty"` // "", "clone", "exec"
	Nr   uint64   `json:"nr"`
	Args []uint64 `json:"args,omitempty"`
	Path string   `json:"path,omitempty"` // for "exec"
	Argv []string `json:"argv,omitempty"`
}

func TestMain(m *testing.M) {
	if spec := os.Getenv(probeEnv); spec != "" {
		probeMain(spec)
	}
	os.Exit(m.Run())
}

// probeMain prints "r1 errno" of the syscall and exits 0; after Install
// it makes raw syscalls only (write, exit_group), so a strict profile
// needs little else (rt_sigreturn, should a signal arrive).
func probeMain(spec string) {
	var s probeSpec
	if err := json.Unmarshal([]byte(spec), &s); err != nil {
		fmt.Fprintln(os.Stderr, "probe:", err)
		os.Exit(3)
	}
	runtime.LockOSThread()
	var a [6]uintptr
	for i, v := range s.Args {
		a[i] = uintptr(v)
	}
	// exec: execve(Path, Argv, {}) itself is the probed call.
	var path *byte
	var argv []*byte
	envp := []*byte{nil}
	if s.Mode == "exec" {
		var err error
		if path, err = unix.BytePtrFromString(s.Path); err != nil {
			os.Exit(3)
		}
		for _, arg := range s.Argv {
			p, err := unix.BytePtrFromString(arg)
			if err != nil {
				os.Exit(3)
			}
			argv = append(argv, p)
		}
		argv = append(argv, nil)
		s.Nr = unix.SYS_EXECVE
		a[0], a[1], a[2] = uintptr(unsafe.Pointer(path)), uintptr(unsafe.Pointer(&argv[0])), uintptr(unsafe.Pointer(&envp[0]))
	}
	isClone := s.Mode == "clone"
	var buf [48]byte
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		fmt.Fprintln(os.Stderr, "probe:", err)
		os.Exit(3)
	}
	if err := s.Prog.Install(); err != nil {
		fmt.Fprintln(os.Stderr, "probe:", err)
		os.Exit(3)
	}
	// From here on only nosplit calls: a function prologue is where the
	// runtime preempts a goroutine, and rescheduling makes syscalls
	// (futex) that strict profiles refuse.
	r1, _, errno := unix.RawSyscall6(uintptr(s.Nr), a[0], a[1], a[2], a[3], a[4], a[5])
	if isClone && errno == 0 && r1 == 0 {
		unix.RawSyscall(unix.SYS_EXIT_GROUP, 0, 0, 0) // the child
	}
	runtime.KeepAlive(path)
	runtime.KeepAlive(argv)
	runtime.KeepAlive(envp)
	n := putDec(&buf, 0, uint64(r1))
	buf[n] = ' '
	n = putDec(&buf, n+1, uint64(errno))
	buf[n] = '\n'
	unix.RawSyscall(unix.SYS_WRITE, 1, uintptr(unsafe.Pointer(&buf[0])), uintptr(n+1))
	unix.RawSyscall(unix.SYS_EXIT_GROUP, 0, 0, 0)
}

// putDec writes v in decimal at b[n:] and returns the new end.
//
//go:nosplit
func putDec(b *[48]byte, n int, v uint64) int {
	var tmp [20]byte
	i := len(tmp)
	for {
		i--
		tmp[i] = byte('0' + v%10)
		v /= 10
		if v == 0 {
			break
		}
	}
	for ; i < len(tmp); i++ {
		b[n] = tmp[i]
		n++
	}
	return n
}

// outcome is what a probe saw: the syscall's result, or how it died.
type outcome struct {
	r1     uint64
	errno  unix.Errno
	signal syscall.Signal // non-zero: killed
	out    string         // raw stdout
	stderr string
}

func runProbe(t *testing.T, s probeSpec) outcome {
	t.Helper()
	spec, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	// No preemption signals: their handler's rt_sigreturn would meet
	// the strict test profiles.
	cmd.Env = append(os.Environ(), probeEnv+"="+string(spec), "GODEBUG=asyncpreemptoff=1")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	o := outcome{out: stdout.String(), stderr: stderr.String()}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			o.signal = ws.Signal()
			return o
		}
		t.Fatalf("probe %+v: %v\nstdout: %s\nstderr: %s", s, err, o.out, o.stderr)
	} else if err != nil {
		t.Fatal(err)
	}
	if s.Mode == "exec" && o.out == "" {
		return o // the exec succeeded and the new program printed nothing
	}
	f := strings.Fields(o.out)
	if len(f) != 2 {
		t.Fatalf("probe %+v: output %q, stderr %s", s, o.out, o.stderr)
	}
	o.r1, _ = strconv.ParseUint(f[0], 10, 64)
	e, _ := strconv.ParseUint(f[1], 10, 64)
	o.errno = unix.Errno(e)
	return o
}

// want says what a probe must see.
type want struct {
	errno   unix.Errno
	notPerm bool // any result but EPERM (the kernel ran the call)
	killed  bool // SIGSYS
}

func (w want) check(t *testing.T, name string, o outcome) {
	t.Helper()
	switch {
	case w.killed:
		if o.signal != unix.SIGSYS {
			t.Errorf("%s: want killed by SIGSYS, got signal %v, errno %v (%d)", name, o.signal, o.errno, o.errno)
		}
	case o.signal != 0:
		t.Errorf("%s: killed by %v, want a result", name, o.signal)
	case w.notPerm:
		if o.errno == unix.EPERM {
			t.Errorf("%s: refused with EPERM, want the call to reach the kernel", name)
		}
	case o.errno != w.errno:
		t.Errorf("%s: errno %v (%d), want %v (%d)", name, o.errno, o.errno, w.errno, w.errno)
	}
}

// probeCase is one syscall and its expected outcome under a program.
type probeCase struct {
	name string
	mode string
	nr   uint64
	args []uint64
	want want
}

func runCases(t *testing.T, p *Program, cases []probeCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := runProbe(t, probeSpec{Prog: p, Mode: c.mode, Nr: c.nr, Args: c.args})
			if c.want.notPerm {
				t.Logf("%s: errno %v (%d)", c.name, o.errno, o.errno)
			}
			c.want.check(t, c.name, o)
		})
	}
}
