package rootless

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"strconv"
	"strings"

	"github.com/moby/sys/user"
)

// IDRange maps Count ids from Inside (in the namespace) to Outside (on the host).
type IDRange struct {
	Inside, Outside, Count int64
}

// Mapping is the id mapping of the rootless user namespace: the user's own uid and gid become 0,
// its subordinate ranges follow from 1.
type Mapping struct {
	UIDs, GIDs []IDRange
}

// Single reports whether only the user's own id is mapped (no subordinate ranges): files and
// processes of any other id (an image's `nobody`, `_apt`, `postgres`) cannot exist in the namespace.
func (m Mapping) Single() bool { return len(m.UIDs) < 2 || len(m.GIDs) < 2 }

// minRange is the smallest subordinate range hoist accepts: docker's images use ids up to 65534
// (nobody), so a range that stops short of it would fail in the middle of an extraction instead of
// at the start.
const minRange = 65536

// ErrSubIDRange is wrapped by the error for a subordinate range too small to hold an image's ids.
var ErrSubIDRange = errors.New("subordinate id range too small")

// hostMapping reads the user's subordinate ranges from subuidFile and subgidFile (/etc/subuid,
// /etc/subgid). With none at all the mapping is the single id, and warning says what that means.
func hostMapping(uid, gid int, name, subuidFile, subgidFile string) (m Mapping, warning string, err error) {
	uids, err := subIDs(subuidFile, name, uid)
	if err != nil {
		return m, "", err
	}
	gids, err := subIDs(subgidFile, name, uid)
	if err != nil {
		return m, "", err
	}
	m.UIDs = []IDRange{{0, int64(uid), 1}}
	m.GIDs = []IDRange{{0, int64(gid), 1}}
	if len(uids) == 0 || len(gids) == 0 {
		return m, fmt.Sprintf("no subordinate ids for %s in %s and %s: only uid %d and gid %d exist in the "+
			"user namespace, so images with files or users of other ids (nobody, _apt, daemons) fail to "+
			"extract or run; add a range with `usermod --add-subuids 100000-165535 --add-subgids "+
			"100000-165535 %s`", name, subuidFile, subgidFile, uid, gid, name), nil
	}
	if err := appendRanges(&m.UIDs, uids, subuidFile, name); err != nil {
		return m, "", err
	}
	if err := appendRanges(&m.GIDs, gids, subgidFile, name); err != nil {
		return m, "", err
	}
	return m, "", nil
}

// appendRanges adds the subordinate ranges after id 0, in file order (newuidmap takes them so),
// and checks that together they reach minRange ids.
func appendRanges(dst *[]IDRange, subs []user.SubID, file, name string) error {
	next := int64(1)
	for _, s := range subs {
		*dst = append(*dst, IDRange{Inside: next, Outside: s.SubID, Count: s.Count})
		next += s.Count
	}
	if next-1 < minRange {
		return fmt.Errorf("%s: %s has %d subordinate ids, hoist needs at least %d: %w", file, name, next-1, minRange, ErrSubIDRange)
	}
	return nil
}

func subIDs(file, name string, uid int) ([]user.SubID, error) {
	subs, err := user.ParseSubIDFileFilter(file, func(s user.SubID) bool {
		return s.Name == name || s.Name == strconv.Itoa(uid)
	})
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", file, err)
	}
	// useradd and hand edits leave duplicate lines; newuidmap refuses overlapping ranges.
	var out []user.SubID
next:
	for _, s := range subs {
		if s.Count <= 0 {
			continue
		}
		for _, o := range out {
			if s.SubID < o.SubID+o.Count && o.SubID < s.SubID+s.Count {
				continue next
			}
		}
		out = append(out, s)
	}
	return out, nil
}

// apply writes m into the user namespace of pid: through newuidmap/newgidmap (setuid helpers from
// Debian's uidmap) when there are subordinate ranges, else directly, which the kernel allows an
// unprivileged parent for its own single id once setgroups is denied.
func (m Mapping) apply(pid int) error {
	if m.Single() {
		p := "/proc/" + strconv.Itoa(pid)
		if err := os.WriteFile(p+"/uid_map", []byte(rangesLine(m.UIDs[:1])), 0); err != nil {
			return fmt.Errorf("writing uid_map: %w", err)
		}
		if err := os.WriteFile(p+"/setgroups", []byte("deny"), 0); err != nil {
			return fmt.Errorf("writing setgroups: %w", err)
		}
		if err := os.WriteFile(p+"/gid_map", []byte(rangesLine(m.GIDs[:1])), 0); err != nil {
			return fmt.Errorf("writing gid_map: %w", err)
		}
		return nil
	}
	if err := idmapTool("newuidmap", pid, m.UIDs); err != nil {
		return err
	}
	return idmapTool("newgidmap", pid, m.GIDs)
}

func idmapTool(tool string, pid int, rs []IDRange) error {
	path, err := exec.LookPath(tool)
	if err != nil {
		return fmt.Errorf("%s not found: install Debian's uidmap package (it maps the subordinate ids of /etc/subuid and /etc/subgid): %w", tool, err)
	}
	args := []string{strconv.Itoa(pid)}
	for _, r := range rs {
		args = append(args, strconv.FormatInt(r.Inside, 10), strconv.FormatInt(r.Outside, 10), strconv.FormatInt(r.Count, 10))
	}
	out, err := exec.Command(path, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w: %s", tool, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

func rangesLine(rs []IDRange) string {
	var b strings.Builder
	for _, r := range rs {
		fmt.Fprintf(&b, "%d %d %d\n", r.Inside, r.Outside, r.Count)
	}
	return b.String()
}
