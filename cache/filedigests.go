package cache

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hoistbuild/hoist/internal/atomicfile"
)

// FileDigests remembers the content digest of the files of one build context by their stat data
// (size, mtime, ctime, inode, mode), like git's index: a file whose stat data did not change is not read
// again. It is kept in one JSON file per context directory; Save writes it atomically. Safe for
// concurrent use within a process; two processes saving the same context's file simply race (last
// writer wins), which is harmless for a cache.
type FileDigests struct {
	path string

	mu      sync.Mutex
	entries map[string]fileEntry
	dirty   bool
	reads   atomic.Int64
}

type fileEntry struct {
	Size   int64  `json:"s"`
	Mtime  int64  `json:"m"`
	Ctime  int64  `json:"c"`
	Ino    uint64 `json:"i"`
	Mode   uint32 `json:"o"`
	Digest string `json:"d"`
	// Hashed is when the content was read (ns). The entry is trusted only if the file's ctime is
	// clearly older: a change made within the same timestamp tick as the read could otherwise leave
	// the stat data unchanged ("racily clean" in git's terms).
	Hashed int64 `json:"h"`
}

// racyWindow is comfortably more than one kernel timestamp tick (1-10 ms).
const racyWindow = int64(20 * time.Millisecond)

// OpenFileDigests loads the digests remembered for contextDir (an absolute, clean path) from dir.
func OpenFileDigests(dir, contextDir string) (*FileDigests, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	sum := sha256.Sum256([]byte(contextDir))
	fd := &FileDigests{path: filepath.Join(dir, hex.EncodeToString(sum[:])+".json"), entries: map[string]fileEntry{}}
	if data, err := os.ReadFile(fd.path); err == nil {
		fd.entries = decodeEntries(data) // a damaged line is just a miss
	}
	return fd, nil
}

// NewFileDigests returns digests that are kept in memory only (Save does nothing): for a context that
// exists for one build (a remote context fetched into the build's scratch dir), whose stat data no
// later build can match.
func NewFileDigests() *FileDigests {
	return &FileDigests{entries: map[string]fileEntry{}}
}

// Digest returns the sha256 of the regular file at host (rel is its context-relative path, the cache
// key), reading the file only when its stat data differs from what was remembered.
func (f *FileDigests) Digest(rel, host string, fi fs.FileInfo) (string, error) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return HashFile(host)
	}
	e := fileEntry{Size: fi.Size(), Mtime: st.Mtim.Nano(), Ctime: st.Ctim.Nano(), Ino: st.Ino, Mode: st.Mode}
	f.mu.Lock()
	old, hit := f.entries[rel]
	f.mu.Unlock()
	if hit && old.Size == e.Size && old.Mtime == e.Mtime && old.Ctime == e.Ctime && old.Ino == e.Ino &&
		old.Mode == e.Mode && old.Ctime < old.Hashed-racyWindow {
		return old.Digest, nil
	}
	hashed := time.Now().UnixNano()
	d, err := HashFile(host)
	if err != nil {
		return "", err
	}
	f.reads.Add(1)
	e.Digest, e.Hashed = d, hashed
	f.mu.Lock()
	f.entries[rel] = e
	f.dirty = true
	f.mu.Unlock()
	return d, nil
}

// Reads is the number of files whose content was read (cache misses) since Open.
func (f *FileDigests) Reads() int64 { return f.reads.Load() }

// Save writes the remembered digests if they changed (temp file + rename).
func (f *FileDigests) Save() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.dirty || f.path == "" {
		return nil
	}
	data := encodeEntries(f.entries)
	if err := os.MkdirAll(filepath.Dir(f.path), 0o700); err != nil { // pruned since Open
		return fmt.Errorf("saving context digests: %w", err)
	}
	if err := atomicfile.WriteFile(f.path, data, 0o600); err != nil {
		return fmt.Errorf("saving context digests: %w", err)
	}
	f.dirty = false
	return nil
}

// The file is one line per path: path, size, mtime, ctime, inode, mode, hashed, digest, tab-separated
// (paths never contain tabs or newlines here: such names are skipped). It is read on every build, so
// it avoids JSON's cost on contexts of tens of thousands of files.
func encodeEntries(m map[string]fileEntry) []byte {
	var b []byte
	for p, e := range m {
		if strings.ContainsAny(p, "\t\n") {
			continue
		}
		b = append(b, p...)
		for _, n := range []int64{e.Size, e.Mtime, e.Ctime, int64(e.Ino), int64(e.Mode), e.Hashed} {
			b = append(b, '\t')
			b = strconv.AppendInt(b, n, 10)
		}
		b = append(b, '\t')
		b = append(b, e.Digest...)
		b = append(b, '\n')
	}
	return b
}

func decodeEntries(data []byte) map[string]fileEntry {
	m := make(map[string]fileEntry, bytes.Count(data, []byte{'\n'}))
	// One string for the whole file: each entry's path and digest are substrings of it, not an
	// allocation (and a split slice) per line; a context of 100k files is read on every build.
	rest := string(data)
	for rest != "" {
		line := rest
		if i := strings.IndexByte(rest, '\n'); i >= 0 {
			line, rest = rest[:i], rest[i+1:]
		} else {
			rest = ""
		}
		if e, path, ok := decodeEntry(line); ok {
			m[path] = e
		}
	}
	return m
}

// decodeEntry parses one line of encodeEntries; ok is false for a damaged line.
func decodeEntry(line string) (e fileEntry, path string, ok bool) {
	var f [8]string
	for i := range f {
		if i == len(f)-1 {
			if strings.IndexByte(line, '\t') >= 0 {
				return e, "", false
			}
			f[i] = line
			break
		}
		j := strings.IndexByte(line, '\t')
		if j < 0 {
			return e, "", false
		}
		f[i], line = line[:j], line[j+1:]
	}
	var n [6]int64
	for i := range n {
		v, err := strconv.ParseInt(f[i+1], 10, 64)
		if err != nil {
			return e, "", false
		}
		n[i] = v
	}
	return fileEntry{Size: n[0], Mtime: n[1], Ctime: n[2], Ino: uint64(n[3]), Mode: uint32(n[4]), Hashed: n[5], Digest: f[7]}, f[0], true
}

// hashBufs are the read buffers of HashFile: io.Copy would allocate 32 KiB per file (through
// os.File.WriteTo), which for a context of many small files is mostly garbage collection.
var hashBufs = sync.Pool{New: func() any { b := make([]byte, 64<<10); return &b }}

// HashFile is the hex sha256 of the content of the file at p. p is a resolved path (the caller lstat'ed
// it as a regular file, see internal/rootpath): a symlink in its last component is refused, not
// followed, so swapping the file for a link cannot make the digest read outside the context.
func HashFile(p string) (string, error) {
	fh, err := os.OpenFile(p, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return "", err
	}
	defer fh.Close()
	buf := hashBufs.Get().(*[]byte)
	defer hashBufs.Put(buf)
	h := sha256.New()
	// The struct hides fh's WriteTo, which would ignore buf.
	if _, err := io.CopyBuffer(h, struct{ io.Reader }{fh}, *buf); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
