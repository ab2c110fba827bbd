package container

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Messages and rules of docker 20.10's json-file driver on the reference host
// (docker run --log-opt ...).
func TestParseLogConfig(t *testing.T) {
	lc, err := parseLogConfig("", []string{"max-size=1k", "max-file=3"})
	if err != nil || lc.Driver != LogJSONFile || lc.MaxSize != 1024 || lc.MaxFile != 3 || lc.Opts["max-size"] != "1k" {
		t.Errorf("parseLogConfig = %+v, %v", lc, err)
	}
	if lc, err := parseLogConfig("none", nil); err != nil || lc.Driver != LogNone {
		t.Errorf("none: %+v, %v", lc, err)
	}
	for _, c := range []struct {
		driver string
		opts   []string
		want   string
	}{
		{"", []string{"foo=bar"}, "unknown log opt 'foo' for json-file log driver"},
		{"", []string{"max-size=abc"}, "invalid size: 'abc'"},
		{"", []string{"max-size"}, "invalid size: ''"},
		{"", []string{"max-file=0", "max-size=1k"}, "max-file cannot be less than 1"},
		{"", []string{"compress=true", "max-size=1k"}, "compress=true is not supported yet"},
		{"", []string{"tag={{.Name}}"}, "--log-opt tag is not supported yet"},
		{"syslog", nil, "--log-driver syslog is not supported"},
		{"none", []string{"max-size=1k"}, "unknown log opt 'max-size' for none log driver"},
	} {
		if _, err := parseLogConfig(c.driver, c.opts); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("parseLogConfig(%q, %q) = %v, want %q", c.driver, c.opts, err, c.want)
		}
	}
}

// Rotation keeps max-file files, each passing max-size by at most one entry (docker checks the size
// before writing), and Logs reads them all, oldest first; --tail counts across files.
func TestLogRotation(t *testing.T) {
	r := &Runtime{root: t.TempDir()}
	c := &Container{ID: strings.Repeat("a", 64), Config: Config{Log: LogConfig{Driver: LogJSONFile, MaxSize: 1024, MaxFile: 3}}}
	if err := os.MkdirAll(r.Dir(c.ID), 0o755); err != nil {
		t.Fatal(err)
	}
	l, err := openLog(r.LogPath(c.ID), c.Config.Log)
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 100; i++ {
		if err := l.write("stdout", []byte(fmt.Sprintf("line-%d-xxxxxxxxxxxxxxxxxxxxxxxx\n", i))); err != nil {
			t.Fatal(err)
		}
	}
	l.Close()
	files, _ := filepath.Glob(r.LogPath(c.ID) + "*")
	if len(files) != 3 {
		t.Fatalf("log files %q, want 3", files)
	}
	var kept int
	for _, f := range files {
		b, _ := os.ReadFile(f)
		kept += bytes.Count(b, []byte("\n"))
		if len(b) > 1024+200 {
			t.Errorf("%s is %d bytes, past max-size by more than an entry", f, len(b))
		}
	}
	var out, errb bytes.Buffer
	if err := r.logs(context.Background(), c, LogOptions{Tail: -1}, &out, &errb, func() {}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != kept || lines[len(lines)-1] != "line-100-xxxxxxxxxxxxxxxxxxxxxxxx" ||
		lines[0] != fmt.Sprintf("line-%d-xxxxxxxxxxxxxxxxxxxxxxxx", 101-kept) {
		t.Errorf("logs across rotated files: %d lines (files hold %d), first %q last %q", len(lines), kept, lines[0], lines[len(lines)-1])
	}
	out.Reset()
	if err := r.logs(context.Background(), c, LogOptions{Tail: 2}, &out, &errb, func() {}); err != nil || out.String() != "line-99-xxxxxxxxxxxxxxxxxxxxxxxx\nline-100-xxxxxxxxxxxxxxxxxxxxxxxx\n" {
		t.Errorf("logs --tail 2: %q, %v", out.String(), err)
	}
	// max-file=1: the file is truncated when it rotates.
	c1 := &Container{ID: strings.Repeat("b", 64), Config: Config{Log: LogConfig{Driver: LogJSONFile, MaxSize: 200, MaxFile: 1}}}
	_ = os.MkdirAll(r.Dir(c1.ID), 0o755)
	l1, _ := openLog(r.LogPath(c1.ID), c1.Config.Log)
	for i := 0; i < 10; i++ {
		_ = l1.write("stdout", []byte("0123456789012345678901234567890123456789\n"))
	}
	l1.Close()
	if files, _ := filepath.Glob(r.LogPath(c1.ID) + "*"); len(files) != 1 {
		t.Errorf("max-file=1 kept %q", files)
	}
}
