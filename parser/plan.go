// Package parser turns a Dockerfile into hoist's build plan: stages, typed steps and the dependency
// graph between stages. It wraps BuildKit's Dockerfile parser and instruction types; none of BuildKit's
// types leave this package.
//
// The plan is not expanded: variable expansion needs the base image's environment, which only the
// builder knows. The builder expands the words that Docker expands with an Expander from this package.
package parser

import "time"

// Kind names an instruction.
type Kind string

// The instruction kinds of the Dockerfile reference.
const (
	KindRun         Kind = "RUN"
	KindCopy        Kind = "COPY"
	KindAdd         Kind = "ADD"
	KindEnv         Kind = "ENV"
	KindArg         Kind = "ARG"
	KindLabel       Kind = "LABEL"
	KindMaintainer  Kind = "MAINTAINER"
	KindExpose      Kind = "EXPOSE"
	KindCmd         Kind = "CMD"
	KindEntrypoint  Kind = "ENTRYPOINT"
	KindVolume      Kind = "VOLUME"
	KindUser        Kind = "USER"
	KindWorkdir     Kind = "WORKDIR"
	KindOnbuild     Kind = "ONBUILD"
	KindStopSignal  Kind = "STOPSIGNAL"
	KindHealthcheck Kind = "HEALTHCHECK"
	KindShell       Kind = "SHELL"
)

// Location is where an instruction is in its Dockerfile (1-based lines, inclusive).
type Location struct {
	File  string
	Start int
	End   int
}

// Step is one instruction of a stage. The concrete types are the *XxxStep structs of this package.
type Step interface {
	Kind() Kind
	// Loc is where the instruction is.
	Loc() Location
	// Source is the instruction as written (continuation lines joined), for messages and history.
	Source() string
}

// Plan is a parsed Dockerfile.
type Plan struct {
	// File is the name used in messages ("Dockerfile").
	File string
	// MetaArgs are the ARGs before the first FROM, in order.
	MetaArgs []ArgDef
	// Stages in Dockerfile order; Stage.Index is the position here.
	Stages []*Stage
	// Warnings from the parser (empty continuation lines, ...), for the progress output.
	Warnings []string
	// Lines are the Dockerfile's lines, for error snippets.
	Lines []string
	exp   *Expander
}

// Stage is one FROM and its steps.
type Stage struct {
	Index int
	// Name is the AS name, lower-cased as BuildKit does ("" when none).
	Name string
	// Base is the FROM argument with the global ARGs expanded: an image reference, "scratch", or the name
	// or index of an earlier stage (then BaseStage is its index).
	Base      string
	BaseStage int // -1 when the base is not a stage
	// Platform is the expanded --platform value ("" when none).
	Platform string
	Steps    []Step
	// DependsOn lists the indexes of the stages this one needs (base stage, COPY --from, RUN --mount from),
	// sorted, without duplicates.
	DependsOn []int
	loc       Location
	source    string
}

// Loc is the location of the FROM instruction.
func (s *Stage) Loc() Location { return s.loc }

// Source is the FROM instruction as written.
func (s *Stage) Source() string { return s.source }

// DisplayName is the name used in progress output: the AS name, or the index.
func (s *Stage) DisplayName() string {
	if s.Name != "" {
		return s.Name
	}
	return itoa(s.Index)
}

// KV is one key/value pair, ordered as written.
type KV struct {
	Key   string
	Value string
}

// ArgDef is one ARG name with its optional default.
type ArgDef struct {
	Key     string
	Default *string
}

type base struct {
	loc    Location
	source string
}

func (b base) Loc() Location      { return b.loc }
func (b *base) setLoc(l Location) { b.loc = l }
func (b base) Source() string     { return b.source }

// Heredoc is an inline file of RUN, COPY or ADD (`<<EOF`).
type Heredoc struct {
	Name   string
	Data   string
	Chomp  bool // <<- : strip leading tabs
	Expand bool // unquoted delimiter: expand variables in Data (COPY/ADD only; RUN's shell expands)
}

// RunStep is RUN.
type RunStep struct {
	base
	// Args is the command: the words of the exec form, or one string for the shell form.
	Args []string
	// Shell is true for the shell form (Args[0] runs under the stage's SHELL).
	Shell    bool
	Heredocs []Heredoc
	Mounts   []RunMount
	// Network is "", "default", "none" or "host" (--network).
	Network string
	// Security is "" or "sandbox" or "insecure" (--security).
	Security string
}

