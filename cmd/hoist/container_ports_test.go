package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// freePorts returns n consecutive TCP ports of 127.0.0.1 that were free a moment ago.
func freePorts(t *testing.T, n int) int {
	t.Helper()
	for try := 0; try < 50; try++ {
		l, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		first := l.Addr().(*net.TCPAddr).Port
		ls := []net.Listener{l}
		for i := 1; i < n; i++ {
			if l, err := net.Listen("tcp4", fmt.Sprintf("127.0.0.1:%d", first+i)); err == nil {
				ls = append(ls, l)
			}
		}
		for _, l := range ls {
			l.Close()
		}
		if len(ls) == n {
			return first
		}
	}
	t.Fatalf("no %d consecutive free ports", n)
	return 0
}

// get fetches url, retrying for up to 10 s while the server starts.
func get(t *testing.T, url string) string {
	t.Helper()
	client := http.Client{Timeout: 2 * time.Second}
	var body string
	waitFor(t, 10*time.Second, "GET "+url, func() bool {
		resp, err := client.Get(url)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		body = string(b)
		return err == nil && resp.StatusCode == http.StatusOK
	})
	return body
}

// -p with docker's port ranges: a host range mapped port to port onto a container range, and a host
// range from which a single container port takes the first free port.
func TestPublishPortRange(t *testing.T) {
	root := containerRoot(t)
	p := freePorts(t, 2)
	spec := fmt.Sprintf("127.0.0.1:%d-%d:80-81", p, p+1)
	res := hoist(t, root, "", "run", "-d", "--name", "two", "-p", spec, "busybox", "sh", "-c",
		"mkdir /a /b; echo a > /a/i; echo b > /b/i; httpd -p 80 -h /a; exec httpd -f -p 81 -h /b")
	if res.code != 0 {
		t.Fatalf("run -p %s: %+v", spec, res)
	}
	if got := get(t, fmt.Sprintf("http://127.0.0.1:%d/i", p)); got != "a\n" {
		t.Errorf("host port %d served %q, want container port 80's %q", p, got, "a\n")
	}
	if got := get(t, fmt.Sprintf("http://127.0.0.1:%d/i", p+1)); got != "b\n" {
		t.Errorf("host port %d served %q, want container port 81's %q", p+1, got, "b\n")
	}
	want := fmt.Sprintf("80/tcp -> 127.0.0.1:%d\n81/tcp -> 127.0.0.1:%d\n", p, p+1)
	if got := hoist(t, root, "", "port", "two").stdout; got != want {
		t.Errorf("port: %q, want %q", got, want)
	}
	want = fmt.Sprintf("127.0.0.1:%d-%d->80-81/tcp\n", p, p+1)
	if got := hoist(t, root, "", "ps", "--format", "{{.Ports}}", "-f", "name=two").stdout; got != want {
		t.Errorf("ps PORTS: %q, want %q", got, want)
	}

	// A host range for one container port: the first port of the range is taken, so the next one is used.
	q := freePorts(t, 3)
	taken, err := net.Listen("tcp4", fmt.Sprintf("127.0.0.1:%d", q))
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	spec = fmt.Sprintf("127.0.0.1:%d-%d:80", q, q+2)
	if res := hoist(t, root, "", "run", "-d", "--name", "any", "-p", spec, "busybox", "httpd", "-f", "-p", "80", "-h", "/etc"); res.code != 0 {
		t.Fatalf("run -p %s: %+v", spec, res)
	}
	if got, want := hoist(t, root, "", "port", "any", "80").stdout, fmt.Sprintf("127.0.0.1:%d\n", q+1); got != want {
		t.Errorf("port any 80: %q, want %q", got, want)
	}
	if got := get(t, fmt.Sprintf("http://127.0.0.1:%d/hostname", q+1)); len(strings.TrimSpace(got)) != 12 {
		t.Errorf("GET /hostname through the range's port: %q", got)
	}
	want = fmt.Sprintf(`{"80/tcp":[{"HostIp":"127.0.0.1","HostPort":"%d-%d"}]}`+"\n", q, q+2)
	if got := hoist(t, root, "", "inspect", "--format", "{{json .HostConfig.PortBindings}}", "any").stdout; got != want {
		t.Errorf("PortBindings: %q, want %q", got, want)
	}
	// Sizes that do not match are refused, as by docker.
	res = hoist(t, root, "", "run", "--rm", "-p", "8000-8002:80-81", "busybox", "true")
	if res.code != 125 || !strings.Contains(res.stderr, "invalid ranges specified for container and host Ports") {
		t.Errorf("mismatched ranges: %+v", res)
	}
}
