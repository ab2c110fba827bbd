package builder

import (
	"encoding/json"
	"fmt"

	"github.com/hoistbuild/hoist/internal/atomicfile"
)

// WriteMetadata writes a build's Result.Metadata to path as buildx writes --metadata-file: indented
// JSON, replaced atomically (a reader sees the old file or the whole new one).
func WriteMetadata(path string, md map[string]any) error {
	if md == nil {
		md = map[string]any{}
	}
	data, err := json.MarshalIndent(md, "", "  ")
	if err != nil {
		return fmt.Errorf("--metadata-file: %w", err)
	}
	if err := atomicfile.WriteFile(path, data, 0o644); err != nil {
		return fmt.Errorf("--metadata-file: %w", err)
	}
	return nil
}
