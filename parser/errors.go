package parser

import "fmt"

// Error is a problem with one instruction of a Dockerfile. Its message names the file and line and
// quotes the instruction, like current BuildKit: `Dockerfile:3: COPY missing /: ...`.
type Error struct {
	Loc    Location
	Source string // the instruction's first line, as written
	Err    error
}

func (e *Error) Error() string {
	src := e.Source
	if i := indexNewline(src); i >= 0 {
		src = src[:i] + " ..."
	}
	switch {
	case e.Loc.Start > 0 && src != "":
		return fmt.Sprintf("%s:%d: %s: %v", e.Loc.File, e.Loc.Start, src, e.Err)
	case e.Loc.Start > 0:
		return fmt.Sprintf("%s:%d: %v", e.Loc.File, e.Loc.Start, e.Err)
	default:
		return fmt.Sprintf("%s: %v", e.Loc.File, e.Err)
	}
}

func (e *Error) Unwrap() error { return e.Err }

// StepError wraps err with the location and text of step s.
func StepError(s Step, err error) error {
	return &Error{Loc: s.Loc(), Source: s.Source(), Err: err}
}

func indexNewline(s string) int {
	for i := 0; i < len(s); i++ {
		if s[i] == '\n' {
			return i
		}
	}
	return -1
}

func itoa(i int) string { return fmt.Sprint(i) }
