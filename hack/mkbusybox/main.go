// Command mkbusybox writes to stdout a busybox rootfs tar made from the host's static busybox, exactly
// like the reference environment's busybox:latest (so images built on it match the recorded goldens).
// Usage: go run ./hack/mkbusybox [/bin/busybox] > busybox.tar
package main

import (
	"bufio"
	"fmt"
	"os"

	"github.com/hoistbuild/hoist/internal/testutil"
)

func main() {
	bb := "/bin/busybox"
	if len(os.Args) > 1 {
		bb = os.Args[1]
	}
	w := bufio.NewWriterSize(os.Stdout, 1<<20)
	if err := testutil.WriteBusyboxRootfs(w, bb); err != nil {
		fmt.Fprintln(os.Stderr, "mkbusybox:", err)
		os.Exit(1)
	}
	if err := w.Flush(); err != nil {
		fmt.Fprintln(os.Stderr, "mkbusybox:", err)
		os.Exit(1)
	}
}
