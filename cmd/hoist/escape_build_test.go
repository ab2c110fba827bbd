package main

import (
	"errors"
	"fmt"
	"math/rand"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
)

// The escape suite's build half: the probes of escape_test.go as RUN steps of one Dockerfile, the
// network isolation of RUN, and RUN --security=insecure.

// buildContext writes a context with each probe as /probes/NAME.sh and a Dockerfile running them
// (RUN sh /probes/NAME.sh; the step header never contains a verdict). runFlags go on every RUN.
func buildContext(t *testing.T, runFlags string, probes []escapeProbe) string {
	t.Helper()
	files := map[string]string{}
	df := "FROM busybox\nCOPY probes/ /probes/\n"
	for _, p := range probes {
		files["probes/"+p.name+".sh"] = p.fullScript()
		df += "RUN " + runFlags + "sh /probes/" + p.name + ".sh\n"
	}
	files["Dockerfile"] = df
	return writeContext(t, files)
}

// hoistBuild and dockerBuild build ctxDir with --no-cache and plain progress; the output is
// stdout and stderr together.
func hoistBuild(t *testing.T, root, ctxDir string, flags ...string) result {
	t.Helper()
	return hoist(t, root, "", append(append([]string{"build", "--no-cache", "--progress", "plain"}, flags...), ctxDir)...)
}

// dockerBuild uses the docker.io 20.10 CLI with BuildKit (refenv: the 28.x CLI has no buildx).
// The image is tagged so that it can be removed afterwards.
func dockerBuild(t *testing.T, ctxDir string, flags ...string) result {
	t.Helper()
	tag := fmt.Sprintf("hoist-escape-probe:%d", rand.Int63())
	cmd := exec.Command("/usr/bin/docker", append(append([]string{"build", "--no-cache", "--progress", "plain", "-t", tag}, flags...), ctxDir)...)
	cmd.Env = append(os.Environ(), "DOCKER_BUILDKIT=1")
	out, err := cmd.CombinedOutput()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { command("docker", "rmi", "-f", tag) })
	return result{string(out), "", code}
}

// judgeBuild judges every probe on the output of the one build that ran them all.
func judgeBuild(t *testing.T, probes []escapeProbe, res result) {
	t.Helper()
	protectHost(t)
	v := parseVerdicts(res.stdout + res.stderr)
	if res.code != 0 {
		t.Errorf("the build failed (exit %d; every probe script exits 0):\n%s%s", res.code, res.stdout, res.stderr)
	}
	for _, p := range probes {
		t.Run(p.name, func(t *testing.T) {
			if p.after != nil {
				p.after(t)
			}
			if bad := p.judge(v); len(bad) > 0 {
				t.Errorf("RUN %s: %d attack(s) not refused:\n  %s", p.name, len(bad), strings.Join(bad, "\n  "))
			}
		})
	}
	if t.Failed() {
		t.Logf("build output:\n%s%s", res.stdout, res.stderr)
	}
}

func TestEscapeHoistBuild(t *testing.T) {
	root := newRoot(t)
	hostBaseline(t)
	srv := hostListener(t)
	probes := append(attackProbes(engineHoist, "build"), networkProbe(srv, false))
	judgeBuild(t, probes, hoistBuild(t, root, buildContext(t, "", probes)))
	if n := srv.hits.Load(); n != 0 {
		t.Errorf("a RUN step on the default network reached the host's 127.0.0.1 (%d requests)", n)
	}

	// The positive control: with --network host the same probe reaches the listener.
	t.Run("network-host", func(t *testing.T) {
		p := networkProbe(srv, true)
		if rootlessPass() {
			p = rootlessHostNetworkProbe(srv)
		}
		judgeBuild(t, []escapeProbe{p}, hoistBuild(t, root, buildContext(t, "", []escapeProbe{p}), "--network", "host"))
	})

	// RUN --security=insecure is refused without --allow security.insecure, and with it the step
	// gets every capability of the bounding set (buildkit's insecure mode is --privileged).
	t.Run("security-insecure", func(t *testing.T) {
		p := insecureProbe()
		ctxDir := buildContext(t, "--security=insecure ", []escapeProbe{p})
		res := hoistBuild(t, root, ctxDir)
		protectHost(t)
		if res.code == 0 {
			t.Errorf("RUN --security=insecure without --allow security.insecure ran: %q", parseVerdicts(res.stdout+res.stderr))
		}
		res = hoistBuild(t, root, ctxDir, "--allow", "security.insecure")
		judgeBuild(t, []escapeProbe{p}, res)
	})
}

