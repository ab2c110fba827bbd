package builder

import (
	"os"
	"path/filepath"
	"testing"
)

func TestParseSecret(t *testing.T) {
	file := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"TOKEN": "t0k", "mysecret": "bare"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	tests := []struct {
		spec    string
		id      string
		want    Secret
		wantErr string
	}{
		{spec: "id=a,src=" + file, id: "a", want: Secret{File: file}},
		{spec: "id=a,source=" + file + ",type=file", id: "a", want: Secret{File: file}},
		{spec: "id=b,env=TOKEN", id: "b", want: Secret{Env: "t0k"}},
		{spec: "id=b,type=env,env=TOKEN", id: "b", want: Secret{Env: "t0k"}},
		{spec: "id=mysecret", id: "mysecret", want: Secret{Env: "bare"}},
		{spec: "id=nosuch", wantErr: "give src=FILE or env=VAR"},
		{spec: "id=b,env=UNSET", wantErr: "environment variable UNSET is not set"},
		{spec: "src=" + file, wantErr: "id is required"},
		{spec: "id=a,colour=red", wantErr: `unknown field "colour"`},
		{spec: "id=a,src=/nonexistent/x", wantErr: "stat /nonexistent/x: no such file or directory"},
	}
	for _, tt := range tests {
		id, got, err := ParseSecret(tt.spec, lookup)
		if tt.wantErr != "" {
			if err == nil || err.Error() != tt.wantErr {
				t.Errorf("ParseSecret(%q) error = %v, want %q", tt.spec, err, tt.wantErr)
			}
			continue
		}
		if err != nil || id != tt.id || got != tt.want {
			t.Errorf("ParseSecret(%q) = %q, %+v, %v; want %q, %+v", tt.spec, id, got, err, tt.id, tt.want)
		}
	}
}
