package snapshot

import "errors"

// Sentinel errors, for use with errors.Is. Returned errors wrap them with
// context.
var (
	// ErrDiffIDMismatch means a layer's uncompressed stream did not hash to
	// the DiffID the layer claims (a corrupt or truncated blob).
	ErrDiffIDMismatch = errors.New("layer content does not match its diffid")

	// ErrInvalidChainID means a chain ID is not a well-formed sha256 digest.
	ErrInvalidChainID = errors.New("invalid chain id")

	// ErrHostileEntry means a tar entry was refused because applying it could
	// affect paths outside the extraction root.
	ErrHostileEntry = errors.New("refusing hostile tar entry")

	// ErrUnsupportedOverlay means an overlay upper dir uses a feature this
	// package does not translate (redirect_dir or metacopy xattrs); hoist
	// mounts with both turned off, so this indicates a foreign upper dir.
	ErrUnsupportedOverlay = errors.New("unsupported overlayfs feature in upper dir")

	// ErrMountOptionsTooLong means the legacy mount(2) option string would
	// not fit in a page even with short symlinks.
	ErrMountOptionsTooLong = errors.New("overlay mount options exceed the page size")

	// ErrUnsupportedCompression means the requested compression cannot be
	// expressed with the requested media type family.
	ErrUnsupportedCompression = errors.New("unsupported compression")
)
