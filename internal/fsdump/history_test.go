package fsdump

import (
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

func TestHistoryDump(t *testing.T) {
	h := func(by, comment string, empty bool) v1.History {
		return v1.History{CreatedBy: by, Comment: comment, EmptyLayer: empty}
	}
	const bk = "buildkit.dockerfile.v0"
	tests := []struct {
		name string
		cf   v1.ConfigFile
		want string
	}{
		{"base entries left out", v1.ConfigFile{
			RootFS: v1.RootFS{DiffIDs: make([]v1.Hash, 3)},
			History: []v1.History{h("", "refenv busybox:latest", false), h("ENV X=1", "", true),
				h("ARG A=1", bk, true), h("RUN /bin/sh -c echo \\\n# buildkit", bk, false), h("WORKDIR /w", bk, false)},
		}, "layers +2\nempty ARG A=1\nlayer RUN /bin/sh -c echo \\\\\\n# buildkit\nlayer WORKDIR /w\n"},
		{"scratch", v1.ConfigFile{RootFS: v1.RootFS{DiffIDs: make([]v1.Hash, 1)},
			History: []v1.History{h("COPY a / # buildkit", bk, false)}}, "layers +1\nlayer COPY a / # buildkit\n"},
		{"no build entries", v1.ConfigFile{RootFS: v1.RootFS{DiffIDs: make([]v1.Hash, 1)},
			History: []v1.History{h("", "", false)}}, "layers +0\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := string(HistoryDump(&tc.cf)); got != tc.want {
				t.Errorf("HistoryDump =\n%q\nwant\n%q", got, tc.want)
			}
		})
	}
}
