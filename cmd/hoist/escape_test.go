package main

// The escape suite: every attack here is performed for real from inside a container and must be
// refused. Each probe is a busybox sh script that prints verdict lines ("VERDICT probe/key: value");
// a bad outcome is always a value starting with ALLOWED. The same scripts run through every entry
// point: hoist run, hoist exec (into a running hoist run -d container), a hoist build RUN step, and,
// as the reference that proves each probe is real, docker run, docker exec and a BuildKit docker
// build (TestEscapeDocker*).
//
//	go test ./cmd/hoist/ -run TestEscapeHoist -v    # hoist's half
//	go test ./cmd/hoist/ -run TestEscapeDocker -v   # the reference half (needs refenv's dockerd)
//
// The host is never damaged: the only writes that could reach it are core_pattern (restored by the
// probe itself the instant a write succeeds, and again by the test), swappiness (likewise), a marker
// line in the kernel log, and opening (never writing) a few /proc and /sys files for writing.

import (
	"bytes"
	"fmt"
	"math/rand"
	"net"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hoistbuild/hoist/internal/testutil/prereq"
)

// sayPrelude is put before every probe script: say KEY VALUE... prints one verdict of the probe $P.
const sayPrelude = `say() { k=$1; shift; echo "VERDICT $P/$k: $*"; }
`

// dockerDefaultCaps is CapEff of root in a docker container by default: CHOWN DAC_OVERRIDE FOWNER
// FSETID KILL SETGID SETUID SETPCAP NET_BIND_SERVICE NET_RAW SYS_CHROOT MKNOD AUDIT_WRITE SETFCAP.
const dockerDefaultCaps = "00000000a80425fb"

// escapeProbe is one attack, as a busybox sh script run in the container.
type escapeProbe struct {
	name   string
	args   []string // extra run flags (run entry points only)
	script string   // after sayPrelude and P=name
	want   []string // "key: value" verdicts the probe must print
	allow  []string // ALLOWED verdicts expected here (positive controls); a trailing * matches a prefix
	// check is an extra check of the verdicts (the cgroup shape).
	check func(v verdicts) error
	// after is run on the host after the probe (the kernel log must not hold the marker).
	after func(t *testing.T)
	// dockerRefuses, when set, is docker 20.10's own failure on this host for this probe's flags:
	// the docker case accepts that failure (see where it is set).
	dockerRefuses string
}

func (p escapeProbe) fullScript() string {
	return sayPrelude + "P=" + p.name + "\n" + p.script
}

// verdicts are the probe outputs: "probe/key" → values, in order.
type verdicts map[string][]string

var verdictLine = regexp.MustCompile(`VERDICT ([^ :]+/[^ :]+): (.*)$`)

func parseVerdicts(out string) verdicts {
	v := verdicts{}
	for _, line := range strings.Split(out, "\n") {
		if m := verdictLine.FindStringSubmatch(strings.TrimRight(line, "\r")); m != nil {
			v[m[1]] = append(v[m[1]], strings.TrimSpace(m[2]))
		}
	}
	return v
}

// judge returns what is wrong with the verdicts of p: a missing or different wanted verdict, an
// unexpected ALLOWED, or the probe's own check.
func (p escapeProbe) judge(v verdicts) []string {
	var bad []string
	reported := map[string]bool{}
	for _, w := range p.want {
		k, val, _ := strings.Cut(w, ": ")
		got := v[p.name+"/"+k]
		if !contains(got, val) {
			bad = append(bad, fmt.Sprintf("%s: got %q, want %q", k, got, val))
			reported[k] = true
		}
	}
	keys := make([]string, 0, len(v))
	for k := range v {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		short, ok := strings.CutPrefix(k, p.name+"/")
		if !ok || reported[short] {
			continue
		}
		for _, val := range v[k] {
			if strings.HasPrefix(val, "ALLOWED") && !contains(p.want, short+": "+val) && !allowed(p.allow, short+": "+val) {
				bad = append(bad, fmt.Sprintf("%s: %s", short, val))
			}
		}
	}
	if p.check != nil {
		if err := p.check(v); err != nil {
			bad = append(bad, err.Error())
		}
	}
	return bad
}

// allowed reports whether s is in list, where an entry ending in * matches by prefix.
func allowed(list []string, s string) bool {
	for _, x := range list {
		if x == s || strings.HasSuffix(x, "*") && strings.HasPrefix(s, strings.TrimSuffix(x, "*")) {
			return true
		}
	}
	return false
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// ---- the host: its state before, its protection after ----

type hostFacts struct {
	corePattern, swappiness string
	capBnd                  string            // the kernel's (and this VM's) bounding set
	cgroupNS                string            // readlink /proc/self/ns/cgroup of the test
	cgroups                 map[string]string // controller → this test process's cgroup path
	addrs, ifaces           []string          // global addresses and interface names (not lo, eth0)
	gateway                 string            // the host's default IPv4 gateway ("" without one)
}

var (
	hostOnce sync.Once
	host     hostFacts
)

func readTrim(t *testing.T, p string) string {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(data))
}

