// Command probe386 is built with GOARCH=386 by the package's tests and
// exec'd under a filter: its syscalls go through int 0x80, so the kernel
// reports them as AUDIT_ARCH_I386. It makes the syscall its arguments
// name (number, then up to six arguments) and prints "r1 errno".
package main

import (
	"fmt"
	"os"
	"strconv"
	"syscall"
)

func main() {
	var n [7]uintptr
	for i, s := range os.Args[1:] {
		v, err := strconv.ParseUint(s, 0, 32)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(3)
		}
		n[i] = uintptr(v)
	}
	r1, _, errno := syscall.RawSyscall6(n[0], n[1], n[2], n[3], n[4], n[5], n[6])
	fmt.Printf("%d %d\n", r1, uintptr(errno))
}
