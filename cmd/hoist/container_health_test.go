package main

import (
	"encoding/json"
	"os/exec"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Health checks as docker 20.10 runs them, asserted on what a user sees (inspect's State.Health and
// Config.Healthcheck, ps STATUS, ps --filter health=): the same script runs against dockerd (the
// oracle that keeps these expectations honest) and against hoist. The probe's outcome is driven by
// exec (touch / rm of the file it tests), not by wall-clock, and every wait has a generous deadline.
func TestHealthCheckLikeDocker(t *testing.T) {
	root := containerRoot(t)
	t.Run("hoist", func(t *testing.T) {
		// Docker >= 25 probes at the start interval during the start period (default 5 s); docker
		// 20.10 at the interval. hoist does the former: give it the interval.
		healthScript(t, hoistEngine(root), "--health-start-interval", "300ms")
	})
	t.Run("docker", func(t *testing.T) { healthScript(t, dockerEngine(t)) })
}

func healthScript(t *testing.T, e engine, extra ...string) {
	name := e.names + "h"
	run := func(args ...string) result {
		t.Helper()
		res := e.run(t, "", args...)
		if res.code != 0 {
			t.Fatalf("%s %q: %+v", e.name, args, res)
		}
		return res
	}
	// A failing probe within the start period keeps the container starting (the streak does not count).
	args := append([]string{"run", "-d", "--name", name, "--network", "none", "--health-cmd", "echo probe-out; cat /tmp/ok",
		"--health-interval", "300ms", "--health-retries", "2", "--health-start-period", "1h"}, extra...)
	run(append(args, "busybox", "sleep", "600")...)
	if got := strings.TrimSpace(run("inspect", "-f", "{{.State.Health.Status}}", name).stdout); got != "starting" {
		t.Errorf("%s: health right after run: %q, want starting", e.name, got)
	}
	psStatus(t, e, name, `^Up .+ \(health: starting\)$`)
	e.waitState(t, time.Minute, name, `{{.State.Health.Status}} {{.State.Health.FailingStreak}} {{len .State.Health.Log}}`, "starting 0 1")
	first := healthLog(t, e, name)[0]
	// The probe's stdout and stderr are two pipes: docker interleaves them in no fixed order.
	if first.ExitCode != 1 || !strings.Contains(first.Output, "probe-out\n") || !strings.Contains(first.Output, "/tmp/ok") ||
		!first.End.After(first.Start) {
		t.Errorf("%s: first probe %+v: want exit 1, output from the probe, End after Start", e.name, first)
	}
	psFilter(t, e, "health=starting", name, true)
	psFilter(t, e, "health=healthy", name, false)

	// A success: healthy at once.
	run("exec", name, "touch", "/tmp/ok")
	e.waitState(t, time.Minute, name, `{{.State.Health.Status}} {{.State.Health.FailingStreak}}`, "healthy 0")
	psStatus(t, e, name, `^Up .+ \(healthy\)$`)
	psFilter(t, e, "health=healthy", name, true)
	psFilter(t, e, "health=none", name, false)

	// Out of the start period's shelter now: two failures (the retries) make it unhealthy.
	run("exec", name, "rm", "/tmp/ok")
	e.waitState(t, time.Minute, name, `{{.State.Health.Status}}`, "unhealthy")
	if n, _ := strconv.Atoi(strings.TrimSpace(run("inspect", "-f", "{{.State.Health.FailingStreak}}", name).stdout)); n < 2 {
		t.Errorf("%s: unhealthy with a failing streak of %d, want >= 2 (the retries)", e.name, n)
	}
	psStatus(t, e, name, `^Up .+ \(unhealthy\)$`)
	psFilter(t, e, "health=unhealthy", name, true)
	if log := healthLog(t, e, name); len(log) > 5 {
		t.Errorf("%s: %d health log entries, docker keeps 5", e.name, len(log))
	}
	var cfg map[string]any
	if err := json.Unmarshal([]byte(run("inspect", "-f", "{{json .Config.Healthcheck}}", name).stdout), &cfg); err != nil {
		t.Fatal(err)
	}
	delete(cfg, "StartInterval") // docker 20.10 has none
	want := map[string]any{"Test": []any{"CMD-SHELL", "echo probe-out; cat /tmp/ok"}, "Interval": 3e8, "StartPeriod": 3.6e12, "Retries": 2.0}
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("%s: Config.Healthcheck %v, want %v", e.name, cfg, want)
	}
	// Stopped: the health state stays, STATUS says nothing of it.
	run("stop", "-t", "1", name)
	psStatus(t, e, name, `^Exited \(137\) .+ ago$`)
	if got := strings.TrimSpace(run("inspect", "-f", "{{.State.Health.Status}}", name).stdout); got != "unhealthy" {
		t.Errorf("%s: health after stop: %q, want unhealthy (kept)", e.name, got)
	}

	// A probe over its timeout fails with docker's message; exit code -1.
	slow := e.names + "slow"
	run("run", "-d", "--name", slow, "--network", "none", "--health-cmd", "sleep 30", "--health-timeout", "200ms",
		"--health-interval", "300ms", "--health-retries", "1", "busybox", "sleep", "600")
	e.waitState(t, time.Minute, slow, `{{.State.Health.Status}}`, "unhealthy")
	if l := healthLog(t, e, slow)[0]; l.ExitCode != -1 || !strings.HasPrefix(l.Output, "Health check exceeded timeout (200ms)") {
		t.Errorf("%s: timed-out probe %+v", e.name, l)
	}
	run("rm", "-f", slow)

	// --no-healthcheck: Test NONE, no health state, health=none.
	none := e.names + "none"
	run("create", "--name", none, "--no-healthcheck", "busybox", "true")
	if got := strings.TrimSpace(run("inspect", "-f", "{{json .Config.Healthcheck}} {{json .State.Health}}", none).stdout); got != `{"Test":["NONE"]} null` {
		t.Errorf("%s: --no-healthcheck: %s", e.name, got)
	}
	psFilter(t, e, "health=none", none, true)

	// Bad flags: docker's messages, exit 125.
	for flag, msg := range map[string]string{
		"--health-interval=-1s": "--health-interval cannot be negative",
		"--health-retries=-1":   "--health-retries cannot be negative",
	} {
		if res := e.run(t, "", "run", "--rm", flag, "busybox", "true"); res.code != 125 || !strings.Contains(res.stderr, msg) {
			t.Errorf("%s: run %s: %+v, want exit 125 and %q", e.name, flag, res, msg)
		}
	}
	if res := e.run(t, "", "run", "--rm", "--no-healthcheck", "--health-cmd", "true", "busybox", "true"); res.code != 125 ||
		!strings.Contains(res.stderr, "--no-healthcheck conflicts with --health-* options") {
		t.Errorf("%s: --no-healthcheck with --health-cmd: %+v", e.name, res)
	}
}

// The image's HEALTHCHECK runs; a flag replaces one of its values and keeps the others. The image
// is built by each engine from the same Dockerfile.
func TestImageHealthcheck(t *testing.T) {
	root := containerRoot(t)
	dockerfile := "FROM busybox\nHEALTHCHECK --interval=300ms --retries=1 CMD [\"test\", \"-e\", \"/etc/passwd\"]\n"
	t.Run("hoist", func(t *testing.T) {
		e := hoistEngine(root)
		mustOK(t, hoist(t, root, "", "build", "-q", "-t", "hc:1", writeContext(t, map[string]string{"Dockerfile": dockerfile})), "build")
		imageHealthScript(t, e, "hc:1")
	})
	t.Run("docker", func(t *testing.T) {
		e := dockerEngine(t)
		tag := strings.TrimSuffix(e.names, "-") + ":1"
		cmd := exec.Command(dockerBin, "build", "-q", "--network", "none", "-t", tag, "-")
		cmd.Env = append(cmd.Environ(), "DOCKER_BUILDKIT=1")
		if res := runCmd(t, cmd, dockerfile); res.code != 0 {
			t.Fatalf("docker build: %+v", res)
		}
		t.Cleanup(func() { _ = exec.Command(dockerBin, "rmi", "-f", tag).Run() })
		imageHealthScript(t, e, tag)
	})
}

func imageHealthScript(t *testing.T, e engine, image string) {
	ok, bad := e.names+"ok", e.names+"bad"
	if res := e.run(t, "", "run", "-d", "--name", ok, "--network", "none", image, "sleep", "600"); res.code != 0 {
		t.Fatalf("%s run: %+v", e.name, res)
	}
	e.waitState(t, time.Minute, ok, `{{.State.Health.Status}}`, "healthy")
	if res := e.run(t, "", "run", "-d", "--name", bad, "--network", "none", "--health-cmd", "exit 1", image, "sleep", "600"); res.code != 0 {
		t.Fatalf("%s run --health-cmd: %+v", e.name, res)
	}
	e.waitState(t, time.Minute, bad, `{{.State.Health.Status}}`, "unhealthy")
	got := strings.TrimSpace(e.run(t, "", "inspect", "-f", "{{json .Config.Healthcheck.Test}} {{json .Config.Healthcheck.Interval}} {{json .Config.Healthcheck.Retries}}", bad).stdout)
	if want := `["CMD-SHELL","exit 1"] 300000000 1`; got != want {
		t.Errorf("%s: merged health check %s, want %s", e.name, got, want)
	}
}

// healthEntry is one State.Health.Log entry as inspect prints it.
type healthEntry struct {
	Start, End time.Time
	ExitCode   int
	Output     string
}

func healthLog(t *testing.T, e engine, name string) []healthEntry {
	t.Helper()
	res := e.run(t, "", "inspect", "-f", "{{json .State.Health.Log}}", name)
	var log []healthEntry
	if err := json.Unmarshal([]byte(res.stdout), &log); err != nil || len(log) == 0 {
		t.Fatalf("%s: State.Health.Log of %s: %q (%v)", e.name, name, res.stdout, err)
	}
	return log
}

// psStatus checks ps -a's STATUS of name against the pattern.
func psStatus(t *testing.T, e engine, name, pattern string) {
	t.Helper()
	res := e.run(t, "", "ps", "-a", "--filter", "name="+name, "--format", "{{.Status}}")
	if got := strings.TrimSpace(res.stdout); !regexp.MustCompile(pattern).MatchString(got) {
		t.Errorf("%s: ps STATUS of %s: %q (%+v), want %s", e.name, name, got, res, pattern)
	}
}

// psFilter checks whether ps -a --filter filter lists name.
func psFilter(t *testing.T, e engine, filter, name string, want bool) {
	t.Helper()
	res := e.run(t, "", "ps", "-a", "--filter", filter, "--filter", "name="+name, "--format", "{{.Names}}")
	if got := strings.TrimSpace(res.stdout) == name; got != want || res.code != 0 {
		t.Errorf("%s: ps --filter %s lists %s: %v (%+v), want %v", e.name, filter, name, got, res, want)
	}
}

// ps --filter publish=, expose=, volume=, network= select like docker's (documented) rules. docker
// 20.10's publish and expose filters match nothing at all (docker/for-linux#1239), so those two are
// asserted on hoist alone; volume and network run against dockerd too.
func TestPsFilterPortsVolumesNetworks(t *testing.T) {
	root := containerRoot(t)
	bind := t.TempDir()
	h := hoistEngine(root)
	web, db := h.names+"web", h.names+"db"
	mustOK(t, hoist(t, root, "", "create", "--name", web, "-p", "127.0.0.1::80", "--expose", "53/udp", "-v", h.names+"data:/data", "busybox", "true"), "create web")
	mustOK(t, hoist(t, root, "", "create", "--name", db, "--network", "host", "--expose", "5432", "-v", bind+":/var/lib/db", "busybox", "true"), "create db")
	for filter, want := range map[string]string{
		"publish=80": web, "publish=80/tcp": web, "publish=79-81": web, "publish=80/udp": "", "publish=5432": "",
		"expose=80": web, "expose=53/udp": web, "expose=53": "", "expose=5000-6000/tcp": db, "expose=5432/udp": "",
	} {
		res := hoist(t, root, "", "ps", "-a", "--filter", filter, "--filter", "name="+h.names, "--format", "{{.Names}}")
		if got := strings.TrimSpace(res.stdout); got != want || res.code != 0 {
			t.Errorf("hoist ps --filter %s: %q (%+v), want %q", filter, got, res, want)
		}
	}
	for filter, want := range map[string]string{"publish=80:80": "should not contain ':'", "expose=x": "error while looking up for expose x"} {
		if res := hoist(t, root, "", "ps", "--filter", filter); res.code == 0 || !strings.Contains(res.stderr, want) {
			t.Errorf("hoist ps --filter %s: %+v, want a failure with %q", filter, res, want)
		}
	}
	check := func(t *testing.T, e engine) {
		a, b := e.names+"a", e.names+"b"
		for _, args := range [][]string{
			{"create", "--name", a, "--network", "host", "-v", e.names + "vol:/data", "busybox", "true"},
			{"create", "--name", b, "--network", "none", "-v", bind + ":/srv", "busybox", "true"},
		} {
			if res := e.run(t, "", args...); res.code != 0 {
				t.Fatalf("%s %q: %+v", e.name, args, res)
			}
		}
		for filter, want := range map[string]string{
			"volume=" + e.names + "vol": a, "volume=/data": a, "volume=" + bind: b, "volume=/srv": b, "volume=/nosuch": "",
			"network=host": a, "network=none": b, "network=bridge": "",
		} {
			res := e.run(t, "", "ps", "-a", "--filter", filter, "--filter", "name="+e.names, "--format", "{{.Names}}")
			if got := strings.TrimSpace(res.stdout); got != want || res.code != 0 {
				t.Errorf("%s ps --filter %s: %q (%+v), want %q", e.name, filter, got, res, want)
			}
		}
	}
	t.Run("hoist", func(t *testing.T) { check(t, hoistEngine(root)) })
	t.Run("docker", func(t *testing.T) {
		e := dockerEngine(t)
		t.Cleanup(func() { _ = exec.Command(dockerBin, "volume", "rm", "-f", e.names+"vol").Run() })
		check(t, e)
	})
}
