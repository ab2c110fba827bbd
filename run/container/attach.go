package container

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// Attach connects stdio to the running detached container ref: its output
// from now on (read from its log), and stdin into the container's stdin when
// it was created with -i. Input is sent only once the log reader is at the
// log's end, so the output it causes is never missed. It returns the
// container's exit code once it stops.
func (r *Runtime) Attach(ctx context.Context, ref string, stdio Stdio) (int, error) {
	c, err := r.Get(ctx, ref)
	if err != nil {
		return -1, err
	}
	if !c.State.Running() {
		return -1, fmt.Errorf("%w: you cannot attach to a stopped container, start it first", ErrNotRunning)
	}
	sendInput := func() {}
	if stdio.In != nil && c.Config.OpenStdin {
		f, err := os.OpenFile(filepath.Join(r.Dir(c.ID), "stdin"), os.O_WRONLY, 0)
		if err != nil {
			return -1, fmt.Errorf("attaching stdin: %w", err)
		}
		defer f.Close()
		sendInput = func() { go func() { _, _ = io.Copy(f, stdio.In) }() }
	}
	out, errw := stdio.Out, stdio.Err
	if out == nil {
		out = io.Discard
	}
	if errw == nil {
		errw = io.Discard
	}
	if err := r.logs(ctx, c, LogOptions{Follow: true, Tail: 0}, out, errw, sendInput); err != nil {
		return -1, err
	}
	return r.waitStopped(ctx, c.ID)
}
