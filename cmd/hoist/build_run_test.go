package main

import (
	"fmt"
	"net"
	"os"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// TestBuildRunFlags: --network, --add-host, --shm-size, --ulimit and --allow reach the RUN steps
// through the command line; --rm and --force-rm are accepted; a bad value exits 125 naming its flag.
func TestBuildRunFlags(t *testing.T) {
	root := newRoot(t)
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	hostPort := strings.Replace(l.Addr().String(), ":", " ", 1)
	df := "FROM busybox\n" +
		"RUN grep -q '10.9.8.7\tdb' /etc/hosts && df -k /dev/shm | grep -q ' 32768 ' && test $(ulimit -n) = 512 && test $(ulimit -Hn) = 512\n" +
		"RUN nc -w 3 " + hostPort + " </dev/null\n" +
		"RUN --network=none sh -c '! nc -w 3 " + hostPort + " </dev/null'\n" +
		"RUN --security=insecure grep -q 'CapEff:.*" + ownCapEff(t) + "' /proc/self/status\n"
	ctxDir := writeContext(t, map[string]string{"Dockerfile": df})
	mustOK(t, hoist(t, root, "", "build", "--rm", "--force-rm", "--network", "host", "--add-host", "db:10.9.8.7",
		"--shm-size", "32m", "--ulimit", "nofile=512:512", "--allow", "security.insecure", "--allow", "network.host", ctxDir), "build")
	// The default network does not reach the host's loopback.
	def := writeContext(t, map[string]string{"Dockerfile": "FROM busybox\nRUN ! nc -w 3 " + hostPort + " </dev/null\n"})
	mustOK(t, hoist(t, root, "", "build", def), "build on the default network")

	bad := []struct {
		args []string
		want string
	}{
		{[]string{"--network", "bridge"}, "--network"},
		{[]string{"--add-host", "nocolon"}, "--add-host"},
		{[]string{"--add-host", "db:not-an-ip"}, "--add-host"},
		{[]string{"--shm-size", "big"}, "--shm-size"},
		{[]string{"--ulimit", "nofile"}, "--ulimit"},
		{[]string{"--ulimit", "nosuch=1"}, "--ulimit"},
		{[]string{"--ulimit", "nofile=2048:1024"}, "--ulimit"},
		{[]string{"--allow", "everything"}, "--allow"},
		{[]string{"--no-such-flag"}, "--no-such-flag"},
	}
	for _, tc := range bad {
		r := hoist(t, root, "", append(append([]string{"build"}, tc.args...), ctxDir)...)
		if r.code != 125 || !strings.Contains(lastErrorLine(r.stderr), tc.want) {
			t.Errorf("build %v: exit %d, %q; want 125 naming %s", tc.args, r.code, lastErrorLine(r.stderr), tc.want)
		}
	}
	// Raising a hard limit above hoist's own needs CAP_SYS_RESOURCE: refused up front when hoist lacks
	// it, applied otherwise.
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	above := fmt.Sprintf("nofile=512:%d", lim.Max+1)
	r := hoist(t, root, "", "build", "--ulimit", above, def)
	switch {
	case r.code == 125 && strings.Contains(lastErrorLine(r.stderr), "--ulimit") && strings.Contains(r.stderr, "CAP_SYS_RESOURCE"):
		if capSysResource(t) {
			t.Errorf("--ulimit %s refused although hoist has CAP_SYS_RESOURCE", above)
		}
	case r.code == 0 && capSysResource(t):
	default:
		t.Errorf("--ulimit %s (above hoist's hard limit): exit %d, %q", above, r.code, lastErrorLine(r.stderr))
	}
}

// ownCapEff is this process's effective capability set, as /proc/self/status shows it.
func ownCapEff(t *testing.T) string {
	t.Helper()
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`CapEff:\s*([0-9a-f]+)`).FindSubmatch(status)
	if m == nil {
		t.Fatal("no CapEff in /proc/self/status")
	}
	return string(m[1])
}

// capSysResource reports whether this process has CAP_SYS_RESOURCE (bit 24) in its effective set.
func capSysResource(t *testing.T) bool {
	eff, _ := strconv.ParseUint(ownCapEff(t), 16, 64)
	return eff&(1<<24) != 0
}
