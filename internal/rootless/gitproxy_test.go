package rootless

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// The git HTTP proxy forwards only for holders of its token.
func TestForwardProxyNeedsToken(t *testing.T) {
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "reached")
	}))
	defer target.Close()
	tr := &http.Transport{}
	proxy := httptest.NewServer(forwardProxy(tr, (&net.Dialer{}).DialContext, "secret"))
	defer proxy.Close()

	get := func(user *url.Userinfo) (int, string) {
		u, _ := url.Parse(proxy.URL)
		u.User = user
		c := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(u)}}
		resp, err := c.Get(target.URL)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get(url.UserPassword("hoist", "secret")); code != 200 || body != "reached" {
		t.Errorf("with the token: %d %q", code, body)
	}
	for _, u := range []*url.Userinfo{nil, url.UserPassword("hoist", "guess")} {
		if code, body := get(u); code != http.StatusProxyAuthRequired || strings.Contains(body, "reached") {
			t.Errorf("user %v: %d %q, want 407", u, code, body)
		}
	}
	// CONNECT without the token is refused too.
	c, err := net.Dial("tcp", strings.TrimPrefix(proxy.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "CONNECT %s HTTP/1.1\r\nHost: %[1]s\r\n\r\n", strings.TrimPrefix(target.URL, "http://"))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusProxyAuthRequired {
		t.Errorf("CONNECT without the token: %d", resp.StatusCode)
	}
}
