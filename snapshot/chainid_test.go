package snapshot

import (
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

func mustHash(t *testing.T, s string) v1.Hash {
	t.Helper()
	h, err := v1.NewHash(s)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// TestChainIDsGolden uses a real four-layer image: busybox plus three RUN
// layers built with the local dockerd, whose layer store
// (/var/lib/docker/image/overlay2/layerdb/sha256/<chainID>/{diff,parent})
// recorded these chain IDs for these diff IDs.
func TestChainIDsGolden(t *testing.T) {
	diffIDs := []string{
		"sha256:2cde6852ad4e2508bf782d814d486e5063a5d127aed13ff37b0183f93f843adb",
		"sha256:e0cf170f47ea8b9e2966b8b8baadf4f52eea91091bbf161b98094f0975b04150",
		"sha256:8ae5ec069e05aa863fe93915d32e8a742f48c4cab238b34fffc96cf7e242b341",
		"sha256:ace9ec534911e0c50b0e15e9c06edd2e655d5e48a403ae83fa09b875939ee491",
	}
	want := []string{
		"sha256:2cde6852ad4e2508bf782d814d486e5063a5d127aed13ff37b0183f93f843adb",
		"sha256:8ba879fd5af19da16309f7096514fd7ed8ea039964cac150fd992e6e2be01927",
		"sha256:4b7bf096cb028de3c276ae0b14a4dcc34dce18c433b19bc9ea103f298f2c0a38",
		"sha256:d2d871c90a74ddf416f2c1a0869ec03083616f3beac5e6231888755ee80c4b88",
	}
	tests := []struct {
		name string
		n    int
	}{
		{"empty", 0},
		{"base only", 1},
		{"two", 2},
		{"full image", 4},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := make([]v1.Hash, tc.n)
			for i := range in {
				in[i] = mustHash(t, diffIDs[i])
			}
			got := ChainIDs(in)
			if len(got) != tc.n {
				t.Fatalf("len = %d, want %d", len(got), tc.n)
			}
			for i := range got {
				if got[i].String() != want[i] {
					t.Errorf("chain[%d] = %s, want %s", i, got[i], want[i])
				}
			}
		})
	}
}