// hostBaseline records the host's facts once, before any probe of this test binary runs.
func hostBaseline(t *testing.T) hostFacts {
	t.Helper()
	prereq.Require(t, prereq.Root)
	hostOnce.Do(func() {
		host.corePattern = readTrim(t, "/proc/sys/kernel/core_pattern")
		host.swappiness = readTrim(t, "/proc/sys/vm/swappiness")
		host.capBnd = statusField(readTrim(t, "/proc/self/status"), "CapBnd")
		host.cgroupNS, _ = os.Readlink("/proc/self/ns/cgroup")
		host.cgroups = parseCgroups(readTrim(t, "/proc/self/cgroup"))
		addrs, _ := net.InterfaceAddrs()
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok && ipn.IP.IsGlobalUnicast() {
				host.addrs = append(host.addrs, ipn.IP.String())
			}
		}
		host.gateway = defaultGateway()
		ifs, _ := net.Interfaces()
		for _, i := range ifs {
			if i.Name != "lo" && i.Name != "eth0" {
				host.ifaces = append(host.ifaces, i.Name)
			}
		}
	})
	return host
}

// defaultGateway is the gateway of the host's IPv4 default route (/proc/net/route: little-endian hex).
func defaultGateway() string {
	b, err := os.ReadFile("/proc/net/route")
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(b), "\n")[1:] {
		f := strings.Fields(line)
		var gw uint32
		if len(f) > 2 && f[1] == "00000000" {
			if _, err := fmt.Sscanf(f[2], "%x", &gw); err == nil && gw != 0 {
				return net.IPv4(byte(gw), byte(gw>>8), byte(gw>>16), byte(gw>>24)).String()
			}
		}
	}
	return ""
}

func statusField(status, field string) string {
	for _, line := range strings.Split(status, "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && k == field {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

func parseCgroups(s string) map[string]string {
	m := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(s), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) == 3 {
			m[parts[0]+":"+parts[1]] = parts[2]
		}
	}
	return m
}

// protectHost checks that the probe left the host's sysctls as they were; a changed value is
// restored at once (a failing hoist must not leave the host's core dumps piped to /tmp/x).
func protectHost(t *testing.T) {
	t.Helper()
	h := hostBaseline(t)
	for p, want := range map[string]string{"/proc/sys/kernel/core_pattern": h.corePattern, "/proc/sys/vm/swappiness": h.swappiness} {
		if got := readTrim(t, p); got != want {
			if err := os.WriteFile(p, []byte(want+"\n"), 0o644); err != nil {
				t.Errorf("HOST CHANGED: %s is %q, was %q, and restoring failed: %v", p, got, want, err)
				continue
			}
			t.Errorf("HOST CHANGED: the container wrote %q to the host's %s (restored to %q)", got, p, want)
		}
	}
}

// kmsgMarker is a string that only a successful write to /dev/kmsg from a container can put in
// the host's kernel log.
func kmsgMarker(entry string) string {
	return fmt.Sprintf("hoist-escape-%s-%d-%d", entry, os.Getpid(), time.Now().UnixNano())
}

func noMarkerInDmesg(marker string) func(t *testing.T) {
	return func(t *testing.T) {
		out, err := exec.Command("dmesg").CombinedOutput()
		if err != nil {
			t.Errorf("dmesg: %v: %s", err, out)
			return
		}
		if bytes.Contains(out, []byte(marker)) {
			t.Errorf("HOST CHANGED: the container wrote %q to the host's kernel log through /dev/kmsg", marker)
		}
	}
}

// ---- the probes ----

// engineHoist and engineDocker select expectations where docker 20.10 (the reference) and hoist
// differ on purpose.
const (
	engineHoist  = "hoist"
	engineDocker = "docker"
)

// sysctlProbe: the exact attacks on /proc/sys. A successful write is undone by the script at once.
// swappiness gets 60, or 61 when the host already has 60, so that a write shows on the host.
func sysctlProbe() escapeProbe {
	return escapeProbe{name: "sysctl", script: `
cp=/proc/sys/kernel/core_pattern; orig=$(cat $cp)
if ( echo '|/tmp/x' > $cp ) 2>/dev/null; then echo "$orig" > $cp; say core_pattern ALLOWED; else say core_pattern refused; fi
sw=/proc/sys/vm/swappiness; o=$(cat $sw); n=60; [ "$o" = 60 ] && n=61
if ( echo $n > $sw ) 2>/dev/null; then echo "$o" > $sw; say swappiness ALLOWED; else say swappiness refused; fi
`, want: []string{"core_pattern: refused", "swappiness: refused"}}
}

