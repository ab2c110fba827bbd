package builder_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hoistbuild/hoist/builder"
	"github.com/hoistbuild/hoist/internal/testutil/prereq"
	"github.com/hoistbuild/hoist/run"
	"github.com/hoistbuild/hoist/run/network"
)

// probe is a RUN step that prints REACHED or BLOCKED for a TCP connection to addr.
func probe(flags, addr string) string {
	return fmt.Sprintf("RUN %s if nc -w 3 %s </dev/null; then echo REACHED-$((1+1)); else echo BLOCKED-$((1+1)); fi\n",
		flags, strings.Replace(addr, ":", " ", 1))
}

// listen opens a TCP listener on host:0 that accepts and closes connections until the test ends.
func listen(t *testing.T, host string) string {
	t.Helper()
	l, err := net.Listen("tcp4", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	return l.Addr().String()
}

// buildLog builds df with opts and returns the progress output.
func buildLog(t *testing.T, b *builder.Builder, df string, opts builder.Options) (string, error) {
	t.Helper()
	var log bytes.Buffer
	opts.ContextDir, opts.Progress, opts.NoCache = contextDir(t, df), &log, true
	_, err := b.Build(context.Background(), opts)
	return log.String(), err
}

// reached says whether the build's one probe reached its listener ("$((1+1))" keeps the echoed
// command line from matching).
func reached(t *testing.T, log string) bool {
	t.Helper()
	switch {
	case strings.Contains(log, "REACHED-2"):
		return true
	case strings.Contains(log, "BLOCKED-2"):
		return false
	}
	t.Fatalf("probe printed nothing:\n%s", log)
	return false
}

// TestRunNetworkIsolation: a RUN step on the default network or --network none cannot reach a
// listener on the host's loopback; with --network host it can; RUN --network=none wins over the
// build's --network host, and RUN --network=host over the build's default.
func TestRunNetworkIsolation(t *testing.T) {
	b, _ := newBuilder(t)
	addr := listen(t, "127.0.0.1")
	tests := []struct {
		name, build, step string
		want              bool
	}{
		{"default", "", "", false},
		{"build default", "default", "", false},
		{"build none", "none", "", false},
		{"build host", "host", "", true},
		{"RUN none over build host", "host", "--network=none", false},
		{"RUN default defers to build host", "host", "--network=default", true},
		{"RUN host over build default", "", "--network=host", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			log, err := buildLog(t, b, "FROM busybox\n"+probe(tc.step, addr), builder.Options{Run: builder.RunOptions{Network: tc.build}})
			if err != nil {
				t.Fatalf("%v\n%s", err, log)
			}
			if got := reached(t, log); got != tc.want {
				t.Errorf("reached host loopback %s: %v, want %v\n%s", addr, got, tc.want, log)
			}
		})
	}
}

// hostAddr is the IPv4 address of the interface with the default route.
func hostAddr(t *testing.T) string {
	t.Helper()
	f, err := os.Open("/proc/net/route")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fl := strings.Fields(sc.Text())
		if len(fl) < 2 || fl[1] != "00000000" {
			continue
		}
		ifc, err := net.InterfaceByName(fl[0])
		if err != nil {
			t.Fatal(err)
		}
		addrs, _ := ifc.Addrs()
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil {
				return ipn.IP.String()
			}
		}
	}
	prereq.Skip(t, "no default route with an IPv4 address (the test reaches the host through the NAT)")
	return ""
}

