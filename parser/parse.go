package parser

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/linter"
	bkparser "github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
)

// Options are the inputs of Parse besides the Dockerfile itself.
type Options struct {
	// File is the Dockerfile's name for messages (default "Dockerfile").
	File string
	// BuildArgs are the --build-arg values; nil values mean "take from the environment" and must be
	// resolved by the caller before Parse.
	BuildArgs map[string]string
	// Platform is the predefined-args source (TARGETPLATFORM and friends).
	Platform Platform
}

// Parse reads a Dockerfile and returns its plan. Errors are *Error values naming the file and line.
func Parse(r io.Reader, opts Options) (*Plan, error) {
	if opts.File == "" {
		opts.File = "Dockerfile"
	}
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", opts.File, err)
	}
	plan := &Plan{File: opts.File, Lines: strings.Split(string(data), "\n")}
	res, err := bkparser.Parse(bytes.NewReader(data))
	if err != nil {
		return nil, plan.wrap(err, Location{})
	}
	for _, w := range res.Warnings {
		msg := w.Short
		if w.Location != nil {
			msg = fmt.Sprintf("%s:%d: %s", opts.File, w.Location.Start.Line, w.Short)
		}
		plan.Warnings = append(plan.Warnings, msg)
	}
	if len(res.AST.Children) == 0 {
		return nil, &Error{Loc: Location{File: opts.File}, Err: errors.New("the Dockerfile has no instructions")}
	}
	lint := linter.New(&linter.Config{SkipAll: true})
	stages, metaArgs, err := instructions.Parse(res.AST, lint)
	if err != nil {
		return nil, plan.wrap(err, Location{})
	}
	if len(stages) == 0 {
		return nil, &Error{Loc: Location{File: opts.File}, Err: errors.New("no FROM instruction: a Dockerfile must start with FROM (after ARGs and directives)")}
	}
	lex := shell.NewLex(res.EscapeToken)
	exp := &Expander{lex: lex}
	plan.exp = exp

	// Global scope: predefined platform args, then the meta ARGs with their defaults or build args.
	global := opts.Platform.Args()
	for _, ma := range metaArgs {
		for _, a := range ma.Args {
			def := ArgDef{Key: a.Key, Default: a.Value}
			plan.MetaArgs = append(plan.MetaArgs, def)
			if v, ok := opts.BuildArgs[a.Key]; ok {
				global = setEnv(global, a.Key, v)
				continue
			}
			if a.Value != nil {
				v, err := exp.Expand(*a.Value, global)
				if err != nil {
					return nil, plan.wrap(err, locOf(opts.File, ma.Location()))
				}
				global = setEnv(global, a.Key, v)
			}
		}
	}

	for i := range stages {
		st, err := plan.convertStage(i, &stages[i], exp, global, opts)
		if err != nil {
			return nil, err
		}
		plan.Stages = append(plan.Stages, st)
	}
	if err := plan.resolveDeps(); err != nil {
		return nil, err
	}
	return plan, nil
}

// resolveDeps records, for every stage, the stages its COPY --from and RUN --mount from= name (any
// stage but itself, like BuildKit), and rejects cycles.
func (p *Plan) resolveDeps() error {
	for _, st := range p.Stages {
		deps := map[int]bool{}
		if st.BaseStage >= 0 {
			deps[st.BaseStage] = true
		}
		for _, step := range st.Steps {
			for _, from := range fromRefs(step) {
				j, ok := p.StageByName(from, len(p.Stages))
				if !ok {
					continue // an image reference
				}
				if j == st.Index {
					return &Error{Loc: step.Loc(), Source: step.Source(), Err: fmt.Errorf("stage %q cannot copy from itself", from)}
				}
				deps[j] = true
			}
		}
		st.DependsOn = st.DependsOn[:0]
		for d := range deps {
			st.DependsOn = append(st.DependsOn, d)
		}
		sort.Ints(st.DependsOn)
	}
	// Cycle check: depth-first with colours.
	state := make([]int, len(p.Stages))
	var visit func(i int) error
	visit = func(i int) error {
		switch state[i] {
		case 1:
			return &Error{Loc: p.Stages[i].loc, Source: p.Stages[i].source, Err: fmt.Errorf("circular dependency between stages involving %q", p.Stages[i].DisplayName())}
		case 2:
			return nil
		}
		state[i] = 1
		for _, d := range p.Stages[i].DependsOn {
			if err := visit(d); err != nil {
				return err
			}
		}
		state[i] = 2
		return nil
	}
	for i := range p.Stages {
		if err := visit(i); err != nil {
			return err
		}
	}
	return nil
}

// StageByName finds a stage by name (case-insensitive) or decimal index among the stages before limit.
func (p *Plan) StageByName(name string, limit int) (int, bool) {
	lname := strings.ToLower(name)
	for i := 0; i < limit && i < len(p.Stages); i++ {
		if p.Stages[i].Name != "" && p.Stages[i].Name == lname {
			return i, true
		}
	}
	if n, err := strconv.Atoi(name); err == nil && n >= 0 && n < limit && n < len(p.Stages) {
		return n, true
	}
	return -1, false
}

