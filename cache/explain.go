package cache

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/hoistbuild/hoist/internal/atomicfile"
)

// StepRecord is what a build remembers of one filesystem step, to explain the next build's misses.
type StepRecord struct {
	// ID identifies the step within its Dockerfile: "<stage index>/<step index>".
	ID         string      `json:"id"`
	Source     string      `json:"source"`
	Key        Key         `json:"key"`
	Parent     Key         `json:"parent"`
	Components []Component `json:"components"`
	// Files is the per-file detail behind a COPY's content digest (in memory only); the history keeps
	// it in a separate file named by FilesRef, read only when a miss must be explained.
	Files    map[string]string `json:"-"`
	FilesRef string            `json:"filesRef,omitempty"`
}

// BuildRecord is the steps of one successful build of a Dockerfile.
type BuildRecord struct {
	Steps []StepRecord `json:"steps"`
}

// History keeps the last build of each (context, Dockerfile, target) under dir.
type History struct {
	dir string
}

// OpenHistory returns the history kept in dir.
func OpenHistory(dir string) (*History, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	return &History{dir: dir}, nil
}

// BuildID names a Dockerfile build for the history: the context dir, the Dockerfile and the target.
func BuildID(contextDir, dockerfile, target string) string {
	sum := sha256.Sum256([]byte(contextDir + "\x00" + dockerfile + "\x00" + target))
	return hex.EncodeToString(sum[:])
}

// Last returns the last recorded build with that id, or nil.
func (h *History) Last(id string) *BuildRecord {
	data, err := os.ReadFile(filepath.Join(h.dir, id+".json"))
	if err != nil {
		return nil
	}
	var r BuildRecord
	if json.Unmarshal(data, &r) != nil {
		return nil
	}
	return &r
}

// Save records a build (atomically; the last writer wins). prev is the record it replaces (or nil):
// when every step key is the same, nothing is written.
func (h *History) Save(id string, r, prev *BuildRecord) error {
	// Stages run concurrently: keep a stable order.
	sort.SliceStable(r.Steps, func(i, j int) bool { return r.Steps[i].ID < r.Steps[j].ID })
	if prev != nil && len(prev.Steps) == len(r.Steps) {
		same := true
		for i := range r.Steps {
			if r.Steps[i].Key != prev.Steps[i].Key || r.Steps[i].ID != prev.Steps[i].ID {
				same = false
				break
			}
		}
		if same {
			return nil
		}
	}
	// The directory may have been pruned since Open.
	if err := os.MkdirAll(filepath.Join(h.dir, "files"), 0o700); err != nil {
		return err
	}
	for i := range r.Steps {
		s := &r.Steps[i]
		if s.Files == nil {
			continue
		}
		sum := sha256.New()
		paths := make([]string, 0, len(s.Files))
		for p := range s.Files {
			paths = append(paths, p)
		}
		sort.Strings(paths)
		var b strings.Builder
		for _, p := range paths {
			b.WriteString(p)
			b.WriteByte('\t')
			b.WriteString(s.Files[p])
			b.WriteByte('\n')
		}
		sum.Write([]byte(b.String()))
		s.FilesRef = hex.EncodeToString(sum.Sum(nil))
		fp := filepath.Join(h.dir, "files", s.FilesRef)
		if _, err := os.Stat(fp); err == nil {
			continue
		}
		if err := writeAtomic(fp, []byte(b.String())); err != nil {
			return err
		}
	}
	data, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return writeAtomic(filepath.Join(h.dir, id+".json"), data)
}

// files loads the per-file detail a step record refers to.
func (h *History) files(ref string) map[string]string {
	if ref == "" {
		return nil
	}
	data, err := os.ReadFile(filepath.Join(h.dir, "files", ref))
	if err != nil {
		return nil
	}
	out := map[string]string{}
	for _, line := range strings.Split(string(data), "\n") {
		if p, d, ok := strings.Cut(line, "\t"); ok {
			out[p] = d
		}
	}
	return out
}

// Files is the per-file detail of a step record (loaded from the history when it is not in memory).
func (h *History) Files(s *StepRecord) map[string]string {
	if s.Files != nil {
		return s.Files
	}
	return h.files(s.FilesRef)
}