// TestRunDefaultNetwork: a default RUN has its own interfaces (lo and an eth0 on hoist's 10.89/16,
// none of the host's) and reaches the host's default-route address through its gateway; with
// --network none it does not.
func TestRunDefaultNetwork(t *testing.T) {
	b, _ := newBuilder(t)
	df := "FROM busybox\nRUN echo IFACES $(sed 1,2d /proc/net/dev | cut -d: -f1 | tr -d ' ' | sort) && ip -4 addr show eth0 && ip route\n"
	log, err := buildLog(t, b, df, builder.Options{})
	if err != nil {
		t.Fatalf("%v\n%s", err, log)
	}
	if !strings.Contains(log, "IFACES eth0 lo\n") {
		t.Errorf("RUN's /proc/net/dev should list exactly eth0 and lo:\n%s", log)
	}
	if !regexp.MustCompile(`inet 10\.89\.\d+\.\d+/16`).MatchString(log) || !strings.Contains(log, "default via "+network.Gateway) {
		t.Errorf("RUN's eth0 has no 10.89.x.x/16 address or no default route via %s:\n%s", network.Gateway, log)
	}
	ifcs, _ := net.Interfaces()
	for _, ifc := range ifcs {
		addrs, _ := ifc.Addrs()
		for _, a := range addrs {
			ipn, ok := a.(*net.IPNet)
			if ok && ipn.IP.To4() != nil && !ipn.IP.IsLoopback() && ifc.Name != network.BridgeName &&
				strings.Contains(log, "inet "+ipn.IP.String()+"/") {
				t.Errorf("RUN sees the host's %s address %s:\n%s", ifc.Name, ipn.IP, log)
			}
		}
	}
	addr := listen(t, hostAddr(t))
	for _, mode := range []string{"default", "none"} {
		log, err := buildLog(t, b, "FROM busybox\n"+probe("", addr), builder.Options{Run: builder.RunOptions{Network: mode}})
		if err != nil {
			t.Fatalf("%v\n%s", err, log)
		}
		if got := reached(t, log); got != (mode == "default") {
			t.Errorf("--network %s: reached the host's %s: %v\n%s", mode, addr, got, log)
		}
	}
}

// buildCgroups lists the cgroups of this process's RUN steps (hoist/build-<pid>-*) in every hierarchy
// this process is in.
func buildCgroups(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	pattern := "build-" + strconv.Itoa(os.Getpid()) + "-*"
	dirs, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup/hoist", pattern)) // v2
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 || parts[1] == "" {
			continue
		}
		for _, c := range strings.Split(parts[1], ",") {
			m, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup", c, parts[2], "hoist", pattern))
			dirs = append(dirs, m...)
		}
	}
	slices.Sort(dirs)
	return slices.Compact(dirs)
}

// ourLeases lists the bridge leases held by this process: address → veth name on the host.
func ourLeases(t *testing.T) map[string]string {
	t.Helper()
	entries, _ := os.ReadDir(network.StateDir)
	out := map[string]string{}
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(network.StateDir, e.Name()))
		f := strings.Fields(string(data))
		if err == nil && len(f) == 3 && f[0] == strconv.Itoa(os.Getpid()) && len(f[2]) >= 8 {
			out[e.Name()] = "veth" + f[2][:8]
		}
	}
	return out
}

