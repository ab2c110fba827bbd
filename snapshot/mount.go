//go:build linux

package snapshot

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/moby/sys/userns"
	"golang.org/x/sys/unix"
)

// optionalOverlayOptions are turned off when the kernel knows them, so the
// upper dir only ever holds plain whiteouts and opaque markers, which
// WriteDiff translates. A kernel that does not know one (no
// /sys/module/overlay/parameters/<name>, or EINVAL at mount time) is
// mounted without it.
func optionalOverlayOptions() []string { return []string{"index", "metacopy", "redirect_dir"} }

// overlayOff is the value that turns option o off. In a user namespace (rootless hoist) the kernel
// refuses redirect_dir=off where redirect_always_follow makes "off" mean "follow" (following a
// redirect is privileged); "nofollow" neither creates nor follows redirects, which is what hoist
// needs: its lowers are extracted layers and never hold one.
func overlayOff(o string) string {
	if o == "redirect_dir" && userns.RunningInUserNS() {
		return "nofollow"
	}
	return "off"
}

// MountOverlay mounts an overlay at target (an existing directory).
// lowers are lower directories base first, as Ensure returns them.
//
//   - upper != "": a writable overlay with upper and work (work must be an
//     empty directory on upper's filesystem). Zero lowers (FROM scratch)
//     use the store's always-empty directory as the only lower.
//   - upper == "" (work must be ""): a read-only view, e.g. for reading a
//     stage's rootfs in COPY --from. Zero lowers bind-mount the empty
//     directory read-only; one lower gets the empty directory stacked below
//     it so whiteouts in it are still hidden.
//
// With the fuse-overlayfs driver ([Snapshotter.Driver]) the mount is fuse-overlayfs's, and the
// caller passes the upper dir through [Snapshotter.NormalizeUpper] once it is unmounted.
//
// Options index=off, metacopy=off and redirect_dir=off are passed where the
// kernel supports them. Lowers are passed with the new mount API
// (fsopen/fsconfig "lowerdir+", Linux >= 6.8), which has no length limit;
// otherwise with mount(2), whose option string must fit in a page: when
// absolute paths are too long, lowers are passed as /proc/self/fd/N paths of
// O_PATH descriptors (no chdir, so it is safe in a multithreaded program),
// and ErrMountOptionsTooLong is returned if even that does not fit (about
// 200 lowers). MountOverlay is safe for concurrent use; the caller unmounts
// with Unmount.
func (s *Snapshotter) MountOverlay(lowers []string, upper, work, target string) error {
	if (upper == "") != (work == "") {
		return fmt.Errorf("mounting overlay at %s: upper and work must be given together", target)
	}
	top := make([]string, 0, len(lowers)+1)
	for i := len(lowers) - 1; i >= 0; i-- {
		top = append(top, lowers[i])
	}
	readOnly := upper == ""
	switch {
	case readOnly && len(top) == 0:
		return bindReadOnly(s.emptyDir(), target)
	case readOnly && len(top) == 1, len(top) == 0:
		top = append(top, s.emptyDir())
	}
	st, err := s.Driver()
	if err != nil {
		return err
	}
	if st.Driver == DriverFuseOverlayfs {
		return mountFuse(st.Program, top, upper, work, target)
	}
	if err := mountOverlay(top, upper, work, target, readOnly); err != nil {
		return fmt.Errorf("mounting overlay at %s: %w", target, err)
	}
	return nil
}

// Unmount detaches the mount at target (MNT_DETACH: the mount disappears
// from the namespace at once and is torn down when no longer busy). It
// fails if nothing is mounted at target.
func Unmount(target string) error {
	for {
		err := unix.Unmount(target, unix.MNT_DETACH)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return fmt.Errorf("unmounting %s: %w", target, err)
		}
		return nil
	}
}