// existing returns the paths that exist on the host (a masked path the kernel lacks is no probe).
func existing(paths ...string) []string {
	var out []string
	for _, p := range paths {
		if _, err := os.Lstat(p); err == nil {
			out = append(out, p)
		}
	}
	return out
}

// maskedProbe: docker binds /dev/null over masked files and an empty read-only tmpfs over masked
// directories.
func maskedProbe(engine string) escapeProbe {
	files := existing("/proc/keys", "/proc/timer_list", "/proc/kcore", "/proc/sched_debug",
		"/proc/latency_stats", "/proc/timer_stats")
	dirs := existing("/proc/acpi", "/proc/scsi", "/proc/asound", "/sys/firmware",
		"/sys/devices/virtual/powercap", "/sys/fs/selinux")
	if engine == engineHoist {
		// Docker masks /proc/interrupts (and the per-CPU thermal_throttle directories) since 28.0
		// (moby#49560, GHSA-6fw5-f8r9-fgfm); docker 20.10, the reference here, does not, so the
		// docker case leaves them out.
		files = append(files, existing("/proc/interrupts")...)
		throttle, _ := filepath.Glob("/sys/devices/system/cpu/cpu*/thermal_throttle")
		dirs = append(dirs, throttle...)
	}
	p := escapeProbe{name: "masked", script: fmt.Sprintf(`
for p in %s; do
  if [ ! -e $p ]; then say $p "ALLOWED? absent (docker shows an empty file)"
  elif [ "$(head -c 64 $p 2>/dev/null | wc -c)" -gt 0 ]; then say $p "ALLOWED readable: $(head -c 40 $p | tr -cd '[:print:]')"
  else say $p empty; fi
done
for p in %s; do
  if [ ! -e $p ]; then say $p "ALLOWED? absent (docker shows an empty directory)"
  elif [ "$(ls -A $p 2>/dev/null | wc -l)" -gt 0 ]; then say $p "ALLOWED lists: $(ls -A $p | head -n 4 | tr '\n' ' ')"
  elif ( : >> $p/escape-probe ) 2>/dev/null; then rm -f $p/escape-probe; say $p "ALLOWED writable"
  else say $p empty; fi
done
`, strings.Join(files, " "), strings.Join(dirs, " "))}
	for _, f := range append(files, dirs...) {
		p.want = append(p.want, f+": empty")
	}
	return p
}

// readonlyProbe: /proc/bus, /proc/fs, /proc/irq and /sys are mounted read-only (docker binds them
// read-only; its /sys is a read-only sysfs). The attack opens an existing root-writable file under
// each for writing (O_APPEND, nothing is written: harmless even where it succeeds) and checks the
// option of the mount covering the path. /proc/sysrq-trigger likewise, where the kernel has it.
// /dev/core (a link to /proc/kcore in old docker) must not exist.
func readonlyProbe() escapeProbe {
	sysrq := existing("/proc/sysrq-trigger")
	p := escapeProbe{name: "readonly", script: fmt.Sprintf(`
mountopt() { awk -v p="$1" '{ m=$5; if (m=="/" || p==m || index(p, m "/")==1) if (length(m)>=bl) { bl=length(m); split($6, o, ","); r=o[1] } } END { print r }' /proc/self/mountinfo; }
for d in /proc/bus /proc/fs /proc/irq /sys; do
  f=$(find $d -maxdepth 3 -type f -perm -200 2>/dev/null | head -n 1); o=$(mountopt $d)
  if [ -n "$f" ] && ( : >> "$f" ) 2>/dev/null; then say $d "ALLOWED opened $f for writing"
  elif [ "$o" != ro ]; then say $d "ALLOWED mounted ${o:-by no mount of this mount namespace}"
  else say $d readonly; fi
done
if ( : >> /sys/escape-probe ) 2>/dev/null; then rm -f /sys/escape-probe; say sys_create ALLOWED; else say sys_create refused; fi
for f in %s; do if ( : >> $f ) 2>/dev/null; then say $f "ALLOWED opened for writing"; else say $f readonly; fi; done
if [ -e /dev/core ] || [ -L /dev/core ]; then say dev_core "ALLOWED $(ls -l /dev/core)"; else say dev_core absent; fi
`, strings.Join(sysrq, " "))}
	p.want = []string{"/proc/bus: readonly", "/proc/fs: readonly", "/proc/irq: readonly", "/sys: readonly",
		"sys_create: refused", "dev_core: absent"}
	for _, f := range sysrq {
		p.want = append(p.want, f+": readonly")
	}
	return p
}

