package cgroups

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"

	"github.com/hoistbuild/hoist/internal/testutil/prereq"
)

// These tests put a real process in a real cgroup and have it try what a
// container would: open the devices it must reach, and make and open nodes of
// devices it must not (kmsg, a loop device). The "no control" case runs the
// same probe without rules: it must succeed there, so an EPERM elsewhere comes
// from the device rules, not from the probe.

// probeEnv makes the test binary a device probe (see TestMain); its value is
// a scratch directory for the nodes it makes.
const probeEnv = "HOIST_CGROUPS_DEVICE_PROBE"

func TestMain(m *testing.M) {
	if dir := os.Getenv(probeEnv); dir != "" {
		os.Exit(deviceProbe(dir))
	}
	os.Exit(m.Run())
}

// deviceProbe waits for EOF on descriptor 3 (its parent closes the pipe once
// the probe is in the cgroup), then tries each access and prints one line
// "name result" per access, result "ok" or an errno name.
func deviceProbe(dir string) int {
	if _, err := io.Copy(io.Discard, os.NewFile(3, "gate")); err != nil {
		fmt.Fprintln(os.Stderr, "probe: waiting for the gate:", err)
		return 1
	}
	report := func(name string, err error) {
		res := "ok"
		if errno := unix.Errno(0); errors.As(err, &errno) {
			res = unix.ErrnoName(errno)
		} else if err != nil {
			res = err.Error()
		}
		fmt.Printf("%s %s\n", name, res)
	}
	open := func(path string, flags int) error {
		fd, err := unix.Open(path, flags|unix.O_CLOEXEC, 0)
		if err == nil {
			unix.Close(fd)
		}
		return err
	}
	kmsg, loop := filepath.Join(dir, "kmsg"), filepath.Join(dir, "loop0")
	report("null-rw", open("/dev/null", unix.O_RDWR))
	report("zero-read", func() error {
		fd, err := unix.Open("/dev/zero", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		_, err = unix.Read(fd, make([]byte, 8))
		return err
	}())
	report("mknod-kmsg", unix.Mknod(kmsg, unix.S_IFCHR|0o600, int(unix.Mkdev(1, 11))))
	report("kmsg-r", open(kmsg, unix.O_RDONLY))
	report("kmsg-w", open(kmsg, unix.O_WRONLY))
	report("kmsg-rw", open(kmsg, unix.O_RDWR))
	report("mknod-loop0", unix.Mknod(loop, unix.S_IFBLK|0o600, int(unix.Mkdev(7, 0))))
	report("loop0-r", open(loop, unix.O_RDONLY))
	return 0
}

// runProbe starts a probe, lets enter put it in a cgroup before it does
// anything, and returns its results by access name.
func runProbe(t *testing.T, enter func(pid int) error) map[string]string {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), probeEnv+"="+t.TempDir())
	cmd.ExtraFiles = []*os.File{r}
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r.Close()
	if err := enter(cmd.Process.Pid); err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Fatalf("putting the probe in the cgroup: %v", err)
	}
	w.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("probe: %v\n%s", err, errOut.Bytes())
	}
	got := map[string]string{}
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		name, res, _ := strings.Cut(sc.Text(), " ")
		got[name] = res
	}
	return got
}

// kmsgDevice is the rule docker makes of --device /dev/kmsg:/dev/kmsg:PERMS.
func kmsgDevice(perms string) DeviceRule {
	return DeviceRule{Type: 'c', Major: 1, Minor: 11, Access: perms, Allow: true}
}

