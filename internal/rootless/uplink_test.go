package rootless

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"testing"
)

// TestRecordedUplink: what the port helper records is what hoist info and the starting command
// read back: the uplink's name, or none and why, and nothing recorded reads as none.
func TestRecordedUplink(t *testing.T) {
	t.Setenv(runtimeEnv, t.TempDir())
	if name, why := recordedUplink(); name != "" || why == "" {
		t.Errorf("nothing recorded: %q, %q", name, why)
	}
	if err := recordUplink(UplinkSlirp4netns, nil); err != nil {
		t.Fatal(err)
	}
	var w bytes.Buffer
	warnNoUplink(&w)
	if name, why := recordedUplink(); name != UplinkSlirp4netns || why != "" || w.Len() != 0 {
		t.Errorf("slirp4netns recorded: %q, %q, warning %q", name, why, w.String())
	}
	if err := recordUplink("", errNoUplink); err != nil {
		t.Fatal(err)
	}
	warnNoUplink(&w)
	if name, why := recordedUplink(); name != "" || why != errNoUplink.Error() || w.String() != "WARNING: "+errNoUplink.Error()+"\n" {
		t.Errorf("none recorded: %q, %q, warning %q", name, why, w.String())
	}
}

// TestUplinkProgram: slirp4netns is preferred, pasta used where slirp4netns is not on PATH, and
// neither is errNoUplink naming both packages.
func TestUplinkProgram(t *testing.T) {
	for _, c := range []struct{ have, want string }{
		{"pasta slirp4netns", UplinkSlirp4netns}, {"pasta", UplinkPasta}, {"slirp4netns", UplinkSlirp4netns}, {"", ""},
	} {
		dir := t.TempDir()
		for _, p := range strings.Fields(c.have) {
			writeExecutable(t, dir+"/"+p)
		}
		t.Setenv("PATH", dir)
		name, _, err := uplinkProgram()
		if name != c.want || (c.want == "") != errors.Is(err, errNoUplink) {
			t.Errorf("with %q on PATH: %q, %v; want %q", c.have, name, err, c.want)
		}
	}
	if !strings.Contains(errNoUplink.Error(), "Debian package passt") || !strings.Contains(errNoUplink.Error(), "Debian package slirp4netns") {
		t.Errorf("the error names no packages: %v", errNoUplink)
	}
}

func writeExecutable(t *testing.T, path string) {
	t.Helper()
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
}
