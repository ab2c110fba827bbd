package builder_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hoistbuild/hoist/builder"
	"github.com/hoistbuild/hoist/internal/testutil"
	"github.com/hoistbuild/hoist/internal/testutil/prereq"
)

// TestAddURLTimeoutAndRetry: an ADD from a server that stops sending fails at Options.DownloadTimeout
// with an error naming the Dockerfile line, the instruction and the timeout (a remote context, the
// context URL), and leaves nothing behind; a server that answers 503 once is retried and the build
// succeeds.
func TestAddURLTimeoutAndRetry(t *testing.T) {
	prereq.Require(t, prereq.Root)
	root, st := testutil.NewRoot(t)
	b, err := builder.New(root, st)
	if err != nil {
		t.Fatal(err)
	}
	var flaky atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/slow":
			<-r.Context().Done()
		case "/flaky":
			if flaky.Add(1) == 1 {
				w.WriteHeader(http.StatusServiceUnavailable)
				return
			}
			w.Write([]byte("hello\n"))
		}
	}))
	defer srv.Close()
	build := func(o builder.Options) (string, error) {
		var log bytes.Buffer
		o.Progress = &log
		_, err := b.Build(context.Background(), o)
		return log.String(), err
	}
	before := listing(t, root)
	for _, tc := range []struct {
		name string
		o    builder.Options
		want []string
	}{
		{"ADD", builder.Options{ContextDir: contextDir(t, "FROM scratch\nADD "+srv.URL+"/slow /d\n"), DownloadTimeout: 500 * time.Millisecond},
			[]string{"Dockerfile:2", "ADD " + srv.URL + "/slow", "timed out after 500ms"}},
		{"context", builder.Options{ContextURL: srv.URL + "/slow", DownloadTimeout: 500 * time.Millisecond},
			[]string{"build context " + srv.URL + "/slow", "timed out after 500ms"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			log, err := build(tc.o)
			if err == nil {
				t.Fatalf("build succeeded\n%s", log)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if after := listing(t, root); strings.Join(after, "\n") != strings.Join(before, "\n") {
				t.Errorf("the root changed:\nbefore %v\nafter  %v", before, after)
			}
		})
	}
	log, err := build(builder.Options{ContextDir: contextDir(t, "FROM busybox\nADD "+srv.URL+"/flaky /f\nRUN test \"$(cat /f)\" = hello\n")})
	if err != nil {
		t.Fatalf("ADD of a URL answering 503 once: %v\n%s", err, log)
	}
	if n := flaky.Load(); n != 2 {
		t.Errorf("%d requests to the flaky URL, want 2", n)
	}
}