// mountOverlay mounts lowersTop (top first) with optional upper/work.
func mountOverlay(lowersTop []string, upper, work, target string, readOnly bool) error {
	err := mountOverlayNewAPI(lowersTop, upper, work, target, readOnly)
	if !errors.Is(err, errNoNewAPI) {
		return err
	}
	return mountOverlayLegacy(lowersTop, upper, work, target, readOnly, unix.Getpagesize())
}

var errNoNewAPI = errors.New("new mount API unavailable")

func overlayOptionKnown(name string) bool {
	_, err := os.Stat(filepath.Join("/sys/module/overlay/parameters", name))
	return err == nil
}

// mountOverlayNewAPI uses fsopen/fsconfig/fsmount/move_mount. It returns
// errNoNewAPI when the kernel lacks the syscalls or "lowerdir+".
func mountOverlayNewAPI(lowersTop []string, upper, work, target string, readOnly bool) error {
	fd, err := unix.Fsopen("overlay", unix.FSOPEN_CLOEXEC)
	if err != nil {
		// ENOSYS: old kernel; EPERM: seccomp filters or no privilege, in
		// which case mount(2) reports the real reason.
		return errNoNewAPI
	}
	defer unix.Close(fd)
	for i, l := range lowersTop {
		if err := unix.FsconfigSetString(fd, "lowerdir+", l); err != nil {
			if i == 0 && errors.Is(err, unix.EINVAL) {
				return errNoNewAPI // kernel < 6.8
			}
			return fmt.Errorf("lowerdir+ %s: %w%s", l, err, fsLog(fd))
		}
	}
	if upper != "" {
		if err := unix.FsconfigSetString(fd, "upperdir", upper); err != nil {
			return fmt.Errorf("upperdir %s: %w%s", upper, err, fsLog(fd))
		}
		if err := unix.FsconfigSetString(fd, "workdir", work); err != nil {
			return fmt.Errorf("workdir %s: %w%s", work, err, fsLog(fd))
		}
	}
	if userns.RunningInUserNS() {
		if err := unix.FsconfigSetFlag(fd, "userxattr"); err != nil {
			return fmt.Errorf("userxattr: %w%s", err, fsLog(fd))
		}
	}
	for _, o := range optionalOverlayOptions() {
		if overlayOptionKnown(o) {
			// Rejection means the kernel cannot turn it off: go without.
			_ = unix.FsconfigSetString(fd, o, overlayOff(o))
		}
	}
	fsLog(fd) // drop messages about skipped options
	if err := unix.FsconfigCreate(fd); err != nil {
		return fmt.Errorf("creating overlay: %w%s", err, fsLog(fd))
	}
	var attrs int
	if readOnly {
		attrs = unix.MOUNT_ATTR_RDONLY
	}
	mfd, err := unix.Fsmount(fd, unix.FSMOUNT_CLOEXEC, attrs)
	if err != nil {
		return fmt.Errorf("fsmount: %w%s", err, fsLog(fd))
	}
	defer unix.Close(mfd)
	if err := unix.MoveMount(mfd, "", unix.AT_FDCWD, target, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
		return fmt.Errorf("move_mount to %s: %w", target, err)
	}
	return nil
}

// fsLog drains the filesystem context's message log (kernel explanations of
// failures) into a string suffix for errors.
func fsLog(fd int) string {
	var msgs []string
	buf := make([]byte, 4096)
	for {
		n, err := unix.Read(fd, buf)
		if err != nil || n <= 0 {
			break
		}
		msgs = append(msgs, strings.TrimSpace(string(buf[:n])))
	}
	if len(msgs) == 0 {
		return ""
	}
	return " (" + strings.Join(msgs, "; ") + ")"
}

