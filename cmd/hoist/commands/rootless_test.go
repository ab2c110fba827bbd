package commands

import "testing"

func TestNeedsNamespace(t *testing.T) {
	for _, c := range []struct {
		args []string
		want bool
	}{
		{nil, false},
		{[]string{"--help"}, false},
		{[]string{"version"}, false},
		{[]string{"push", "x"}, false},
		{[]string{"--root", "/r", "pull", "x"}, false},
		{[]string{"image", "pull", "x"}, false},
		{[]string{"--storage-driver", "copy", "push", "x"}, false},
		{[]string{"system", "stop"}, false},
		{[]string{"system", "df"}, true},
		{[]string{"info"}, true},
		{[]string{"image", "ls"}, true},
		{[]string{"build", "."}, true},
		{[]string{"run", "busybox", "push"}, true},
		{[]string{"images"}, true},
	} {
		if got := NeedsNamespace(c.args); got != c.want {
			t.Errorf("NeedsNamespace(%q) = %v, want %v", c.args, got, c.want)
		}
	}
}