// RunMount is one --mount of RUN (unexpanded fields are expanded by BuildKit's parser at plan time with
// the build args visible to the stage; see Parse).
type RunMount struct {
	Type     string // bind, cache, tmpfs, secret, ssh
	From     string
	Source   string
	Target   string
	ReadOnly bool
	ID       string
	Sharing  string
	Required bool
	Env      *string
	Mode     *uint64
	UID      *uint64
	GID      *uint64
	Size     int64
}

// CopyStep is COPY or ADD.
type CopyStep struct {
	base
	Add      bool
	Sources  []string
	Heredocs []Heredoc
	Dest     string
	From     string
	Chown    string
	Chmod    string
	Link     bool
	Parents  bool
	Excludes []string
	Checksum string // ADD --checksum
	Unpack   *bool  // ADD --unpack
	// KeepGitDir is ADD --keep-git-dir (nil: not given); it only means something for git sources.
	KeepGitDir *bool
}

// EnvStep is ENV.
type EnvStep struct {
	base
	Pairs []KV
}

// ArgStep is ARG inside a stage.
type ArgStep struct {
	base
	Args []ArgDef
}

// LabelStep is LABEL.
type LabelStep struct {
	base
	Pairs []KV
}

// MaintainerStep is MAINTAINER.
type MaintainerStep struct {
	base
	Name string
}

// ExposeStep is EXPOSE.
type ExposeStep struct {
	base
	Ports []string
}

// CmdStep is CMD or ENTRYPOINT.
type CmdStep struct {
	base
	Entrypoint bool
	Args       []string
	Shell      bool // shell form: Args[0] runs under the SHELL in effect
}

// VolumeStep is VOLUME.
type VolumeStep struct {
	base
	Paths []string
}

// UserStep is USER.
type UserStep struct {
	base
	User string
}

// WorkdirStep is WORKDIR.
type WorkdirStep struct {
	base
	Path string
}

// OnbuildStep is ONBUILD; Expression is the instruction stored for children.
type OnbuildStep struct {
	base
	Expression string
}

// StopSignalStep is STOPSIGNAL.
type StopSignalStep struct {
	base
	Signal string
}

// HealthcheckStep is HEALTHCHECK; Test is nil-free: ["NONE"] disables the base's check.
type HealthcheckStep struct {
	base
	Test          []string
	Interval      time.Duration
	Timeout       time.Duration
	StartPeriod   time.Duration
	StartInterval time.Duration
	Retries       int
}

// ShellStep is SHELL.
type ShellStep struct {
	base
	Shell []string
}

func (*RunStep) Kind() Kind { return KindRun }
func (s *CopyStep) Kind() Kind {
	if s.Add {
		return KindAdd
	}
	return KindCopy
}
func (*EnvStep) Kind() Kind         { return KindEnv }
func (*ArgStep) Kind() Kind         { return KindArg }
func (*LabelStep) Kind() Kind       { return KindLabel }
func (*MaintainerStep) Kind() Kind  { return KindMaintainer }
func (*ExposeStep) Kind() Kind      { return KindExpose }
func (*VolumeStep) Kind() Kind      { return KindVolume }
func (*UserStep) Kind() Kind        { return KindUser }
func (*WorkdirStep) Kind() Kind     { return KindWorkdir }
func (*OnbuildStep) Kind() Kind     { return KindOnbuild }
func (*StopSignalStep) Kind() Kind  { return KindStopSignal }
func (*HealthcheckStep) Kind() Kind { return KindHealthcheck }
func (*ShellStep) Kind() Kind       { return KindShell }
func (s *CmdStep) Kind() Kind {
	if s.Entrypoint {
		return KindEntrypoint
	}
	return KindCmd
}

var (
	_ Step = (*RunStep)(nil)
	_ Step = (*CopyStep)(nil)
	_ Step = (*EnvStep)(nil)
	_ Step = (*ArgStep)(nil)
	_ Step = (*LabelStep)(nil)
	_ Step = (*MaintainerStep)(nil)
	_ Step = (*ExposeStep)(nil)
	_ Step = (*CmdStep)(nil)
	_ Step = (*VolumeStep)(nil)
	_ Step = (*UserStep)(nil)
	_ Step = (*WorkdirStep)(nil)
	_ Step = (*OnbuildStep)(nil)
	_ Step = (*StopSignalStep)(nil)
	_ Step = (*HealthcheckStep)(nil)
	_ Step = (*ShellStep)(nil)
)

// Kind makes a stage usable where a Step is expected (its FROM instruction).
func (s *Stage) Kind() Kind { return "FROM" }
