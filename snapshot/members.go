package snapshot

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"math"
	"runtime"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/klauspost/compress/gzip"
)

// Member-per-entry gzip.
//
// A MemberCompressor writes a layer tar as a gzip stream of many members, which RFC 1952 allows and
// every gzip reader (Go's, containerd's, docker's) reads as one stream: one member per tar entry, or
// per MemberChunk bytes of a large entry, each compressed on its own. A member's bytes then depend
// only on its own uncompressed bytes and the level, so a later commit of a layer that shares most of
// its entries with an earlier one (a COPY that runs again because one file changed, a RUN that writes
// the same files) copies the earlier blob's members instead of compressing them again, and gets the
// same bytes a full compression would. Members are compressed in parallel; the output does not depend
// on the parallelism or on what was reused.

// MemberChunk is the most uncompressed bytes one member holds: a larger entry is cut at multiples of
// MemberChunk from its start (its header included). Changing it changes layer digests.
const MemberChunk = 4 << 20

// Member is one gzip member of a blob written by a MemberCompressor.
type Member struct {
	Entry  string `json:"e"`           // the tar entry it belongs to ("" for the end-of-archive blocks)
	Chunk  int    `json:"c,omitempty"` // which MemberChunk-sized part of the entry
	Sum    string `json:"s"`           // hex sha256 of its uncompressed bytes
	Offset int64  `json:"o"`           // where its compressed bytes start in the blob
	Size   int64  `json:"n"`           // how many there are
	ZSum   string `json:"z"`           // hex sha256 of the compressed bytes
}

// WriteMembers and ReadMembers store a blob's member index: a header line, the number of members,
// then each member (entry name, chunk, the two sums as raw bytes, offset, size). A layer of 10,000
// files has an index of 12,000 members, read and written on every commit that reuses one: in JSON
// that was ~2.4 MB and a tenth of a second of decoding. ReadMembers still reads the JSON index
// earlier versions wrote.
func WriteMembers(w io.Writer, ms []Member) error {
	b := append([]byte(membersMagic), make([]byte, 0, 96*len(ms))...)
	b = binary.AppendUvarint(b, uint64(len(ms)))
	for _, m := range ms {
		sum, err1 := hex.DecodeString(m.Sum)
		zsum, err2 := hex.DecodeString(m.ZSum)
		if err1 != nil || err2 != nil || len(sum) != sha256.Size || len(zsum) != sha256.Size || m.Chunk < 0 ||
			m.Offset < 0 || m.Size < 0 {
			return fmt.Errorf("writing member index: member %q/%d is not valid", m.Entry, m.Chunk)
		}
		b = binary.AppendUvarint(b, uint64(len(m.Entry)))
		b = append(b, m.Entry...)
		b = binary.AppendUvarint(b, uint64(m.Chunk))
		b = append(b, sum...)
		b = append(b, zsum...)
		b = binary.AppendUvarint(b, uint64(m.Offset))
		b = binary.AppendUvarint(b, uint64(m.Size))
	}
	_, err := w.Write(b)
	return err
}

const membersMagic = "hoist member index 2\n"

// ReadMembers reads what WriteMembers wrote.
func ReadMembers(r io.Reader) ([]Member, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("reading member index: %w", err)
	}
	rest, ok := bytes.CutPrefix(data, []byte(membersMagic))
	if !ok {
		var ms []Member
		if err := json.Unmarshal(data, &ms); err != nil {
			return nil, fmt.Errorf("reading member index: %w", err)
		}
		return ms, nil
	}
	bad := errors.New("reading member index: truncated or damaged")
	uvarint := func() (uint64, bool) {
		v, n := binary.Uvarint(rest)
		if n <= 0 {
			return 0, false
		}
		rest = rest[n:]
		return v, true
	}
	take := func(n uint64) ([]byte, bool) {
		if n > uint64(len(rest)) {
			return nil, false
		}
		b := rest[:n]
		rest = rest[n:]
		return b, true
	}
	count, ok := uvarint()
	// Every member takes at least 2*sha256.Size+4 bytes: a count the data cannot hold is damage.
	if !ok || count > uint64(len(rest))/(2*sha256.Size+4) {
		return nil, bad
	}
	ms := make([]Member, 0, count)
	for range count {
		var m Member
		n, ok1 := uvarint()
		entry, ok2 := take(n)
		chunk, ok3 := uvarint()
		sums, ok4 := take(2 * sha256.Size)
		off, ok5 := uvarint()
		size, ok6 := uvarint()
		if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) || chunk > math.MaxInt32 || off > math.MaxInt64 || size > math.MaxInt64 {
			return nil, bad
		}
		m.Entry, m.Chunk = string(entry), int(chunk)
		m.Sum, m.ZSum = hex.EncodeToString(sums[:sha256.Size]), hex.EncodeToString(sums[sha256.Size:])
		m.Offset, m.Size = int64(off), int64(size)
		ms = append(ms, m)
	}
	if len(rest) != 0 {
		return nil, bad
	}
	return ms, nil
}

