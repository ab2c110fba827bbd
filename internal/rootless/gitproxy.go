package rootless

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"
)

// git, which hoist runs for git build contexts and ADD of git URLs, makes its own connections: in
// the rootless namespaces they would leave through pasta, which cannot reach the host's loopback.
// GitConfig routes them through HostDialer as hoist's own connections go: git:// through git's
// core.gitProxy (this executable, started by git with the host and port, splices the connection to
// its standard descriptors: MaybeGitProxy), http(s):// through http.proxy, a forward proxy this
// process serves on its own loopback. Connections to anything but the host's loopback are made as
// before, from the namespace's network.

// gitProxyEnv marks this executable started by git as core.gitProxy.
const gitProxyEnv = "_HOIST_GIT_PROXY"

// GitConfig returns the `git -c` arguments and the environment that route the connections of a git
// command whose environment is gitEnv as described above (ssh too: its ProxyCommand is hoist
// splicing a connection, added to the GIT_SSH_COMMAND in gitEnv); nothing outside the rootless
// namespaces.
func GitConfig(gitEnv []string) (args, env []string, err error) {
	if !Active() {
		return nil, nil, nil
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, nil, err
	}
	p, err := gitHTTPProxy()
	if err != nil {
		return nil, nil, err
	}
	args = []string{"-c", "core.gitProxy=" + exe, "-c", "http.proxy=http://hoist:" + p.token + "@" + p.addr}
	sshCmd := "ssh"
	for _, kv := range gitEnv {
		if v, ok := strings.CutPrefix(kv, "GIT_SSH_COMMAND="); ok {
			sshCmd = v // the last one counts, as in exec
		}
	}
	sshCmd += " -o ProxyCommand=" + shellQuote(shellQuote(exe)+" "+ServerArg+" dial %h %p")
	// curl would bypass the proxy for hosts in NO_PROXY (localhost often is): git's HTTP goes
	// through it always, and it decides.
	return args, []string{gitProxyEnv + "=1", "NO_PROXY=", "no_proxy=", "GIT_SSH_COMMAND=" + sshCmd}, nil
}

// shellQuote quotes s for sh (git runs GIT_SSH_COMMAND, ssh its ProxyCommand, through a shell).
func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// MaybeGitProxy must be called early in main: when git started this executable as its
// core.gitProxy (argv: HOST PORT), it connects and copies between the connection and stdin/stdout,
// and never returns.
func MaybeGitProxy() {
	if os.Getenv(gitProxyEnv) != "1" || len(os.Args) != 3 {
		return
	}
	err := spliceStdio(net.JoinHostPort(os.Args[1], os.Args[2]))
	if err != nil {
		fmt.Fprintf(os.Stderr, "hoist git proxy: %v\n", err)
		os.Exit(1)
	}
	os.Exit(0)
}

func spliceStdio(addr string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	c, err := HostDialer(&net.Dialer{})(ctx, "tcp", addr)
	cancel()
	if err != nil {
		return err
	}
	defer c.Close()
	done := make(chan struct{})
	go func() {
		_, _ = io.Copy(c, os.Stdin)
		if tc, ok := c.(interface{ CloseWrite() error }); ok {
			_ = tc.CloseWrite()
		}
		close(done)
	}()
	_, err = io.Copy(os.Stdout, c)
	return err
}

type httpProxy struct{ addr, token string }

var gitHTTPProxy = sync.OnceValues(func() (httpProxy, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return httpProxy{}, err
	}
	p := httpProxy{token: hex.EncodeToString(b[:])}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return p, err
	}
	p.addr = l.Addr().String()
	dial := HostDialer(&net.Dialer{Timeout: 30 * time.Second})
	tr := &http.Transport{DialContext: dial, Proxy: nil}
	go func() { _ = http.Serve(l, forwardProxy(tr, dial, p.token)) }()
	return p, nil
})

// forwardProxy is a minimal HTTP forward proxy: absolute-form requests through tr, CONNECT tunnels
// through dial. It serves only the git commands of this process, which hold its token: its
// listener is on the loopback of the rootless server's network namespace, which a --network host
// container shares, and the host's loopback must stay out of such a container's reach.
func forwardProxy(tr *http.Transport, dial func(context.Context, string, string) (net.Conn, error), token string) http.Handler {
	want := "Basic " + base64.StdEncoding.EncodeToString([]byte("hoist:"+token))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if subtle.ConstantTimeCompare([]byte(r.Header.Get("Proxy-Authorization")), []byte(want)) != 1 {
			w.Header().Set("Proxy-Authenticate", `Basic realm="hoist"`)
			http.Error(w, "proxy authentication required", http.StatusProxyAuthRequired)
			return
		}
		r.Header.Del("Proxy-Authorization")
		if r.Method == http.MethodConnect {
			tunnel(w, r, dial)
			return
		}
		if r.URL.Host == "" {
			http.Error(w, "not a proxy request", http.StatusBadRequest)
			return
		}
		out := r.Clone(r.Context())
		out.RequestURI = ""
		out.Header.Del("Proxy-Connection")
		resp, err := tr.RoundTrip(out)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		for k, vs := range resp.Header {
			for _, v := range vs {
				w.Header().Add(k, v)
			}
		}
		w.WriteHeader(resp.StatusCode)
		_, _ = io.Copy(w, resp.Body)
	})
}

func tunnel(w http.ResponseWriter, r *http.Request, dial func(context.Context, string, string) (net.Conn, error)) {
	up, err := dial(r.Context(), "tcp", r.Host)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer up.Close()
	hj, ok := w.(http.Hijacker)
	if !ok {
		http.Error(w, "no hijacking", http.StatusInternalServerError)
		return
	}
	down, buf, err := hj.Hijack()
	if err != nil {
		return
	}
	defer down.Close()
	if _, err := down.Write([]byte("HTTP/1.1 200 Connection established\r\n\r\n")); err != nil {
		return
	}
	go func() { _, _ = io.Copy(up, readerOf(buf, down)) }()
	_, _ = io.Copy(down, up)
}

func readerOf(buf *bufio.ReadWriter, c net.Conn) io.Reader {
	if buf != nil && buf.Reader.Buffered() > 0 {
		return io.MultiReader(buf.Reader, c)
	}
	return c
}
