package run_test

import (
	"bytes"
	"context"
	"errors"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hoistbuild/hoist/run"
)

// TestAttachNetwork: Spec.AttachNetwork runs while the init sets up its filesystem, and the init
// configures the interface only after it returned (a slow attach still gives the command a
// configured eth0); an attach that fails aborts the start with its error and leaves nothing behind.
func TestAttachNetwork(t *testing.T) {
	requireRoot(t)
	if _, err := exec.LookPath("ip"); err != nil {
		t.Fatal("ip(8) is needed (iproute2)")
	}
	rootfs := newRootfs(t)
	iface := &run.Interface{Name: "eth0", Address: "10.231.7.2", PrefixLen: 24}
	t.Run("slow attach", func(t *testing.T) {
		host := "vethat" + strconv.Itoa(time.Now().Nanosecond()%100000)
		t.Cleanup(func() { _ = exec.Command("ip", "link", "del", host).Run() })
		var attached time.Time
		spec := run.Spec{
			Rootfs: rootfs, Env: []string{"PATH=/bin"}, Network: run.NetworkPrivate, Interface: iface,
			Args: sh("cat /sys/class/net/eth0/operstate; ip -4 addr show eth0 | grep -o 'inet [0-9./]*'"),
			AttachNetwork: func(pid int) error {
				time.Sleep(300 * time.Millisecond) // the init must wait for us
				out, err := exec.Command("ip", "link", "add", "name", host, "up", "type", "veth",
					"peer", "name", "eth0", "netns", strconv.Itoa(pid)).CombinedOutput()
				if err != nil {
					return errors.New(string(out))
				}
				attached = time.Now()
				return nil
			},
		}
		var stdout, stderr bytes.Buffer
		code, err := run.Run(context.Background(), spec, run.IO{Stdout: &stdout, Stderr: &stderr})
		if err != nil || code != 0 {
			t.Fatalf("run: code %d, err %v, stderr %q", code, err, stderr.String())
		}
		if attached.IsZero() {
			t.Fatal("AttachNetwork was not called")
		}
		if got := stdout.String(); !strings.Contains(got, "inet 10.231.7.2/24") {
			t.Fatalf("eth0 not configured after a slow attach: %q (stderr %q)", got, stderr.String())
		}
	})
	t.Run("failing attach", func(t *testing.T) {
		spec := run.Spec{
			Rootfs: rootfs, Env: []string{"PATH=/bin"}, Network: run.NetworkPrivate, Interface: iface,
			Args:          sh("echo ran"),
			AttachNetwork: func(int) error { return errors.New("no veth for you") },
		}
		var stdout bytes.Buffer
		done := make(chan struct{})
		var err error
		go func() {
			defer close(done)
			_, err = run.Run(context.Background(), spec, run.IO{Stdout: &stdout})
		}()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Fatal("run hangs after a failing AttachNetwork")
		}
		if err == nil || !strings.Contains(err.Error(), "no veth for you") {
			t.Fatalf("run: err %v, want the attach error", err)
		}
		if stdout.Len() != 0 {
			t.Fatalf("the command ran: %q", stdout.String())
		}
	})
}
