package rootless

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
)

// Status is the rootless namespaces as a process inside them sees them (`hoist info`).
type Status struct {
	// UIDMap and GIDMap are the kernel's id mappings of the user namespace: the user's own id is
	// 0 inside, its subordinate ranges follow.
	UIDMap, GIDMap []IDRange
	// Outbound is how the namespace's network reaches the host's: the uplink program
	// ([UplinkPasta], [UplinkSlirp4netns]), or "" when the namespace has no interface but loopback
	// and hoist's own bridge (neither is installed, or no usable /dev/net/tun).
	Outbound string
	// NoOutbound says why there is no uplink when Outbound is "".
	NoOutbound string
}

// Inspect reads the Status of the namespaces this process runs in; only inside them ([Active]).
func Inspect() (Status, error) {
	var st Status
	var err error
	if st.UIDMap, err = readIDMap("/proc/self/uid_map"); err != nil {
		return st, err
	}
	if st.GIDMap, err = readIDMap("/proc/self/gid_map"); err != nil {
		return st, err
	}
	ifs, err := net.Interfaces()
	if err != nil {
		return st, fmt.Errorf("listing network interfaces: %w", err)
	}
	for _, i := range ifs {
		// The uplink's interface (pasta's is named like the host's, slirp4netns's is tap0);
		// everything else here is loopback, hoist's bridge and the veths of containers. The port
		// helper records which program made it.
		if i.Flags&net.FlagLoopback == 0 && !strings.HasPrefix(i.Name, "veth") && !strings.HasPrefix(i.Name, "hoist") {
			st.Outbound, st.NoOutbound = recordedUplink()
		}
	}
	if st.Outbound == "" && st.NoOutbound == "" {
		_, st.NoOutbound = recordedUplink()
	}
	return st, nil
}

// readIDMap parses a /proc/PID/{uid,gid}_map file: "inside outside count" per line.
func readIDMap(path string) ([]IDRange, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []IDRange
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.Fields(line)
		if len(f) != 3 {
			continue
		}
		var r IDRange
		var errs [3]error
		r.Inside, errs[0] = strconv.ParseInt(f[0], 10, 64)
		r.Outside, errs[1] = strconv.ParseInt(f[1], 10, 64)
		r.Count, errs[2] = strconv.ParseInt(f[2], 10, 64)
		if errs[0] != nil || errs[1] != nil || errs[2] != nil {
			return nil, fmt.Errorf("%s: malformed line %q", path, line)
		}
		out = append(out, r)
	}
	return out, nil
}

// String is the range as uid_map writes it.
func (r IDRange) String() string { return fmt.Sprintf("%d %d %d", r.Inside, r.Outside, r.Count) }