// cgroupfsProbe: no cgroup hierarchy the container sees is writable: a mkdir (a new cgroup) in
// every cgroup/cgroup2 mount fails. (On this cgroup v1 host docker's /sys/fs/cgroup itself is a
// writable tmpfs private to the container, so `mkdir /sys/fs/cgroup/x` succeeds under docker and
// is harmless; the attack is a mkdir in the controller hierarchies, which docker mounts read-only.)
// A cgroup made by mistake is removed at once.
func cgroupfsProbe() escapeProbe {
	return escapeProbe{name: "cgroupfs", script: `
n=0
for m in $(awk '$3=="cgroup" || $3=="cgroup2" { print $2 }' /proc/self/mounts); do
  if mkdir $m/escape-probe-$$ 2>/dev/null; then rmdir $m/escape-probe-$$; say cgroupfs "ALLOWED mkdir in $m"; n=1; fi
done
[ $n = 0 ] && say mkdir refused
`, want: []string{"mkdir: refused"}}
}

// cgroupProbe: the container sees only its own cgroup. With a private cgroup namespace every line
// of /proc/self/cgroup is "/" (docker's default on cgroup v2). Docker 20.10 on this cgroup v1
// (hybrid) host keeps the host's cgroup namespace and shows every controller, the unified line
// included, at one path of the container's own (/docker/<id>, /docker/buildkit/<id> in a build):
// that is the shape asserted then. Either way no controller may leave the container in the
// caller's cgroup or the root cgroup (where the devices controller would not confine it).
func cgroupProbe() escapeProbe {
	return escapeProbe{name: "cgroup", script: `
say ns "$(readlink /proc/self/ns/cgroup)"
while IFS= read -r l; do say line "$l"; done < /proc/self/cgroup
`, check: func(v verdicts) error {
		h := host
		ns := v["cgroup/ns"]
		lines := v["cgroup/line"]
		if len(ns) != 1 || len(lines) == 0 {
			return fmt.Errorf("cgroup probe printed ns %q lines %q", ns, lines)
		}
		paths := parseCgroups(strings.Join(lines, "\n"))
		if ns[0] != h.cgroupNS {
			for c, p := range paths {
				if p != "/" {
					return fmt.Errorf("private cgroup namespace, but %s is at %s, not /", c, p)
				}
			}
			return nil
		}
		var first string
		for c, p := range paths {
			if p == "/" || p == h.cgroups[c] {
				return fmt.Errorf("host's cgroup namespace (%s) and %s is at the host's %q: not a cgroup of its own (all: %q)", ns[0], c, p, lines)
			}
			if first == "" {
				first = p
			} else if path.Base(p) != path.Base(first) {
				return fmt.Errorf("host's cgroup namespace (%s) and the controllers disagree on the container's cgroup: %q", ns[0], lines)
			}
		}
		return nil
	}}
}

// devicesProbe: a device node made in the container (mknod itself may succeed, as in docker) cannot
// be opened: /dev/kmsg (c 1 11) would write to the host's kernel log, /dev/loop0 (b 7 0) read a host
// block device. The marker must not reach the host's dmesg.
func devicesProbe(marker string) escapeProbe {
	return escapeProbe{name: "devices", script: fmt.Sprintf(`
rm -f /tmp/escape-kmsg /tmp/escape-loop
if mknod /tmp/escape-kmsg c 1 11 2>/dev/null; then
  if ( echo %s > /tmp/escape-kmsg ) 2>/dev/null; then say kmsg ALLOWED; else say kmsg refused; fi
else say kmsg refused; fi
if mknod /tmp/escape-loop b 7 0 2>/dev/null; then
  err=$(dd if=/tmp/escape-loop of=/dev/null count=1 2>&1)
  case "$err" in *"can't open"*) say loop refused;; *) say loop "ALLOWED opened: $(echo $err)";; esac
else say loop refused; fi
rm -f /tmp/escape-kmsg /tmp/escape-loop
`, marker), want: []string{"kmsg: refused", "loop: refused"}, after: noMarkerInDmesg(marker)}
}

// seccompProbe: a user namespace (root's way to regain every capability) is refused, and the
// process runs under a seccomp filter (mode 2). The mount goes on /tmp/escape-mnt: busybox has no
// /mnt, where the mount would fail for want of a directory whatever the sandbox.
func seccompProbe() escapeProbe {
	return escapeProbe{name: "seccomp", script: `
if unshare -U -r true 2>/dev/null; then say userns ALLOWED; else say userns refused; fi
mkdir -p /tmp/escape-mnt
if unshare -U -r -m sh -c 'mount -t tmpfs x /tmp/escape-mnt' 2>/dev/null; then say userns_mount ALLOWED; else say userns_mount refused; fi
rmdir /tmp/escape-mnt
say mode "$(awk '$1=="Seccomp:" { print $2 }' /proc/self/status)"
`, want: []string{"userns: refused", "userns_mount: refused", "mode: 2"}}
}

