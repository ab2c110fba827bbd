// Command validate runs go-containerregistry's validate.Image (every digest, diffID and size
// re-derived from the bytes) on images in a hoist root.
// Usage: go run ./hack/validate --root DIR IMAGE...
package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/hoistbuild/hoist/push"
	"github.com/hoistbuild/hoist/store"
)

func main() {
	root := flag.String("root", "/var/lib/hoist", "hoist root")
	flag.Parse()
	// Remote-backed layers are fetched (default registry settings) so that they are validated too.
	st, err := store.Open(*root, store.WithFetcher(push.BlobFetcher(context.Background(), push.Options{})))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	failed := false
	for _, ref := range flag.Args() {
		h, err := st.Resolve(context.Background(), ref)
		if err == nil {
			img, ierr := st.Image(h)
			if err = ierr; err == nil {
				err = validate.Image(img)
			}
		}
		if err != nil {
			fmt.Printf("%s: INVALID: %v\n", ref, err)
			failed = true
			continue
		}
		fmt.Printf("%s: valid (%s)\n", ref, h)
	}
	if failed {
		os.Exit(1)
	}
}
