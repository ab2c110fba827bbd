package store

import (
	"testing"
	"time"
)

func TestImageFilterRows(t *testing.T) {
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	list := []ImageSummary{
		{Names: []string{"docker.io/library/busybox:latest", "localhost:5000/library/busybox:1"}, Created: t0.Add(3 * time.Hour), Labels: map[string]string{"a": "1"}},
		{Names: nil, Created: t0.Add(2 * time.Hour)},
		{Names: []string{"docker.io/library/debian:bookworm-slim"}, Created: t0.Add(time.Hour)},
	}
	yes := true
	before := t0.Add(150 * time.Minute)
	for _, tc := range []struct {
		name string
		f    ImageFilter
		want []string
	}{
		{"all", ImageFilter{}, []string{"busybox:latest", "localhost:5000/library/busybox:1", "<none>:<none>", "debian:bookworm-slim"}},
		{"dangling", ImageFilter{Dangling: &yes}, []string{"<none>:<none>"}},
		{"glob", ImageFilter{References: []string{"busy*"}}, []string{"busybox:latest"}},
		{"glob with tag", ImageFilter{References: []string{"*:bookworm*"}}, []string{"debian:bookworm-slim"}},
		{"label", ImageFilter{Labels: []string{"a=1"}}, []string{"busybox:latest", "localhost:5000/library/busybox:1"}},
		{"label value", ImageFilter{Labels: []string{"a=2"}}, nil},
		{"before", ImageFilter{Before: &before}, []string{"<none>:<none>", "debian:bookworm-slim"}},
		{"since", ImageFilter{Since: &before}, []string{"busybox:latest", "localhost:5000/library/busybox:1"}},
		{"argument", ImageFilter{Repository: "docker.io/library/busybox"}, []string{"busybox:latest"}},
		{"argument with tag", ImageFilter{Repository: "debian:bookworm-slim"}, []string{"debian:bookworm-slim"}},
	} {
		var got []string
		for _, r := range tc.f.Rows(list) {
			got = append(got, r.Repository+":"+r.Tag)
		}
		if len(got) != len(tc.want) {
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
			continue
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
			}
		}
	}
}
