// Package seccomp compiles seccomp profiles in docker's format to classic
// BPF in pure Go and installs them, for hoist's sandbox init to load
// right before exec.
//
// The profile data is not here: docker's default profile and the
// evaluation of a profile's includes/excludes (capabilities, architecture,
// kernel version) come from github.com/moby/profiles/seccomp, which yields
// a runtime-spec LinuxSeccomp. Syscall tables come from
// github.com/elastic/go-seccomp-bpf/arch, turned into static tables by go generate
// (zsyscalls_linux.go, internal/gentables). This package is the compiler,
// written to give the filter runc builds with libseccomp (see Compile).
package seccomp
