package snapshot

import (
	"crypto/sha256"
	"encoding/hex"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// ChainIDs returns the OCI chain ID of every prefix of a layer stack, base
// first: ChainID(L0) = DiffID(L0) and
// ChainID(Ln) = sha256(ChainID(Ln-1) + " " + DiffID(Ln)), both operands in
// "algorithm:hex" form (image-spec, config.md "Layer ChainID"). The result has
// the same length as diffIDs; nil or empty input gives an empty result. It is
// a pure function.
func ChainIDs(diffIDs []v1.Hash) []v1.Hash {
	out := make([]v1.Hash, len(diffIDs))
	for i, d := range diffIDs {
		if i == 0 {
			out[i] = d
			continue
		}
		sum := sha256.Sum256([]byte(out[i-1].String() + " " + d.String()))
		out[i] = v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(sum[:])}
	}
	return out
}
