package main

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hoistbuild/hoist/run/network"
)

// TestPublishedPortAnswersWhenAddressesAreReused (issue 11, bug 13): a request right after
// `run -d -p` is answered at once, 20 times in a row, although each container gets the address the
// one before had (and the host's neighbour cache knows it, the bridge staying up). With a random MAC per container the host
// kept sending to the previous container's MAC until the entry went stale: about 5 s without answer.
func TestPublishedPortAnswersWhenAddressesAreReused(t *testing.T) {
	root := containerRoot(t)
	// Another container on the bridge keeps its carrier up: with no port left, the kernel flushes the
	// bridge's neighbour entries and the bug hides.
	mustOK(t, hoist(t, root, "", "run", "-d", "--name", "anchor", "busybox", "sleep", "1000"), "run -d anchor")
	client := http.Client{Timeout: 10 * time.Second}
	seen := map[string]bool{}
	reused := 0
	for i := 0; i < 20; i++ {
		res := hoist(t, root, "", "run", "-d", "-p", "127.0.0.1::80", "busybox", "httpd", "-f", "-p", "80", "-h", "/etc")
		if res.code != 0 {
			t.Fatalf("run -d: %+v", res)
		}
		id := strings.TrimSpace(res.stdout)
		start := time.Now()
		port := strings.TrimSpace(hoist(t, root, "", "port", id, "80").stdout)
		// httpd may not listen yet when run -d returns: the proxy then closes the connection at once
		// and the request is tried again; what must not happen is a request that hangs.
		var body []byte
		for {
			resp, err := client.Get("http://" + port + "/hostname")
			if err == nil {
				body, err = io.ReadAll(resp.Body)
				resp.Body.Close()
				if err == nil && resp.StatusCode == http.StatusOK {
					break
				}
			}
			if time.Since(start) > 3*time.Second {
				t.Fatalf("try %d: no answer %v after run -d: %v", i+1, time.Since(start).Round(time.Millisecond), err)
			}
			time.Sleep(20 * time.Millisecond)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("try %d: the answer came %v after run -d", i+1, d.Round(time.Millisecond))
		}
		if string(body) != id[:12]+"\n" {
			t.Errorf("try %d: GET /hostname = %q, want %q", i+1, body, id[:12]+"\n")
		}
		ip := strings.TrimSpace(hoist(t, root, "", "inspect", "--format", "{{ .NetworkSettings.IPAddress }}", id).stdout)
		t.Logf("try %d: %s answered after %v", i+1, ip, time.Since(start))
		if seen[ip] {
			reused++
		}
		seen[ip] = true
		if i == 0 {
			mac := hoist(t, root, "", "exec", id, "cat", "/sys/class/net/eth0/address")
			if want := network.MACFor(ip) + "\n"; mac.stdout != want {
				t.Errorf("eth0 of the container with %s has MAC %+v, want %q", ip, mac, want)
			}
		}
		mustOK(t, hoist(t, root, "", "rm", "-f", id), "rm -f")
	}
	if reused == 0 {
		t.Errorf("no address was used twice in 20 runs (%d addresses): the test proved nothing", len(seen))
	}
}
