package parser

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files")

// dumpPlan is a stable, readable form of a plan for golden files.
func dumpPlan(p *Plan) []byte {
	type stepDump struct {
		Kind   Kind   `json:"kind"`
		Lines  [2]int `json:"lines"`
		Source string `json:"source"`
		Step   Step   `json:"step"`
	}
	type stageDump struct {
		Index     int        `json:"index"`
		Name      string     `json:"name"`
		Base      string     `json:"base"`
		BaseStage int        `json:"baseStage"`
		Platform  string     `json:"platform,omitempty"`
		DependsOn []int      `json:"dependsOn"`
		Steps     []stepDump `json:"steps"`
	}
	out := struct {
		MetaArgs []ArgDef    `json:"metaArgs"`
		Stages   []stageDump `json:"stages"`
		Warnings []string    `json:"warnings,omitempty"`
	}{MetaArgs: p.MetaArgs, Warnings: p.Warnings}
	for _, s := range p.Stages {
		sd := stageDump{Index: s.Index, Name: s.Name, Base: s.Base, BaseStage: s.BaseStage, Platform: s.Platform, DependsOn: s.DependsOn}
		for _, st := range s.Steps {
			sd.Steps = append(sd.Steps, stepDump{Kind: st.Kind(), Lines: [2]int{st.Loc().Start, st.Loc().End}, Source: st.Source(), Step: st})
		}
		out.Stages = append(out.Stages, sd)
	}
	data, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		panic(err)
	}
	return append(data, '\n')
}

func checkGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./parser -update to create it)", err)
	}
	if string(want) != string(got) {
		t.Errorf("%s mismatch:\n--- want\n%s\n--- got\n%s", path, want, got)
	}
}

func TestParseValid(t *testing.T) {
	dirs, _ := filepath.Glob("testdata/valid/*")
	if len(dirs) == 0 {
		t.Fatal("no test cases")
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			f, err := os.Open(filepath.Join(dir, "Dockerfile"))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			plan, err := Parse(f, Options{BuildArgs: map[string]string{"TAG": "1.36"}, Platform: Platform{OS: "linux", Arch: "amd64"}})
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			checkGolden(t, filepath.Join(dir, "plan.golden"), dumpPlan(plan))
		})
	}
}

// TestParseInvalid: every must-fail Dockerfile gives an *Error naming the file and a line.
func TestParseInvalid(t *testing.T) {
	dirs, _ := filepath.Glob("testdata/invalid/*")
	if len(dirs) == 0 {
		t.Fatal("no test cases")
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			f, err := os.Open(filepath.Join(dir, "Dockerfile"))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			_, err = Parse(f, Options{})
			if err == nil {
				t.Fatal("Parse succeeded, want an error")
			}
			pe, ok := err.(*Error)
			if !ok {
				t.Fatalf("error is %T, want *parser.Error: %v", err, err)
			}
			if pe.Loc.File != "Dockerfile" {
				t.Errorf("error names file %q", pe.Loc.File)
			}
			checkGolden(t, filepath.Join(dir, "error.golden"), []byte(err.Error()+"\n"))
		})
	}
}

func TestTargetAndNeeded(t *testing.T) {
	src := "FROM busybox AS a\nFROM busybox AS b\nCOPY --from=a /x /x\nFROM busybox AS c\nFROM b\n"
	plan, err := Parse(strings.NewReader(src), Options{})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		target  string
		want    []int
		wantErr bool
	}{
		{"", []int{0, 1, 3}, false},
		{"a", []int{0}, false},
		{"B", []int{0, 1}, false},
		{"2", []int{2}, false},
		{"nope", nil, true},
	}
	for _, tc := range tests {
		i, err := plan.Target(tc.target)
		if (err != nil) != tc.wantErr {
			t.Fatalf("Target(%q) err = %v", tc.target, err)
		}
		if err != nil {
			continue
		}
		got := plan.Needed(i)
		if strings.Trim(strings.Join(strings.Fields(strings.Trim(jsonOf(got), "[]")), " "), " ") != strings.Trim(jsonOf(tc.want), "[]") {
			t.Errorf("Needed(%q) = %v, want %v", tc.target, got, tc.want)
		}
	}
}

func jsonOf(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