var probeCases = []struct {
	name  string
	rules []DeviceRule
	want  map[string]string
}{
	{"no control", nil, map[string]string{
		"null-rw": "ok", "zero-read": "ok", "mknod-kmsg": "ok", "kmsg-r": "ok", "kmsg-w": "ok", "kmsg-rw": "ok",
		"mknod-loop0": "ok", "loop0-r": "ok",
	}},
	{"docker default", DefaultDeviceRules(), map[string]string{
		"null-rw": "ok", "zero-read": "ok", "mknod-kmsg": "ok", "kmsg-r": "EPERM", "kmsg-w": "EPERM", "kmsg-rw": "EPERM",
		"mknod-loop0": "ok", "loop0-r": "EPERM",
	}},
	{"default + --device /dev/kmsg:/dev/kmsg:r", append(DefaultDeviceRules(), kmsgDevice("r")), map[string]string{
		"null-rw": "ok", "mknod-kmsg": "ok", "kmsg-r": "ok", "kmsg-w": "EPERM", "kmsg-rw": "EPERM", "loop0-r": "EPERM",
	}},
	{"default + kmsg r and w apart make rw", append(DefaultDeviceRules(), kmsgDevice("r"), kmsgDevice("w")), map[string]string{
		"kmsg-r": "ok", "kmsg-w": "ok", "kmsg-rw": "ok", "loop0-r": "EPERM",
	}},
	{"a later deny takes an allow back", append(DefaultDeviceRules(), DeviceRule{Type: 'c', Major: 1, Minor: 3, Access: "w"}), map[string]string{
		"null-rw": "EPERM", "zero-read": "ok",
	}},
	{"a deny punches no hole in a wildcard allow", append(DefaultDeviceRules(), DeviceRule{Type: 'c', Major: 1, Minor: 11, Access: "m"}), map[string]string{
		"mknod-kmsg": "ok", "kmsg-r": "EPERM",
	}},
	{"empty list denies everything", []DeviceRule{}, map[string]string{
		"null-rw": "EPERM", "zero-read": "EPERM", "mknod-kmsg": "EPERM", "mknod-loop0": "EPERM",
	}},
	{"allow all but kmsg write", []DeviceRule{{Type: 'a', Allow: true}, {Type: 'c', Major: 1, Minor: -1, Access: "w"}}, map[string]string{
		"null-rw": "EPERM", "zero-read": "ok", "mknod-kmsg": "ok", "kmsg-r": "ok", "kmsg-w": "EPERM", "kmsg-rw": "EPERM",
		"mknod-loop0": "ok", "loop0-r": "ok",
	}},
}

func checkProbe(t *testing.T, got, want map[string]string) {
	t.Helper()
	for name, w := range want {
		if got[name] != w {
			t.Errorf("%s: %q, want %q", name, got[name], w)
		}
	}
	if t.Failed() {
		t.Logf("all results: %v", got)
	}
}

func requireRoot(t *testing.T) {
	t.Helper()
	prereq.Require(t, prereq.Root) // cgroups, mknod
}

var testSeq int

func testID() string {
	testSeq++
	return "devtest-" + strconv.Itoa(os.Getpid()) + "-" + strconv.Itoa(testSeq)
}

// TestCreateDevices applies the rules through Create, on whichever version
// the host runs (the v1 devices controller on a v1 or hybrid host).
func TestCreateDevices(t *testing.T) {
	requireRoot(t)
	if !IsV2() {
		if m, err := v1Mounts(); err != nil || m["devices"] == "" {
			prereq.Skip(t, "cgroup v1 without a devices hierarchy mounted")
		}
	}
	for _, tc := range probeCases {
		t.Run(tc.name, func(t *testing.T) {
			cg, err := Create(testID(), Resources{Devices: tc.rules})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				if err := cg.Destroy(); err != nil {
					t.Error(err)
				}
			})
			checkProbe(t, runProbe(t, cg.Add), tc.want)
		})
	}
}

// cgroup2Root returns where a cgroup v2 hierarchy is mounted: /sys/fs/cgroup
// on a v2 host, /sys/fs/cgroup/unified on a hybrid one.
func cgroup2Root(t *testing.T) string {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		pre, post, _ := strings.Cut(line, " - ")
		if pf, qf := strings.Fields(pre), strings.Fields(post); len(pf) >= 5 && len(qf) >= 1 && qf[0] == "cgroup2" {
			return pf[4]
		}
	}
	prereq.Skip(t, "no cgroup2 hierarchy mounted (mount -t cgroup2 none /sys/fs/cgroup/unified)")
	return ""
}

// TestDeviceFilterV2 attaches the device program to a cgroup v2 directory
// and probes from inside it; on a hybrid host the program works there while
// the controllers live in v1.
func TestDeviceFilterV2(t *testing.T) {
	requireRoot(t)
	root := cgroup2Root(t)
	for _, tc := range probeCases {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(root, "hoist-"+testID())
			if err := os.Mkdir(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				if err := removeDir(dir); err != nil {
					t.Error(err)
				}
			})
			if tc.rules != nil {
				if err := validateDeviceRules(tc.rules); err != nil {
					t.Fatal(err)
				}
				if err := attachDeviceFilter(dir, tc.rules); err != nil {
					t.Fatal(err)
				}
			}
			// attachDeviceFilter has closed its descriptors: the attachment
			// itself keeps the program.
			want := 0
			if tc.rules != nil {
				want = 1
			}
			if n := attachedDevicePrograms(t, dir); n != want {
				t.Errorf("%d device programs attached, want %d", n, want)
			}
			checkProbe(t, runProbe(t, func(pid int) error {
				return write(dir, "cgroup.procs", strconv.Itoa(pid))
			}), tc.want)
		})
	}
}