// Explain is the package-level Explain with the earlier step's file detail loaded from the history.
func (h *History) Explain(prev, cur *StepRecord, args map[string]bool) string {
	if prev != nil && prev.Files == nil && prev.FilesRef != "" {
		p := *prev
		p.Files = h.files(prev.FilesRef)
		prev = &p
	}
	return Explain(prev, cur, args)
}

func writeAtomic(path string, data []byte) error {
	return atomicfile.WriteFile(path, data, 0o644)
}

// Step finds the step of the record that corresponds to cur: the same instruction text in the same
// stage (so inserting an instruction does not shift the comparison), else the same position.
func (r *BuildRecord) Step(cur *StepRecord) *StepRecord {
	if r == nil {
		return nil
	}
	stage, _, _ := strings.Cut(cur.ID, "/")
	for i := range r.Steps {
		s := &r.Steps[i]
		if s.Source == cur.Source && strings.HasPrefix(s.ID, stage+"/") {
			return s
		}
	}
	for i := range r.Steps {
		if r.Steps[i].ID == cur.ID {
			return &r.Steps[i]
		}
	}
	return nil
}

// ErrNoEarlierBuild is the explanation when there is nothing to compare with.
var ErrNoEarlierBuild = errors.New("no earlier build of this step")

// Explain says why cur missed the cache, comparing it with prev, the same step in the nearest earlier
// build: the first input that differs, in words ("src/main.go changed", "build-arg VERSION changed",
// "parent step ran"). args are the names of the build args the step can see.
func Explain(prev, cur *StepRecord, args map[string]bool) string {
	if prev == nil {
		return ErrNoEarlierBuild.Error()
	}
	pc := map[string][]string{}
	for _, c := range prev.Components {
		pc[c.Name] = c.Values
	}
	for _, c := range cur.Components {
		old, ok := pc[c.Name]
		if !ok {
			return "instruction changed"
		}
		if equal(old, c.Values) {
			continue
		}
		switch c.Name {
		case "env":
			return explainEnv(old, c.Values, args)
		case "content":
			if prev.Files != nil { // nil: the earlier build kept no file list
				if why := explainFiles(prev.Files, cur.Files); why != "" {
					return why
				}
			}
			return "source files changed"
		case "from":
			return "the --from source changed"
		default:
			return c.Name + " changed"
		}
	}
	if prev.Parent != cur.Parent {
		return "parent step ran"
	}
	if prev.Key == cur.Key {
		return "its cached result is gone (pruned or never stored)"
	}
	return "instruction changed"
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func explainEnv(old, cur []string, args map[string]bool) string {
	om, cm := kvMap(old), kvMap(cur)
	keys := make([]string, 0, len(om)+len(cm))
	for k := range om {
		keys = append(keys, k)
	}
	for k := range cm {
		if _, ok := om[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		ov, oset := om[k]
		cv, cset := cm[k]
		if oset == cset && ov == cv {
			continue
		}
		what := "env " + k
		if args[k] {
			what = "build-arg " + k
		}
		switch {
		case !oset:
			return what + " added"
		case !cset:
			return what + " removed"
		}
		return what + " changed"
	}
	return "environment changed"
}

func kvMap(env []string) map[string]string {
	m := map[string]string{}
	for _, e := range env {
		k, v, _ := strings.Cut(e, "=")
		m[k] = v
	}
	return m
}

// explainFiles names the first (sorted) file that changed, appeared or disappeared, with a count.
func explainFiles(old, cur map[string]string) string {
	var changes []string
	for p, d := range cur {
		od, ok := old[p]
		switch {
		case !ok:
			changes = append(changes, p+" added")
		case od != d:
			changes = append(changes, p+" changed")
		}
	}
	for p := range old {
		if _, ok := cur[p]; !ok {
			changes = append(changes, p+" removed")
		}
	}
	if len(changes) == 0 {
		return ""
	}
	sort.Strings(changes)
	if len(changes) == 1 {
		return changes[0]
	}
	return fmt.Sprintf("%s (and %d more)", changes[0], len(changes)-1)
}