// MemberSource is an earlier blob whose members a MemberCompressor may copy.
type MemberSource struct {
	blob io.ReaderAt
	byID map[memberID]Member
}

type memberID struct {
	entry string
	chunk int
}

// NewMemberSource offers the members of blob (described by its index) for reuse. A member is copied
// only when its uncompressed bytes hash like the new ones and its compressed bytes like the index says.
func NewMemberSource(blob io.ReaderAt, index []Member) *MemberSource {
	s := &MemberSource{blob: blob, byID: make(map[memberID]Member, len(index))}
	for _, m := range index {
		s.byID[memberID{m.Entry, m.Chunk}] = m
	}
	return s
}

// lookup returns the compressed bytes of the earlier member of entry/chunk whose uncompressed bytes
// have sum, if there is one and it reads back intact.
func (s *MemberSource) lookup(entry string, chunk int, sum string) ([]byte, string, bool) {
	if s == nil {
		return nil, "", false
	}
	m, ok := s.byID[memberID{entry, chunk}]
	if !ok || m.Sum != sum || m.Size <= 0 || m.Size > 2*MemberChunk {
		return nil, "", false
	}
	b := getBuf(int(m.Size))[:m.Size]
	if _, err := s.blob.ReadAt(b, m.Offset); err != nil {
		putBuf(b)
		return nil, "", false
	}
	z := sha256.Sum256(b)
	if hex.EncodeToString(z[:]) != m.ZSum {
		putBuf(b)
		return nil, "", false
	}
	return b, m.ZSum, true
}

// MemberCompressor is the io.Writer a layer tar is written to (through WriteDiff or WriteDiffCompare
// with the options from Options) to become a member-per-entry gzip blob on w.
type MemberCompressor struct {
	ctx   context.Context
	level int
	mt    types.MediaType
	prev  *MemberSource

	cur   []byte // uncompressed bytes of the member being filled
	entry string
	chunk int

	jobs  chan *memberJob // to the workers
	queue chan *memberJob // the same jobs, in order, to the writer
	wg    sync.WaitGroup
	done  chan struct{}

	// Owned by the writer goroutine until done is closed.
	w        io.Writer
	n        int64
	blobHash hash.Hash // nil when w hashes what it is given (BlobDigester)
	diffHash hash.Hash
	members  []Member
	reused   int
	err      error
}

type memberJob struct {
	entry  string
	chunk  int
	data   []byte
	out    []byte // compressed: new or copied
	sum    string
	zsum   string
	reused bool
	err    error
	ready  chan struct{}
}

// NewMemberCompressor starts compressing into w; prev (may be nil) offers an earlier blob's members.
// Only gzip is supported. Close must be called, also after a failure.
func NewMemberCompressor(ctx context.Context, w io.Writer, opts CompressOptions, prev *MemberSource) (*MemberCompressor, error) {
	if opts.Compression != CompressionGzip {
		return nil, fmt.Errorf("member-per-entry %s: %w", opts.Compression, ErrUnsupportedCompression)
	}
	mt, err := mediaTypeFor(opts)
	if err != nil {
		return nil, err
	}
	level := opts.Level
	if level == 0 {
		level = DefaultGzipLevel
	}
	if _, err := gzip.NewWriterLevel(io.Discard, level); err != nil {
		return nil, fmt.Errorf("creating gzip writer: %w", err)
	}
	conc := opts.Concurrency
	if conc <= 0 {
		conc = runtime.GOMAXPROCS(0)
	}
	m := &MemberCompressor{ctx: ctx, level: level, mt: mt, prev: prev,
		jobs: make(chan *memberJob, conc), queue: make(chan *memberJob, 2*conc), done: make(chan struct{}),
		w: w, diffHash: sha256.New()}
	if _, ok := w.(BlobDigester); !ok {
		m.blobHash = sha256.New()
	}
	for i := 0; i < conc; i++ {
		m.wg.Add(1)
		go m.work()
	}
	go m.write()
	return m, nil
}

// Options returns o set up to mark entry boundaries for m.
func (m *MemberCompressor) Options(o DiffOptions) DiffOptions {
	o.entryStart = m.entryStart
	return o
}

func (m *MemberCompressor) entryStart(name string) {
	m.cut()
	m.entry, m.chunk = name, 0
}

// Write takes the next bytes of the tar stream.
func (m *MemberCompressor) Write(p []byte) (int, error) {
	if err := m.ctx.Err(); err != nil {
		return 0, err
	}
	n := len(p)
	for len(p) > 0 {
		if len(m.cur) == MemberChunk {
			m.cut()
			m.chunk++
		}
		k := min(MemberChunk-len(m.cur), len(p))
		if m.cur == nil {
			m.cur = getBuf(k)
		}
		m.cur = append(m.cur, p[:k]...)
		p = p[k:]
	}
	return n, nil
}