// statusScript prints the process's privileges, and whether /proc/sys is writable by writing
// swappiness's own value back (changes nothing).
const statusScript = `
st() { awk -v k="$1:" '$1==k { print $2 }' /proc/self/status; }
say caps "$(st CapEff)"; say nnp "$(st NoNewPrivs)"; say seccomp "$(st Seccomp)"
sw=/proc/sys/vm/swappiness; v=$(cat $sw)
if ( echo "$v" > $sw ) 2>/dev/null; then say sysctl writable; else say sysctl readonly; fi
`

// capsProbes: the capability sets and flags of the run flags that change them.
func capsProbes() []escapeProbe {
	h := host
	return []escapeProbe{
		{name: "caps-default", script: statusScript, want: []string{"caps: " + dockerDefaultCaps, "nnp: 0", "seccomp: 2"}},
		{name: "caps-drop-all", args: []string{"--cap-drop", "ALL"}, script: statusScript, want: []string{"caps: 0000000000000000"}},
		{name: "caps-add-sys-admin", args: []string{"--cap-add", "SYS_ADMIN"}, script: statusScript,
			want: []string{"caps: 00000000a82425fb"}}, // + bit 21
		{name: "caps-privileged", args: []string{"--privileged"}, script: statusScript,
			want: privilegedWant(h, "sysctl: writable"),
			// Docker 20.10 asks runc for every capability it knows, and this VM's bounding set lacks
			// CAP_SYS_RESOURCE (CapBnd 000001fffeffffff): runc fails "unable to apply caps", so
			// docker cannot run --privileged here at all. podman (which asks for the bounding set)
			// is the reference for this probe: TestEscapeDockerRun/podman-privileged.
			dockerRefuses: "unable to apply caps"},
		{name: "caps-seccomp-unconfined", args: []string{"--security-opt", "seccomp=unconfined"}, script: statusScript,
			want: []string{"caps: " + dockerDefaultCaps, "seccomp: 0"}},
		{name: "caps-no-new-privileges", args: []string{"--security-opt", "no-new-privileges"}, script: statusScript,
			want: []string{"caps: " + dockerDefaultCaps, "nnp: 1", "seccomp: 2"}},
		{name: "caps-user-1000", args: []string{"--user", "1000"}, script: statusScript, want: []string{"caps: 0000000000000000"}},
	}
}

// privilegedWant is what --privileged (or RUN --security=insecure) gives: every capability of the
// bounding set and no seccomp filter. Rootless (the rootless pass), the bounding set is the user
// namespace's, which the kernel makes full (user_namespaces(7)), capabilities that count in that
// namespace only, and /proc/sys stays read-only: its files belong to the host's root, which is
// not mapped there. extra is wanted rootful only.
func privilegedWant(h hostFacts, extra ...string) []string {
	if rootlessPass() {
		return []string{"caps: " + fullCapSet(), "seccomp: 0", "sysctl: readonly"}
	}
	return append([]string{"caps: " + h.capBnd, "seccomp: 0"}, extra...)
}

// fullCapSet is CapBnd of a new user namespace: bits 0 to the kernel's cap_last_cap.
func fullCapSet() string {
	b, err := os.ReadFile("/proc/sys/kernel/cap_last_cap")
	if err != nil {
		return "unknown: " + err.Error()
	}
	var last uint
	if _, err := fmt.Sscan(string(b), &last); err != nil {
		return "unknown: " + err.Error()
	}
	return fmt.Sprintf("%016x", uint64(1)<<(last+1)-1)
}

// attackProbes are attacks 1-4 and the default privileges, run from every entry point.
func attackProbes(engine, entry string) []escapeProbe {
	return []escapeProbe{sysctlProbe(), maskedProbe(engine), readonlyProbe(), cgroupfsProbe(), cgroupProbe(),
		devicesProbe(kmsgMarker(entry)), seccompProbe(), capsProbes()[0]}
}

// ---- run and exec entry points ----

// runProbe runs one probe through run (a command line ending in IMAGE CMD...) and judges it.
func runProbe(t *testing.T, p escapeProbe, run func(script string) result) {
	t.Helper()
	res := run(p.fullScript())
	protectHost(t)
	if p.after != nil {
		p.after(t)
	}
	if bad := p.judge(parseVerdicts(res.stdout + res.stderr)); len(bad) > 0 {
		t.Errorf("%s: %d attack(s) not refused:\n  %s\n(exit %d; output:\n%s%s)", p.name, len(bad),
			strings.Join(bad, "\n  "), res.code, res.stdout, res.stderr)
	}
}

func command(name string, args ...string) result {
	cmd := exec.Command(name, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		return result{"", err.Error(), -1}
	}
	return result{out.String(), errb.String(), code}
}