func TestEscapeDockerBuild(t *testing.T) {
	requireDocker(t)
	hostBaseline(t)
	srv := hostListener(t)
	// refenv's dockerd has no bridge: docker build runs RUN steps only with --network host or none.
	probes := attackProbes(engineDocker, "docker-build")
	judgeBuild(t, probes, dockerBuild(t, buildContext(t, "", probes), "--network", "host"))

	// docker build's default network is a namespace of its own (a bridge); without a bridge here,
	// --network none stands for it. Then --network host is the positive control.
	t.Run("network-none", func(t *testing.T) {
		p := networkProbe(srv, false)
		judgeBuild(t, []escapeProbe{p}, dockerBuild(t, buildContext(t, "", []escapeProbe{p}), "--network", "none"))
		if n := srv.hits.Load(); n != 0 {
			t.Errorf("a RUN step with --network none reached the host's 127.0.0.1 (%d requests)", n)
		}
	})
	t.Run("network-host", func(t *testing.T) {
		p := networkProbe(srv, true)
		judgeBuild(t, []escapeProbe{p}, dockerBuild(t, buildContext(t, "", []escapeProbe{p}), "--network", "host"))
	})

	// docker 20.10's built-in Dockerfile frontend refuses RUN --security=insecure outright ("Unknown
	// flag: security": the flag needs the labs frontend, which a `# syntax=` line would pull, and
	// nothing can be pulled here), and its CLI has no --allow; so only the refusal has a reference.
	t.Run("security-insecure", func(t *testing.T) {
		p := insecureProbe()
		res := dockerBuild(t, buildContext(t, "--security=insecure ", []escapeProbe{p}), "--network", "host")
		protectHost(t)
		if res.code == 0 {
			t.Errorf("docker ran RUN --security=insecure without --allow security.insecure: %s", res.stdout)
		}
	})
}

// insecureProbe is the privileges of a RUN --security=insecure step once allowed.
func insecureProbe() escapeProbe {
	return escapeProbe{name: "insecure", script: statusScript, want: privilegedWant(host)}
}

// listener is an HTTP server on the host's 127.0.0.1 that answers with a marker and counts requests.
type listener struct {
	addr, marker string
	hits         atomic.Int64
}

func hostListener(t *testing.T) *listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := &listener{addr: ln.Addr().String(), marker: fmt.Sprintf("host-listener-%d", rand.Int63())}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		l.hits.Add(1)
		fmt.Fprintln(w, l.marker)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return l
}

// networkProbe: a RUN step must not reach a listener on the host's loopback, directly or through the
// host's default gateway address (which pasta, rootless hoist's link to the outside, maps to the
// host's loopback unless told not to), nor see the host's addresses or interfaces (other than lo
// and eth0, names a namespace of its own may reuse). With hostNet (the positive control) it must
// reach it and see them.
func networkProbe(l *listener, hostNet bool) escapeProbe {
	h := host
	_, port, _ := net.SplitHostPort(l.addr)
	gw := h.gateway
	if gw == "" {
		gw = "192.0.2.1" // TEST-NET-1: nothing answers, as nothing should
	}
	// busybox-static's wget -T segfaults: nc speaks the HTTP.
	p := escapeProbe{name: "network", script: fmt.Sprintf(`
out=$(printf 'GET / HTTP/1.0\r\n\r\n' | nc -w 3 %s 2>/dev/null)
case "$out" in *%s*) say loopback "ALLOWED reached the host's %s";; *) say loopback refused;; esac
out=$(printf 'GET / HTTP/1.0\r\n\r\n' | nc -w 2 %s %s 2>/dev/null)
case "$out" in *%s*) say gateway "ALLOWED reached the host's %s through the gateway address %s";; *) say gateway refused;; esac
hit=""
for a in %s; do ip addr 2>/dev/null | grep -qF " $a/" && hit="$hit $a"; done
for i in %s; do grep -qE "^ *$i:" /proc/net/dev && hit="$hit $i"; done
if [ -n "$hit" ]; then say interfaces "ALLOWED the host's:$hit"; else say interfaces own; fi
`, strings.Replace(l.addr, ":", " ", 1), l.marker, l.addr, gw, port, l.marker, l.addr, gw, strings.Join(h.addrs, " "), strings.Join(h.ifaces, " "))}
	if !hostNet {
		p.want = []string{"loopback: refused", "gateway: refused", "interfaces: own"}
		return p
	}
	p.want = []string{"loopback: ALLOWED reached the host's " + l.addr, "gateway: refused"}
	p.allow = []string{"interfaces: ALLOWED the host's:*"}
	p.check = func(v verdicts) error {
		if got := v["network/interfaces"]; len(got) != 1 || !strings.HasPrefix(got[0], "ALLOWED") {
			return fmt.Errorf("with --network host the step does not see the host's addresses %q: %q", h.addrs, got)
		}
		return nil
	}
	return p
}

// rootlessHostNetworkProbe: rootless, --network host is the network namespace of the rootless
// server (a user namespace cannot join the host's, docs/rootless.md): the step sees hoist's bridge
// there, and the host's loopback stays out of reach.
func rootlessHostNetworkProbe(l *listener) escapeProbe {
	p := networkProbe(l, false)
	p.want = []string{"loopback: refused", "gateway: refused"}
	p.allow = []string{"interfaces: ALLOWED the host's:*"}
	p.check = func(v verdicts) error {
		if got := v["network/interfaces"]; len(got) != 1 || !strings.Contains(got[0], "hoist0") {
			return fmt.Errorf("rootless --network host: the step does not see the rootless namespace's bridge hoist0: %q", got)
		}
		return nil
	}
	return p
}