// Target returns the index of the stage named by target ("" = the last stage).
func (p *Plan) Target(target string) (int, error) {
	if target == "" {
		return len(p.Stages) - 1, nil
	}
	if i, ok := p.StageByName(target, len(p.Stages)); ok {
		return i, nil
	}
	return -1, fmt.Errorf("--target: no stage named %q in %s", target, p.File)
}

// Needed returns the stages the target needs, itself included, in an order where each stage comes
// after the stages it depends on.
func (p *Plan) Needed(target int) []int {
	seen := map[int]bool{}
	var order []int
	var visit func(int)
	visit = func(i int) {
		if seen[i] {
			return
		}
		seen[i] = true
		for _, d := range p.Stages[i].DependsOn {
			visit(d)
		}
		order = append(order, i)
	}
	visit(target)
	return order
}

func (p *Plan) convertStage(i int, bs *instructions.Stage, exp *Expander, global []string, opts Options) (*Stage, error) {
	loc := locOf(p.File, bs.Location)
	st := &Stage{Index: i, Name: strings.ToLower(bs.Name), BaseStage: -1, loc: loc, source: bs.SourceCode}
	for j := 0; j < i; j++ {
		if st.Name != "" && p.Stages[j].Name == st.Name {
			return nil, &Error{Loc: loc, Source: bs.SourceCode, Err: fmt.Errorf("duplicate stage name %q", bs.Name)}
		}
	}
	base, err := exp.Expand(bs.BaseName, global)
	if err != nil {
		return nil, p.wrap(err, loc)
	}
	if base == "" {
		return nil, &Error{Loc: loc, Source: bs.SourceCode, Err: fmt.Errorf("base name (%s) should not be blank", bs.BaseName)}
	}
	st.Base = base
	if bs.Platform != "" {
		if st.Platform, err = exp.Expand(bs.Platform, global); err != nil {
			return nil, p.wrap(err, loc)
		}
	}
	if j, ok := p.StageByName(base, i); ok {
		st.BaseStage = j
	}
	// Words like COPY --from and RUN --mount are expanded at plan time with the args the stage can see
	// (global args it redeclares, its own ARG defaults, build args), as BuildKit does to find dependencies.
	scope := stageScope{global: global, buildArgs: opts.BuildArgs}
	for _, c := range bs.Commands {
		step, err := p.convert(c, exp, &scope)
		if err != nil {
			return nil, err
		}
		st.Steps = append(st.Steps, step)
	}
	return st, nil
}

func fromRefs(s Step) []string {
	switch s := s.(type) {
	case *CopyStep:
		if s.From != "" {
			return []string{s.From}
		}
	case *RunStep:
		var out []string
		for _, m := range s.Mounts {
			if m.From != "" {
				out = append(out, m.From)
			}
		}
		return out
	}
	return nil
}

func locOf(file string, r []bkparser.Range) Location {
	l := Location{File: file}
	if len(r) > 0 {
		l.Start = r[0].Start.Line
		l.End = r[len(r)-1].End.Line
	}
	return l
}

// wrap turns a BuildKit error into an *Error with the location the error carries (or fallback).
func (p *Plan) wrap(err error, fallback Location) error {
	loc := fallback
	loc.File = p.File
	var le *bkparser.LocationError
	if errors.As(err, &le) && len(le.Locations) > 0 && len(le.Locations[0]) > 0 {
		loc.Start = le.Locations[0][0].Start.Line
		loc.End = le.Locations[0][len(le.Locations[0])-1].End.Line
	}
	src := ""
	if loc.Start > 0 && loc.Start <= len(p.Lines) {
		src = strings.TrimSpace(p.Lines[loc.Start-1])
	}
	return &Error{Loc: loc, Source: src, Err: errors.New(cleanMessage(err))}
}

// cleanMessage strips BuildKit's wrapping ("dockerfile parse error on line 3: ") since Error prints the
// location itself.
func cleanMessage(err error) string {
	msg := err.Error()
	if i := strings.Index(msg, "parse error on line "); i >= 0 {
		if j := strings.Index(msg[i:], ": "); j >= 0 {
			msg = msg[:i] + msg[i+j+2:]
			msg = strings.TrimPrefix(msg, "dockerfile ")
		}
	}
	return msg
}

// ParseTriggers parses ONBUILD trigger expressions stored in a base image's config into steps. Their
// location is the FROM instruction (loc) that triggers them.
func ParseTriggers(exprs []string, file string, loc Location) ([]Step, error) {
	src := "FROM scratch\n" + strings.Join(exprs, "\n") + "\n"
	p, err := Parse(strings.NewReader(src), Options{File: file})
	if err != nil {
		return nil, &Error{Loc: loc, Err: fmt.Errorf("parsing ONBUILD triggers of the base image: %w", err)}
	}
	steps := p.Stages[0].Steps
	for _, s := range steps {
		switch s.Kind() {
		case KindOnbuild:
			return nil, &Error{Loc: loc, Err: errors.New("chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed")}
		}
		setLoc(s, loc)
	}
	return steps, nil
}

func setLoc(s Step, loc Location) {
	type locSetter interface{ setLoc(Location) }
	if ls, ok := s.(locSetter); ok {
		ls.setLoc(loc)
	}
}
