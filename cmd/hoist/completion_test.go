package main

import (
	"strings"
	"testing"
)

// TestCompletion: the shell completes image references and container names for the commands that
// take them.
func TestCompletion(t *testing.T) {
	root := containerRoot(t)
	mustOK(t, hoist(t, root, "", "create", "--name", "compl", "--network", "none", "busybox", "true"), "create")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"__complete", "rmi", ""}, "busybox:latest"},
		{[]string{"__complete", "image", "rm", ""}, "busybox:latest"},
		{[]string{"__complete", "run", ""}, "busybox:latest"},
		{[]string{"__complete", "start", ""}, "compl"},
		{[]string{"__complete", "container", "logs", ""}, "compl"},
	} {
		r := hoist(t, root, "", tc.args...)
		if r.code != 0 || !strings.Contains(r.stdout, tc.want+"\n") {
			t.Errorf("hoist %v: exit %d, stdout %q; want %q offered", tc.args, r.code, r.stdout, tc.want)
		}
	}
	// After the image, run completes nothing more from the store (the command is free text).
	if r := hoist(t, root, "", "__complete", "run", "busybox:latest", ""); strings.Contains(r.stdout, "busybox:latest") {
		t.Errorf("run IMAGE <tab> offers images: %q", r.stdout)
	}
}