// mountOverlayLegacy uses mount(2) with an option string of at most
// pageSize-1 bytes.
func mountOverlayLegacy(lowersTop []string, upper, work, target string, readOnly bool, pageSize int) error {
	var flags uintptr
	if readOnly {
		flags |= unix.MS_RDONLY
	}
	var optional []string
	for _, o := range optionalOverlayOptions() {
		if overlayOptionKnown(o) {
			optional = append(optional, o+"="+overlayOff(o))
		}
	}
	lowers := lowersTop
	data := legacyOptions(lowers, upper, work, optional)
	if len(data) >= pageSize {
		fdPaths, closeFDs, err := openPathFDs(lowersTop)
		if err != nil {
			return err
		}
		defer closeFDs()
		lowers = fdPaths
		data = legacyOptions(lowers, upper, work, optional)
		if len(data) >= pageSize {
			return fmt.Errorf("%d lowers need %d bytes: %w", len(lowersTop), len(data), ErrMountOptionsTooLong)
		}
	}
	err := mountRetry("overlay", target, "overlay", flags, data)
	if errors.Is(err, unix.EINVAL) && len(optional) > 0 {
		err = mountRetry("overlay", target, "overlay", flags, legacyOptions(lowers, upper, work, nil))
	}
	if err != nil {
		return fmt.Errorf("mount(2) overlay: %w", err)
	}
	return nil
}

func legacyOptions(lowersTop []string, upper, work string, optional []string) string {
	esc := make([]string, len(lowersTop))
	for i, l := range lowersTop {
		esc[i] = escapeOverlayPath(l)
	}
	opts := []string{"lowerdir=" + strings.Join(esc, ":")}
	if upper != "" {
		opts = append(opts, "upperdir="+escapeOverlayPath(upper), "workdir="+escapeOverlayPath(work))
	}
	if userns.RunningInUserNS() {
		opts = append(opts, "userxattr") // see overlayPrefix
	}
	opts = append(opts, optional...)
	return strings.Join(opts, ",")
}

// escapeOverlayPath backslash-escapes the separators of overlay's legacy
// option syntax.
func escapeOverlayPath(p string) string {
	r := strings.NewReplacer(`\`, `\\`, `:`, `\:`, `,`, `\,`)
	return r.Replace(p)
}

// openPathFDs opens every path with O_PATH and returns /proc/self/fd/N
// names for them. The kernel resolves those magic links at mount time.
func openPathFDs(paths []string) ([]string, func(), error) {
	fds := make([]int, 0, len(paths))
	closeAll := func() {
		for _, fd := range fds {
			unix.Close(fd)
		}
	}
	names := make([]string, len(paths))
	for i, p := range paths {
		fd, err := unix.Open(p, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			closeAll()
			return nil, nil, fmt.Errorf("opening lower %s: %w", p, err)
		}
		fds = append(fds, fd)
		names[i] = "/proc/self/fd/" + strconv.Itoa(fd)
	}
	return names, closeAll, nil
}

func mountRetry(source, target, fstype string, flags uintptr, data string) error {
	for {
		err := unix.Mount(source, target, fstype, flags, data)
		if !errors.Is(err, unix.EINTR) {
			return err
		}
	}
}

// bindReadOnly bind-mounts src at target and makes the bind read-only.
func bindReadOnly(src, target string) error {
	if err := mountRetry(src, target, "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind-mounting %s at %s: %w", src, target, err)
	}
	if err := mountRetry("", target, "", unix.MS_REMOUNT|unix.MS_BIND|unix.MS_RDONLY, ""); err != nil {
		_ = unix.Unmount(target, unix.MNT_DETACH)
		return fmt.Errorf("making bind mount %s read-only: %w", target, err)
	}
	return nil
}

// MountOverlayDirs mounts a writable overlay of lowers (base first, at least
// one) with upper and work at target, like MountOverlay but without a
// Snapshotter: for a process (a sandbox init) that only has the paths.
func MountOverlayDirs(lowers []string, upper, work, target string) error {
	if len(lowers) == 0 || upper == "" || work == "" {
		return fmt.Errorf("mounting overlay at %s: need lowers, upper and work", target)
	}
	top := make([]string, 0, len(lowers))
	for i := len(lowers) - 1; i >= 0; i-- {
		top = append(top, lowers[i])
	}
	if err := mountOverlay(top, upper, work, target, false); err != nil {
		return fmt.Errorf("mounting overlay at %s: %w", target, err)
	}
	return nil
}