func attachedDevicePrograms(t *testing.T, dir string) int {
	f, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	res, err := link.QueryPrograms(link.QueryOptions{Target: int(f.Fd()), Attach: ebpf.AttachCGroupDevice})
	if err != nil {
		t.Fatal(err)
	}
	return len(res.Programs)
}

// TestDeviceSetMatchesKernel checks deviceSet, the model the v2 program is
// compiled from, against what the v1 kernel keeps (devices.list) after the
// same rules.
func TestDeviceSetMatchesKernel(t *testing.T) {
	requireRoot(t)
	if IsV2() {
		prereq.Skip(t, "needs the v1 devices controller (a cgroup v1 or hybrid host)")
	}
	if m, err := v1Mounts(); err != nil || m["devices"] == "" {
		prereq.Skip(t, "cgroup v1 without a devices hierarchy mounted")
	}
	def := DefaultDeviceRules
	tests := map[string][]DeviceRule{
		"default":             def(),
		"merged access":       append(def(), kmsgDevice("r"), kmsgDevice("w"), DeviceRule{Type: 'c', Major: 1, Minor: 11, Access: "mr", Allow: true}),
		"access taken back":   append(def(), DeviceRule{Type: 'c', Major: 1, Minor: 3, Access: "w"}),
		"exception removed":   append(def(), DeviceRule{Type: 'c', Major: 1, Minor: 3, Access: "rwm"}),
		"wildcard removed":    append(def(), DeviceRule{Type: 'c', Major: -1, Minor: -1, Access: "m"}),
		"no hole in wildcard": append(def(), DeviceRule{Type: 'b', Major: 7, Minor: 0, Access: "m"}),
		"reset":               append(def(), DeviceRule{Type: 'a', Access: "rwm"}, kmsgDevice("w")),
		"allow all":           {{Type: 'a', Allow: true}, {Type: 'c', Major: 1, Minor: 3, Access: "w"}},
	}
	for name, rules := range tests {
		t.Run(name, func(t *testing.T) {
			cg, err := Create(testID(), Resources{Devices: rules})
			if err != nil {
				t.Fatal(err)
			}
			defer cg.Destroy()
			data, err := os.ReadFile(filepath.Join(cg.Paths["devices"], "devices.list"))
			if err != nil {
				t.Fatal(err)
			}
			got := strings.Fields(strings.ReplaceAll(string(data), " ", "_"))
			var want []string
			if s := newDeviceSet(rules); s.allow {
				want = []string{"a_*:*_rwm"} // the kernel lists no exceptions to "allow"
			} else {
				for _, e := range s.exceptions {
					want = append(want, strings.ReplaceAll(e.String(), " ", "_"))
				}
			}
			slices.Sort(got)
			slices.Sort(want)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("devices.list %v, deviceSet %v", got, want)
			}
		})
	}
}

func TestDeviceRulesValidate(t *testing.T) {
	bad := []DeviceRule{
		{Type: 'x', Access: "r"},
		{Type: 'c', Major: 1, Minor: 3, Access: ""},
		{Type: 'c', Major: 1, Minor: 3, Access: "rx"},
		{Type: 'c', Major: 1, Minor: 3, Access: "rr"},
		{Type: 'c', Major: -2, Minor: 3, Access: "r"},
		{Type: 'b', Major: 1, Minor: 1 << 32, Access: "r"},
	}
	for _, r := range bad {
		if err := validateDeviceRules([]DeviceRule{r}); err == nil {
			t.Errorf("%+v: valid", r)
		}
	}
	if err := validateDeviceRules(DefaultDeviceRules()); err != nil {
		t.Error(err)
	}
	// An invalid rule fails Create before anything is written.
	cg := &Cgroup{V2: true, Paths: map[string]string{"": t.TempDir()}}
	if err := cg.apply(Resources{Devices: bad[:1]}); err == nil {
		t.Error("apply took an invalid rule")
	}
}

// A persisted container keeps "no device control" and "deny every device"
// apart.
func TestResourcesDevicesJSON(t *testing.T) {
	for _, r := range []Resources{{}, {Devices: []DeviceRule{}}, {Devices: DefaultDeviceRules()}} {
		data, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		var back Resources
		if err := json.Unmarshal(data, &back); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(back, r) || (back.Devices == nil) != (r.Devices == nil) {
			t.Errorf("%s: read back as %+v", data, back)
		}
	}
}