func requireDocker(t *testing.T) {
	t.Helper()
	prereq.Require(t, prereq.Root|prereq.Docker)
}

func TestEscapeHoistRun(t *testing.T) {
	root := containerRoot(t)
	hostBaseline(t)
	probes := append(attackProbes(engineHoist, "run"), capsProbes()[1:]...)
	for _, p := range probes {
		t.Run(p.name, func(t *testing.T) {
			runProbe(t, p, func(script string) result {
				args := append(append([]string{"run", "--rm", "--network", "none"}, p.args...), "busybox", "sh", "-c", script)
				return hoist(t, root, "", args...)
			})
		})
	}
}

func TestEscapeDockerRun(t *testing.T) {
	requireDocker(t)
	hostBaseline(t)
	probes := append(attackProbes(engineDocker, "docker-run"), capsProbes()[1:]...)
	for _, p := range probes {
		t.Run(p.name, func(t *testing.T) {
			if p.dockerRefuses != "" {
				res := command("docker", append(append([]string{"run", "--rm", "--network", "none"}, p.args...), "busybox", "sh", "-c", p.fullScript())...)
				protectHost(t)
				if res.code != 0 && strings.Contains(res.stderr, p.dockerRefuses) {
					t.Logf("docker 20.10 cannot run %v on this host (%q): expected, see the probe", p.args, p.dockerRefuses)
					return
				}
				if bad := p.judge(parseVerdicts(res.stdout + res.stderr)); len(bad) > 0 {
					t.Errorf("%s: %s (exit %d, %s%s)", p.name, strings.Join(bad, "; "), res.code, res.stdout, res.stderr)
				}
				return
			}
			runProbe(t, p, func(script string) result {
				return command("docker", append(append([]string{"run", "--rm", "--network", "none"}, p.args...), "busybox", "sh", "-c", script)...)
			})
		})
	}
	// The reference for --privileged (docker cannot run it here, see caps-privileged).
	t.Run("podman-privileged", func(t *testing.T) {
		prereq.Require(t, prereq.Podman)
		p := capsProbes()[3]
		runProbe(t, p, func(script string) result {
			return command("podman", append(podmanRun(), "--privileged", "docker.io/library/busybox", "sh", "-c", script)...)
		})
	})
}

// podmanRun is `podman run --rm --network none` set up the way shared/refenv configures podman, so
// that it works on a host without that configuration too: runc (crun 1.8 refuses hybrid cgroup
// hosts) and rlimits no higher than this process's hard limits, capped as refenv caps them (without
// CAP_SYS_RESOURCE podman's defaults cannot be set).
func podmanRun() []string {
	limit := func(res int, max uint64) string {
		var r unix.Rlimit
		if err := unix.Getrlimit(res, &r); err == nil && r.Max < max {
			max = r.Max
		}
		return fmt.Sprintf("%d:%d", max, max)
	}
	return []string{"--runtime", "runc", "run", "--rm", "--network", "none",
		"--ulimit", "nofile=" + limit(unix.RLIMIT_NOFILE, 16384), "--ulimit", "nproc=" + limit(unix.RLIMIT_NPROC, 32768)}
}

// execProbes are the probes that only make sense from exec: the exec'd process must be
// indistinguishable from the container's pid 1 (namespaces, privileges, cgroup).
func execSameAsPid1Probe() escapeProbe {
	return escapeProbe{name: "exec-same-as-pid1", script: `
for n in mnt pid net uts ipc cgroup user; do
  a=$(readlink /proc/self/ns/$n); b=$(readlink /proc/1/ns/$n)
  if [ "$a" = "$b" ]; then say ns_$n same; else say ns_$n "ALLOWED different: self $a, pid 1 $b"; fi
done
for f in CapEff CapPrm CapBnd CapInh NoNewPrivs Seccomp; do
  a=$(grep "^$f:" /proc/self/status); b=$(grep "^$f:" /proc/1/status)
  if [ "$a" = "$b" ]; then say $f same; else say $f "ALLOWED different: self $a, pid 1 $b"; fi
done
if [ "$(cat /proc/self/cgroup)" = "$(cat /proc/1/cgroup)" ]; then say cgroup same; else say cgroup "ALLOWED different: $(cat /proc/self/cgroup | tr '\n' ' ') vs pid 1 $(cat /proc/1/cgroup | tr '\n' ' ')"; fi
if [ "$(readlink /proc/self/root)" = "$(readlink /proc/1/root)" ] && [ "$(stat -L -c %d:%i /proc/self/root/)" = "$(stat -L -c %d:%i /proc/1/root/)" ]; then say root same; else say root "ALLOWED different"; fi
`, want: []string{"ns_mnt: same", "ns_pid: same", "ns_net: same", "ns_uts: same", "ns_ipc: same", "ns_cgroup: same", "ns_user: same",
		"CapEff: same", "CapPrm: same", "CapBnd: same", "CapInh: same", "NoNewPrivs: same", "Seccomp: same", "cgroup: same", "root: same"}}
}

