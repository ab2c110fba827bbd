package main

import (
	"os"
	"strings"
	"testing"
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
