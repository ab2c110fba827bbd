package push

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"testing"
)

func basicAuth(user, pass string) func(http.Handler) http.Handler {
	return func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if u, p, ok := r.BasicAuth(); !ok || u != user || p != pass {
				w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
				http.Error(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`, http.StatusUnauthorized)
				return
			}
			h.ServeHTTP(w, r)
		})
	}
}

func TestLoginPushLogout(t *testing.T) {
	reg, _ := newRegistry(t, basicAuth("alice", "s3cret"))
	file := filepath.Join(t.TempDir(), "docker", "config.json")
	ctx := context.Background()
	st := newStore(t)
	_, h := storeRandom(t, st, 1)
	ref := mustRef(t, reg+"/private/app:1")
	o := testOptions()
	o.Keychain = Keychain(file)

	if _, err := Push(ctx, st, h, ref, o); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("anonymous push: %v, want ErrUnauthorized", err)
	}
	if err := Login(ctx, reg, "alice", "wrong", file, o); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("login with a wrong password: %v", err)
	}
	if _, err := os.Stat(file); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a refused login wrote %s", file)
	}
	if err := Login(ctx, reg, "alice", "s3cret", file, o); err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Auths map[string]struct{ Auth string } `json:"auths"`
	}
	b, _ := os.ReadFile(file)
	if err := json.Unmarshal(b, &cfg); err != nil {
		t.Fatal(err)
	}
	if got := cfg.Auths[reg].Auth; got != base64.StdEncoding.EncodeToString([]byte("alice:s3cret")) {
		t.Errorf("config.json auths[%s] = %q (file: %s)", reg, got, b)
	}
	if _, err := Push(ctx, st, h, ref, o); err != nil {
		t.Fatalf("push after login: %v", err)
	}
	if _, err := Pull(ctx, newStore(t), ref, o); err != nil {
		t.Fatalf("pull after login: %v", err)
	}
	if found, err := Logout(reg, file); err != nil || !found {
		t.Fatalf("logout: %v %v", found, err)
	}
	if _, err := Pull(ctx, newStore(t), ref, o); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("pull after logout: %v", err)
	}
	if found, _ := Logout(reg, file); found {
		t.Errorf("second logout found credentials")
	}
}

func TestKeychainFileOrder(t *testing.T) {
	dir := t.TempDir()
	first, second := filepath.Join(dir, "auth.json"), filepath.Join(dir, "config.json")
	os.WriteFile(first, []byte(`{"auths":{"reg.example:5000/team":{"auth":"`+base64.StdEncoding.EncodeToString([]byte("team:t"))+`"}}}`), 0o600)
	os.WriteFile(second, []byte(`{"auths":{"reg.example:5000":{"auth":"`+base64.StdEncoding.EncodeToString([]byte("reg:r"))+`"},
		"https://index.docker.io/v1/":{"auth":"`+base64.StdEncoding.EncodeToString([]byte("hub:h"))+`"}}}`), 0o600)
	kc := Keychain(filepath.Join(dir, "missing.json"), first, second)
	for ref, want := range map[string]string{
		"reg.example:5000/team/app": "team",
		"reg.example:5000/other":    "reg",
		"busybox":                   "hub",
		"quay.io/x":                 "",
	} {
		a, err := kc.Resolve(mustRef(t, ref).Context())
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := a.Authorization()
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Username != want {
			t.Errorf("%s: user %q, want %q", ref, cfg.Username, want)
		}
	}
}
