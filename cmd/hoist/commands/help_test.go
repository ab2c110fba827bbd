package commands

import (
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// TestEveryCommandHasHelp: every command of the documented tree (the image and container groups
// included) has Long and Example text, and every example line runs hoist (or prepares its input),
// so docs/ref shows what each command does and how it is called.
func TestEveryCommandHasHelp(t *testing.T) {
	var walk func(c *cobra.Command)
	n := 0
	walk = func(c *cobra.Command) {
		for _, s := range c.Commands() {
			if s.IsAvailableCommand() && s.Name() != "help" && s.Name() != "completion" {
				walk(s)
			}
		}
		n++
		path := c.CommandPath()
		if strings.TrimSpace(c.Long) == "" {
			t.Errorf("%s has no Long text", path)
		}
		if strings.TrimSpace(c.Example) == "" {
			t.Errorf("%s has no Example", path)
		}
		hoistLines := 0
		for _, l := range strings.Split(c.Example, "\n") {
			if !strings.HasPrefix(l, "  ") && l != "" {
				t.Errorf("%s: example line %q is not indented by two spaces (cobra's convention)", path, l)
			}
			if strings.Contains(l, "hoist ") {
				hoistLines++
			}
		}
		if hoistLines == 0 {
			t.Errorf("%s: no example runs hoist", path)
		}
	}
	walk(DocsRoot())
	if n < 46 {
		t.Errorf("walked %d commands, want at least 46", n)
	}
}
