package cache

import (
	"maps"
	"strings"
	"testing"
)

// The stat cache's file survives a round trip, and a damaged line is skipped (a miss), never
// misread: too few or too many fields, a field that is not a number, no trailing newline.
func TestEntriesRoundTripAndDamage(t *testing.T) {
	m := map[string]fileEntry{
		"a/b c.txt": {Size: 12, Mtime: 1700000000123456789, Ctime: 1700000000223456789, Ino: 42, Mode: 0o100644, Hashed: 1700000001000000000, Digest: "sha256:" + strings.Repeat("ab", 32)},
		"empty":     {Digest: "sha256:" + strings.Repeat("00", 32)},
	}
	if got := decodeEntries(encodeEntries(m)); !maps.Equal(got, m) {
		t.Fatalf("round trip:\n%v\nwant\n%v", got, m)
	}
	good := "ok\t1\t2\t3\t4\t5\t6\tsha256:x"
	data := strings.Join([]string{
		"short\t1\t2\t3\t4\t5\tsha256:x",          // 7 fields
		"long\t1\t2\t3\t4\t5\t6\tsha256:x\textra", // 9 fields
		"nan\t1\tx\t3\t4\t5\t6\tsha256:x",         // not a number
		"",
		good, // last, without a newline
	}, "\n")
	got := decodeEntries([]byte(data))
	want := map[string]fileEntry{"ok": {Size: 1, Mtime: 2, Ctime: 3, Ino: 4, Mode: 5, Hashed: 6, Digest: "sha256:x"}}
	if !maps.Equal(got, want) {
		t.Fatalf("damaged lines: got %v, want %v", got, want)
	}
}
