package fsdump

import (
	"fmt"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// historyComment is the comment BuildKit's Dockerfile frontend (and hoist) puts on every history entry
// it writes.
const historyComment = "buildkit.dockerfile.v0"

// HistoryDump renders the part of an image's history that a Dockerfile build wrote: every entry from
// the first one whose comment is BuildKit's Dockerfile frontend's ("buildkit.dockerfile.v0"), so the
// base image's own entries, which differ between the reference registry's busybox and the test one,
// are left out. The first line is "layers +N", the number of layers (rootfs diff IDs) the build added
// on top of the base's; then one line per entry: "layer" or "empty" (empty_layer), a space and
// created_by with backslashes and newlines escaped. Timestamps are left out.
func HistoryDump(cf *v1.ConfigFile) []byte {
	start := len(cf.History)
	baseLayers := 0
	for i, h := range cf.History {
		if h.Comment == historyComment {
			start = i
			break
		}
		if !h.EmptyLayer {
			baseLayers++
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "layers +%d\n", len(cf.RootFS.DiffIDs)-baseLayers)
	for _, h := range cf.History[start:] {
		kind := "layer"
		if h.EmptyLayer {
			kind = "empty"
		}
		by := strings.NewReplacer(`\`, `\\`, "\n", `\n`).Replace(h.CreatedBy)
		fmt.Fprintf(&b, "%s %s\n", kind, by)
	}
	return []byte(b.String())
}