// fdLeakProbe: the exec'ing process holds fds 3-7 open on a host directory; none may reach the
// exec'd process, or `cd -P /proc/self/fd/7/../../..` walks out of the container onto the host.
func fdLeakProbe() escapeProbe {
	return escapeProbe{name: "exec-fd-leak", script: `
say fds "$(ls /proc/self/fd | tr '\n' ' ')"
if cd -P /proc/self/fd/7 2>/dev/null; then say fd7 "ALLOWED in $(pwd): $(ls | tr '\n' ' ')"; else say fd7 refused; fi
if cd -P /proc/self/fd/7/../../.. 2>/dev/null; then say walk "ALLOWED in $(pwd): $(ls | tr '\n' ' ')"; else say walk refused; fi
`, want: []string{"fds: 0 1 2 3", "fd7: refused", "walk: refused"}} // 3 is ls's own directory fd
}

// execWithLeakedFds runs an exec command line with fds 3-7 open on a host directory holding a
// marker file.
func execWithLeakedFds(t *testing.T, cmd *exec.Cmd) result {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "HOST-DIRECTORY-MARKER"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	d, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	cmd.ExtraFiles = []*os.File{d, d, d, d, d}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Start()
	if err == nil {
		timer := time.AfterFunc(hoistTimeout, func() { _ = cmd.Process.Kill() })
		err = cmd.Wait()
		timer.Stop()
	}
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	res := result{out.String(), errb.String(), code}
	if strings.Contains(res.stdout, "HOST-DIRECTORY-MARKER") {
		t.Errorf("the exec'd process listed the host directory behind the leaked descriptor")
	}
	return res
}

func TestEscapeHoistExec(t *testing.T) {
	root := containerRoot(t)
	hostBaseline(t)
	if res := hoist(t, root, "", "run", "-d", "--network", "none", "--name", "target", "busybox", "sleep", "1000"); res.code != 0 {
		t.Fatalf("run -d: %+v", res)
	}
	probes := append(attackProbes(engineHoist, "exec"), execSameAsPid1Probe())
	for _, p := range probes {
		t.Run(p.name, func(t *testing.T) {
			runProbe(t, p, func(script string) result { return hoist(t, root, "", "exec", "target", "sh", "-c", script) })
		})
	}
	p := fdLeakProbe()
	t.Run(p.name, func(t *testing.T) {
		runProbe(t, p, func(script string) result {
			return execWithLeakedFds(t, hoistCmd(root, "exec", "target", "sh", "-c", script))
		})
	})
}

func TestEscapeDockerExec(t *testing.T) {
	requireDocker(t)
	hostBaseline(t)
	res := command("docker", "run", "-d", "--rm", "--network", "none", "busybox", "sleep", "1000")
	if res.code != 0 {
		t.Fatalf("docker run -d: %+v", res)
	}
	id := strings.TrimSpace(res.stdout)
	t.Cleanup(func() { command("docker", "rm", "-f", id) })
	probes := append(attackProbes(engineDocker, "docker-exec"), execSameAsPid1Probe())
	for _, p := range probes {
		t.Run(p.name, func(t *testing.T) {
			runProbe(t, p, func(script string) result { return command("docker", "exec", id, "sh", "-c", script) })
		})
	}
	p := fdLeakProbe()
	t.Run(p.name, func(t *testing.T) {
		runProbe(t, p, func(script string) result {
			return execWithLeakedFds(t, exec.Command("docker", "exec", id, "sh", "-c", script))
		})
	})
}

// ---- flags (run only) ----

// flagProbes are run flags whose effect is checked inside the container.
func flagProbes() []escapeProbe {
	return []escapeProbe{
		// --read-only covers the files the runtime binds in, not only the image's rootfs.
		{name: "read-only-etc", args: []string{"--read-only"}, script: `
for f in /etc/hosts /etc/hostname /etc/resolv.conf /escape-probe; do
  if ( : >> $f ) 2>/dev/null; then say $f "ALLOWED writable"; else say $f readonly; fi
done
`, want: []string{"/etc/hosts: readonly", "/etc/hostname: readonly", "/etc/resolv.conf: readonly", "/escape-probe: readonly"}},
		{name: "tmpfs-size", args: []string{"--tmpfs", "/run:size=1m"}, script: `
if grep -q '^tmpfs /run tmpfs .*size=1024k' /proc/mounts; then say mount tmpfs-1m; else say mount "ALLOWED? $(grep ' /run ' /proc/mounts)"; fi
if echo ok > /run/small 2>/dev/null; then say write ok; else say write failed; fi
if dd if=/dev/zero of=/run/big bs=1k count=2048 2>/dev/null; then say bounded "ALLOWED 2 MiB fit"; else say bounded yes; fi
`, want: []string{"mount: tmpfs-1m", "write: ok", "bounded: yes"}},
	}
}

