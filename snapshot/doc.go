// Package snapshot owns the on-disk root filesystems of hoist: image layers
// unpacked once into overlayfs "lowerdir" format, overlay mounts over a chain
// of them, and the reverse direction (an overlay upper dir, or a plain
// directory compared with its lowers, turned back into an OCI layer tar and
// compressed into a blob).
//
// # On-disk layout
//
// A Snapshotter owns one directory, conventionally <hoistroot>/snapshots, and
// nothing outside it:
//
//	<root>/<chainIDhex>/fs       the layer's files in overlayfs lower format:
//	                             whiteouts are 0/0 character devices, opaque
//	                             directories carry trusted.overlay.opaque=y
//	<root>/<chainIDhex>/diffid   "sha256:<hex>" of the uncompressed layer
//	<root>/<chainIDhex>/parent   parent chain ID ("" for a base layer)
//	<root>/empty/                an always-empty directory (FROM scratch,
//	                             read-only views of fewer than two lowers)
//	<root>/tmp/<name>            work in progress (unpacks, removals, probes)
//	<root>/tmp/<name>.lock       flock(2)-held by the owner of <name>
//
// A snapshot directory appears with a single rename(2) of a fully written
// temp directory, so a <chainIDhex> directory either is complete or does not
// exist. Removal renames it into tmp/ first, so a half-deleted snapshot is
// never visible either.
//
// # Temp directories and crashed processes
//
// Every temp entry tmp/<name> has a lock file tmp/<name>.lock that its owner
// holds with flock(LOCK_EX) for as long as tmp/<name> exists. The owner
// creates and locks the lock file, then checks that the path still names the
// inode it locked (a cleaner may have removed it in between; then it retries
// with a new name), and only then creates tmp/<name>. It renames or removes
// tmp/<name> before unlinking and unlocking the lock file. New cleans stale
// entries: a lock file it can lock without blocking, and that still names the
// locked inode, belongs to a dead owner, so the entry and its lock are
// removed; an entry without a lock file is removed too. flock locks vanish
// when a process dies, including after SIGKILL, and are not affected by PID
// namespaces or PID reuse, unlike pid-named directories.
//
// # Mounting many layers
//
// Overlay mounts pass lowers with the new mount API (fsconfig "lowerdir+",
// one call per layer, Linux >= 6.8), which has no length limit. On older
// kernels mount(2) is used; its option string must stay under the page
// size. Docker shortens it with symlinks and relative paths after chdir,
// which a multithreaded Go program cannot do safely; here, when absolute
// paths do not fit, every lower is opened with O_PATH and passed as
// /proc/self/fd/<n> (about 18 bytes per layer, so ~200 layers fit).
//
// # Hostile layers
//
// Layer tars are extracted by umoci's TarExtractor (the code behind
// umoci's layer.UnpackLayer), which resolves every entry's parent with
// filepath-securejoin, so "../" entries, absolute paths, writes through
// symlinks and hardlinks to outside paths all stay inside the target. In
// front of it this package rejects whiteout entries that name "", "." or
// ".." (".wh..", ".wh..." and ".wh."): umoci v0.6.0 joins the whiteout target
// onto the parent directory without a check and would otherwise remove the
// parent of the extraction root.
package snapshot
