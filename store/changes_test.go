package store

import (
	"reflect"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

func TestApplyChanges(t *testing.T) {
	c := v1.Config{Env: []string{"PATH=/bin", "B=old"}, WorkingDir: "/srv"}
	err := ApplyChanges(&c, []string{
		"ENV A=1 B=2", `LABEL a=1 b="two words"`, "ENV C=$A-x", "CMD echo hi", `ENTRYPOINT ["/e", "x"]`,
		"EXPOSE 80 53/udp", "WORKDIR sub", "USER 1000:1000", "VOLUME /data", "STOPSIGNAL SIGINT", "ONBUILD RUN true",
	})
	if err != nil {
		t.Fatal(err)
	}
	want := v1.Config{
		Env:    []string{"PATH=/bin", "A=1", "B=2", "C=1-x"},
		Labels: map[string]string{"a": "1", "b": "two words"}, Cmd: []string{"/bin/sh", "-c", "echo hi"},
		Entrypoint: []string{"/e", "x"}, ExposedPorts: map[string]struct{}{"80/tcp": {}, "53/udp": {}},
		WorkingDir: "/srv/sub", User: "1000:1000", Volumes: map[string]struct{}{"/data": {}}, StopSignal: "SIGINT",
		OnBuild: []string{"RUN true"},
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("got  %+v\nwant %+v", c, want)
	}
	for _, bad := range []string{"RUN true", "FROM busybox", "ENV", "COPY a b"} {
		if err := ApplyChanges(&v1.Config{}, []string{bad}); err == nil {
			t.Errorf("--change %q: no error", bad)
		}
	}
}