// flagError is a run that must fail before any container exists.
type flagError struct {
	name       string
	args       []string
	wantCode   int
	wantStderr []string
	dockerCode int // docker 20.10's exit code when it differs (see where set)
	// dockerLeaves: docker 20.10 checks this flag only when it starts the container it created,
	// so the refused run leaves a container in the Created state (removed by the test).
	dockerLeaves bool
}

func flagErrors(t *testing.T) []flagError {
	dir := hoistTempDir(t)
	bad := filepath.Join(dir, "malformed.json")
	if err := os.WriteFile(bad, []byte(`{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [`), 0o644); err != nil {
		t.Fatal(err)
	}
	shareWithHoist(t, bad)
	return []flagError{
		// docker 20.10 exits 127 here: its CLI maps any daemon error containing "no such file or
		// directory" to 127 (the code for a missing command). hoist's contract is 125, the code of
		// every error of the runtime itself before the command runs.
		{"device-missing", []string{"--device", "/dev/nosuch"}, 125, []string{"/dev/nosuch"}, 127, true},
		{"cap-add-unknown", []string{"--cap-add", "NOSUCH"}, 125, []string{"NOSUCH"}, 0, false},
		{"seccomp-missing", []string{"--security-opt", "seccomp=/nonexistent.json"}, 125, []string{"seccomp", "/nonexistent.json"}, 0, false},
		{"seccomp-malformed", []string{"--security-opt", "seccomp=" + bad}, 125, []string{"seccomp", bad}, 0, false},
	}
}

func TestEscapeHoistFlags(t *testing.T) {
	root := containerRoot(t)
	hostBaseline(t)
	for _, p := range flagProbes() {
		t.Run(p.name, func(t *testing.T) {
			runProbe(t, p, func(script string) result {
				return hoist(t, root, "", append(append([]string{"run", "--rm", "--network", "none"}, p.args...), "busybox", "sh", "-c", script)...)
			})
		})
	}
	for _, fe := range flagErrors(t) {
		t.Run(fe.name, func(t *testing.T) {
			res := hoist(t, root, "", append(append([]string{"run", "--network", "none", "--name", "bad-" + fe.name}, fe.args...), "busybox", "true")...)
			checkFlagError(t, fe, fe.wantCode, res)
			if ps := hoist(t, root, "", "ps", "-a", "--format", "{{.Names}}"); strings.TrimSpace(ps.stdout) != "" {
				t.Errorf("a refused run left a container: %q", ps.stdout)
				hoist(t, root, "", "rm", "-f", "bad-"+fe.name)
			}
		})
	}
}

func TestEscapeDockerFlags(t *testing.T) {
	requireDocker(t)
	hostBaseline(t)
	for _, p := range flagProbes() {
		t.Run(p.name, func(t *testing.T) {
			runProbe(t, p, func(script string) result {
				return command("docker", append(append([]string{"run", "--rm", "--network", "none"}, p.args...), "busybox", "sh", "-c", script)...)
			})
		})
	}
	for _, fe := range flagErrors(t) {
		t.Run(fe.name, func(t *testing.T) {
			name := fmt.Sprintf("hoist-escape-%s-%d", fe.name, rand.Int63())
			res := command("docker", append(append([]string{"run", "--network", "none", "--name", name}, fe.args...), "busybox", "true")...)
			code := fe.wantCode
			if fe.dockerCode != 0 {
				code = fe.dockerCode
			}
			checkFlagError(t, fe, code, res)
			if ps := command("docker", "ps", "-aq", "--filter", "name="+name); strings.TrimSpace(ps.stdout) != "" {
				if !fe.dockerLeaves {
					t.Errorf("a refused docker run left a container: %q", ps.stdout)
				}
				command("docker", "rm", "-f", name)
			}
		})
	}
}

func checkFlagError(t *testing.T, fe flagError, code int, res result) {
	t.Helper()
	if strings.Contains(res.stderr, "unknown flag") {
		t.Errorf("%v: the flag is not implemented: %q", fe.args, strings.TrimSpace(res.stderr))
		return
	}
	if res.code != code {
		t.Errorf("%v: exit %d, want %d (stderr %q)", fe.args, res.code, code, res.stderr)
	}
	for _, w := range fe.wantStderr {
		if !strings.Contains(res.stderr, w) {
			t.Errorf("%v: stderr %q does not name %q", fe.args, res.stderr, w)
		}
	}
}