// TestRunCgroup: while a RUN runs, its processes are in a cgroup of its own (hoist/build-<id>, seen
// from the host), not in the builder's; after the build, and after a cancelled build, no such
// cgroup, no lease of ours and no new veth on the bridge is left.
func TestRunCgroup(t *testing.T) {
	b, _ := newBuilder(t)
	if d := buildCgroups(t); len(d) > 0 {
		t.Logf("RUN cgroups of another build exist before the test: %v", d)
	}
	var (
		mu    sync.Mutex
		seen  []string            // command lines of the processes in this process's RUN cgroups
		veths = map[string]bool{} // the host ends of the RUNs' veths
	)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			for _, v := range ourLeases(t) {
				mu.Lock()
				veths[v] = true
				mu.Unlock()
			}
			for _, d := range buildCgroups(t) {
				procs, _ := os.ReadFile(filepath.Join(d, "cgroup.procs"))
				for _, p := range strings.Fields(string(procs)) {
					if cmd, err := os.ReadFile("/proc/" + p + "/cmdline"); err == nil {
						mu.Lock()
						seen = append(seen, strings.ReplaceAll(string(cmd), "\x00", " "))
						mu.Unlock()
					}
				}
			}
		}
	}()
	defer func() { close(stop); <-done }()
	log, err := buildLog(t, b, "FROM busybox\nRUN sleep 1 & sleep 1.5; cat /proc/self/cgroup\n", builder.Options{})
	if err != nil {
		t.Fatalf("%v\n%s", err, log)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(veths) == 0 {
		t.Errorf("no lease of this process was ever seen while the RUN ran")
	}
	// cgroup.procs is the kernel's membership list (a process is in one cgroup per hierarchy, so
	// these are not in the builder's). /proc/<pid>/cgroup is not used: on cgroup v1 an exiting task
	// still listed in cgroup.procs shows "/" there (proc_cgroup_show), which made this flaky.
	if !slices.ContainsFunc(seen, func(c string) bool { return strings.HasPrefix(c, "sleep 1 ") || c == "sleep 1" }) ||
		!slices.ContainsFunc(seen, func(c string) bool { return strings.HasPrefix(c, "sleep 1.5") }) {
		t.Errorf("the RUN's processes (PID 1's sleep 1.5 and its background sleep 1) were not both seen in a hoist/build-<pid>-* cgroup; seen: %q", slices.Compact(seen))
	}
	for _, c := range seen {
		if strings.Contains(c, os.Args[0]) && !strings.Contains(c, run.InitArg) {
			t.Errorf("the builder itself is in a RUN cgroup: %q", c)
		}
	}
	leftovers := func(when string) {
		t.Helper()
		if d := buildCgroups(t); len(d) > 0 {
			t.Errorf("%s: RUN cgroups left: %v", when, d)
		}
		if l := ourLeases(t); len(l) > 0 {
			t.Errorf("%s: leases left: %v", when, l)
		}
		for v := range veths {
			if _, err := os.Stat("/sys/class/net/" + v); err == nil {
				t.Errorf("%s: veth %s left", when, v)
			}
		}
	}
	leftovers("after the build")
	mu.Unlock()

	// Cancelled while a background process of the RUN is still alive.
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(1500*time.Millisecond, cancel)
	_, err = b.Build(ctx, builder.Options{ContextDir: contextDir(t, "FROM busybox\nRUN (trap '' TERM; sleep 60) & sleep 60\n"), NoCache: true})
	if !errors.Is(err, context.Canceled) && (err == nil || !strings.Contains(err.Error(), "cancel")) {
		t.Errorf("cancelled build: %v", err)
	}
	mu.Lock()
	leftovers("after a cancelled build")
}

// TestRunSandboxOptions: --add-host, --shm-size and --ulimit reach the RUN step.
func TestRunSandboxOptions(t *testing.T) {
	b, _ := newBuilder(t)
	df := "FROM busybox\nRUN grep -E 'db|gw' /etc/hosts && df -k /dev/shm | tail -1 && echo NOFILE $(ulimit -Sn):$(ulimit -Hn)\n"
	log, err := buildLog(t, b, df, builder.Options{Run: builder.RunOptions{
		ExtraHosts: []builder.Host{{Name: "db", IP: "10.1.2.3"}, {Name: "gw", IP: builder.HostGateway}},
		ShmSize:    96 << 20,
		Ulimits:    []run.Rlimit{{Name: "nofile", Soft: 512, Hard: 512}},
	}})
	if err != nil {
		t.Fatalf("%v\n%s", err, log)
	}
	for _, want := range []string{"10.1.2.3\tdb\n", network.Gateway + "\tgw\n", " 98304 ", "NOFILE 512:512\n"} {
		if !strings.Contains(log, want) {
			t.Errorf("RUN output lacks %q:\n%s", want, log)
		}
	}
	// The defaults: 64 MiB /dev/shm.
	log, err = buildLog(t, b, "FROM busybox\nRUN df -k /dev/shm | tail -1\n", builder.Options{})
	if err != nil || !strings.Contains(log, " 65536 ") {
		t.Errorf("default /dev/shm is not 64 MiB (%v):\n%s", err, log)
	}
}

