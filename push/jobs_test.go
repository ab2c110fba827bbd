package push

import (
	"context"
	"sort"
	"strings"
	"testing"
)

func TestTagJobs(t *testing.T) {
	ctx := context.Background()
	st := newStore(t)
	_, a := storeRandom(t, st, 1, "reg.example/app:1", "reg.example/app:latest", "other:1")
	_, b := storeRandom(t, st, 1, "reg.example/app:2")
	storeRandom(t, st, 1, "reg.example/app2:1")
	storeRandom(t, st, 1) // dangling
	jobs, err := TagJobs(ctx, st, "reg.example/app:ignored")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, j := range jobs {
		got = append(got, j.Dst.String()+"<-"+j.Src.Hex[:8])
	}
	sort.Strings(got)
	want := []string{"reg.example/app:1<-" + a.Hex[:8], "reg.example/app:2<-" + b.Hex[:8], "reg.example/app:latest<-" + a.Hex[:8]}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("TagJobs = %v, want %v", got, want)
	}
	if _, err := TagJobs(ctx, st, "reg.example/none"); err == nil || !strings.Contains(err.Error(), "no tagged image of reg.example/none") {
		t.Errorf("TagJobs of a repository without tags: %v", err)
	}
}

func TestImageJob(t *testing.T) {
	ctx := context.Background()
	st := newStore(t)
	_, h := storeRandom(t, st, 1, "reg.example/app:1")
	for _, tt := range []struct{ src, dst, want string }{
		{"reg.example/app:1", "", "reg.example/app:1"},
		{"reg.example/app:1", "docker://reg.example/copy:2", "reg.example/copy:2"},
		{h.String(), "reg.example/bydigest", "reg.example/bydigest"},
	} {
		j, err := ImageJob(ctx, st, tt.src, tt.dst)
		if err != nil || j.Src != h || j.Dst.String() != tt.want {
			t.Errorf("ImageJob(%q, %q) = %v -> %v, %v; want %s -> %s", tt.src, tt.dst, j.Src, j.Dst, err, h, tt.want)
		}
	}
	if _, err := ImageJob(ctx, st, "nosuch:1", ""); err == nil || !strings.HasPrefix(err.Error(), "no such image nosuch:1") {
		t.Errorf("ImageJob of a missing image: %v", err)
	}
	if _, err := ImageJob(ctx, st, "reg.example/app:1", "UPPER/case"); err == nil || !strings.HasPrefix(err.Error(), `invalid destination "UPPER/case"`) {
		t.Errorf("ImageJob to an invalid destination: %v", err)
	}
}