// cut hands the filled member to the workers.
func (m *MemberCompressor) cut() {
	if len(m.cur) == 0 {
		return
	}
	j := &memberJob{entry: m.entry, chunk: m.chunk, data: m.cur, ready: make(chan struct{})}
	m.cur = nil
	m.queue <- j // every job ahead of j in the queue is with the workers already: no deadlock
	m.jobs <- j
}

func (m *MemberCompressor) work() {
	defer m.wg.Done()
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, m.level) // the level was checked in NewMemberCompressor
	for j := range m.jobs {
		s := sha256.Sum256(j.data)
		j.sum = hex.EncodeToString(s[:])
		if out, zsum, ok := m.prev.lookup(j.entry, j.chunk, j.sum); ok {
			j.out, j.zsum, j.reused = out, zsum, true
			close(j.ready)
			continue
		}
		buf.Reset()
		zw.Reset(&buf)
		_, err := zw.Write(j.data)
		if cerr := zw.Close(); err == nil {
			err = cerr
		}
		j.err = err
		j.out = append(getBuf(buf.Len()), buf.Bytes()...)
		z := sha256.Sum256(j.out)
		j.zsum = hex.EncodeToString(z[:])
		close(j.ready)
	}
}

// write appends the members to the blob in order and hashes both streams.
func (m *MemberCompressor) write() {
	defer close(m.done)
	for j := range m.queue {
		<-j.ready
		if m.err != nil {
			continue
		}
		if j.err != nil {
			m.err = fmt.Errorf("compressing %s: %w", j.entry, j.err)
			continue
		}
		m.diffHash.Write(j.data)
		if m.blobHash != nil {
			m.blobHash.Write(j.out)
		}
		if _, err := m.w.Write(j.out); err != nil {
			m.err = err
			continue
		}
		m.members = append(m.members, Member{Entry: j.entry, Chunk: j.chunk, Sum: j.sum,
			Offset: m.n, Size: int64(len(j.out)), ZSum: j.zsum})
		m.n += int64(len(j.out))
		if j.reused {
			m.reused++
		}
		// Nothing holds the job's bytes any more (w must not keep p, as io.Writer says).
		putBuf(j.data)
		putBuf(j.out)
		j.data, j.out = nil, nil
	}
}

// The buffers members are cut into, compressed into and copied into are recycled: a layer of many
// small files otherwise allocates (and the collector scans and the kernel zeroes) its size twice over.
// A buffer is at most maxPooled long, so the pool holds no more than what is in flight would anyway.
var bufPool sync.Pool

const maxPooled = 2*MemberChunk + 64<<10

// getBuf returns an empty buffer, with room for n bytes when n is at most maxPooled.
func getBuf(n int) []byte {
	if p, ok := bufPool.Get().(*[]byte); ok && cap(*p) >= n {
		return (*p)[:0]
	}
	return make([]byte, 0, min(max(n, 32<<10), maxPooled))
}

// putBuf gives b back for reuse; its bytes must not be used after.
func putBuf(b []byte) {
	if cap(b) == 0 || cap(b) > maxPooled {
		return
	}
	b = b[:0]
	bufPool.Put(&b)
}

// Close compresses what is left, waits for everything to be written and describes the blob.
func (m *MemberCompressor) Close() (Committed, error) {
	m.cut()
	close(m.queue)
	close(m.jobs)
	m.wg.Wait()
	<-m.done
	if m.err != nil {
		return Committed{}, fmt.Errorf("writing layer blob: %w", m.err)
	}
	if err := m.ctx.Err(); err != nil {
		return Committed{}, err
	}
	digest := func() v1.Hash { return m.w.(BlobDigester).Digest() }
	if m.blobHash != nil {
		digest = func() v1.Hash { return sumHash(m.blobHash) }
	}
	return Committed{Digest: digest(), DiffID: sumHash(m.diffHash), Size: m.n, MediaType: m.mt}, nil
}

// BlobDigester is a writer that hashes everything written to it (store.BlobWriter does, to check
// what it stores). A MemberCompressor writing to one takes the blob's digest from it instead of
// hashing the same bytes a second time: the writer goroutine is its only writer, so its sum is the
// sum of exactly the blob.
type BlobDigester interface {
	io.Writer
	// Digest is the sha256 of everything written so far.
	Digest() v1.Hash
}

// Members is the blob's member index (after Close).
func (m *MemberCompressor) Members() []Member { return m.members }

// Reused is how many members were copied from the earlier blob (after Close).
func (m *MemberCompressor) Reused() int { return m.reused }