// TestRunSecurityInsecure: RUN --security=insecure fails without the security.insecure entitlement
// (also when its result is cached), naming the line; with it the step has every capability the
// builder has, where a default step has docker's 14.
func TestRunSecurityInsecure(t *testing.T) {
	b, _ := newBuilder(t)
	df := "FROM busybox\nRUN --security=insecure grep CapEff /proc/self/status\nRUN grep CapEff /proc/self/status\n"
	log, err := buildLog(t, b, df, builder.Options{})
	if err == nil || !strings.Contains(err.Error(), "security.insecure is not allowed") || !strings.Contains(err.Error(), "Dockerfile:2") {
		t.Fatalf("without --allow: %v\n%s", err, log)
	}
	opts := builder.Options{Run: builder.RunOptions{Allow: []string{builder.EntitlementSecurityInsecure}}}
	log, err = buildLog(t, b, df, opts)
	if err != nil {
		t.Fatalf("%v\n%s", err, log)
	}
	status, _ := os.ReadFile("/proc/self/status")
	own := regexp.MustCompile(`CapEff:\s*(\S+)`).FindStringSubmatch(string(status))[1]
	got := regexp.MustCompile(`CapEff:\s*(\S+)`).FindAllStringSubmatch(log, -1)
	if len(got) != 2 || got[0][1] != own || got[1][1] != "00000000a80425fb" {
		t.Errorf("CapEff of the insecure and the default step: %v, want %s and docker's 00000000a80425fb\n%s", got, own, log)
	}
	// Cached now: still refused without the entitlement.
	var l bytes.Buffer
	_, err = b.Build(context.Background(), builder.Options{ContextDir: contextDir(t, df), Progress: &l})
	if err == nil || !strings.Contains(err.Error(), "security.insecure is not allowed") {
		t.Errorf("cached insecure step without --allow: %v\n%s", err, l.String())
	}
}

// TestRunSandboxKey: what a RUN step's sandbox settings do to its cache key, as BuildKit keys them:
// the network mode, extra host names, /dev/shm size and ulimits are keyed; an extra host's address
// is not; a setting left at its default adds nothing.
func TestRunSandboxKey(t *testing.T) {
	b, _ := newBuilder(t)
	dir := contextDir(t, "FROM busybox\nRUN echo hi\n")
	steps := []struct {
		name   string
		ro     builder.RunOptions
		cached bool
	}{
		{"first", builder.RunOptions{}, false},
		{"same", builder.RunOptions{Network: "default"}, true},
		{"host network", builder.RunOptions{Network: "host"}, false},
		{"extra host", builder.RunOptions{ExtraHosts: []builder.Host{{Name: "db", IP: "10.0.0.1"}}}, false},
		{"extra host's address", builder.RunOptions{ExtraHosts: []builder.Host{{Name: "db", IP: "10.0.0.2"}}}, true},
		{"shm size", builder.RunOptions{ShmSize: 1 << 27}, false},
		{"ulimit", builder.RunOptions{Ulimits: []run.Rlimit{{Name: "nofile", Soft: 100, Hard: 100}}}, false},
		{"back to the default", builder.RunOptions{}, true},
	}
	for _, s := range steps {
		var log bytes.Buffer
		if _, err := b.Build(context.Background(), builder.Options{ContextDir: dir, Progress: &log, Run: s.ro}); err != nil {
			t.Fatalf("%s: %v\n%s", s.name, err, log.String())
		}
		if got := strings.Contains(log.String(), "CACHED"); got != s.cached {
			t.Errorf("%s: cached %v, want %v\n%s", s.name, got, s.cached, log.String())
		}
	}
}
