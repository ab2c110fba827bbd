// Package cache computes build-step cache keys and stores what each key produced.
//
// A key is a pure function of the parent step's key and everything the step depends on, encoded
// canonically: a version string, then named fields, each name and value length-prefixed, so no two
// different inputs can encode to the same bytes (the ambiguity of fmt.Fprintln-into-sha256 keys).
package cache

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"hash"
	"sort"
	"strconv"
)

// Version is mixed into every key; bump it whenever the meaning of a step or the encoding changes, so
// old cache entries stop matching instead of producing wrong images.
const Version = "hoist-cache-v1"

// Key identifies the result of a build step: "sha256:<hex>".
type Key string

// KeyBuilder accumulates the inputs of one key, and remembers them as named components so that a cache
// miss can be explained. The zero value is not usable; use NewKey.
type KeyBuilder struct {
	h      hash.Hash
	parent Key
	kind   string
	comps  []Component
	files  map[string]string
}

// Component is one named input of a key, as given to the builder.
type Component struct {
	Name   string   `json:"name"`
	Values []string `json:"values"`
}

// NewKey starts the key of a step of the given kind (for example "RUN") on top of parent ("" for a base).
func NewKey(parent Key, kind string) *KeyBuilder {
	b := &KeyBuilder{h: sha256.New(), parent: parent, kind: kind}
	b.write(Version)
	b.write(string(parent))
	b.write(kind)
	return b
}

// Parent is the parent key the builder started from.
func (b *KeyBuilder) Parent() Key { return b.parent }

// Kind is the step kind the builder started with.
func (b *KeyBuilder) Kind() string { return b.kind }

// Components returns the inputs added so far, in order.
func (b *KeyBuilder) Components() []Component { return b.comps }

// Files attaches, for explanations only, the per-file digests behind a content component (path →
// digest or type). It does not change the key: the content digest added with String does.
func (b *KeyBuilder) Files(files map[string]string) *KeyBuilder {
	b.files = files
	return b
}

// FileDetail returns what Files attached.
func (b *KeyBuilder) FileDetail() map[string]string { return b.files }

func (b *KeyBuilder) write(s string) {
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(s)))
	b.h.Write(n[:])
	b.h.Write([]byte(s))
}

// String adds a named string field.
func (b *KeyBuilder) String(name, v string) *KeyBuilder {
	b.write(name)
	b.write(v)
	b.comps = append(b.comps, Component{Name: name, Values: []string{v}})
	return b
}

// Strings adds a named list; the count is part of the encoding, so ["a b"] and ["a", "b"] differ.
func (b *KeyBuilder) Strings(name string, vs []string) *KeyBuilder {
	b.write(name)
	b.write(strconv.Itoa(len(vs)))
	for _, v := range vs {
		b.write(v)
	}
	b.comps = append(b.comps, Component{Name: name, Values: append([]string(nil), vs...)})
	return b
}

// Bool adds a named boolean.
func (b *KeyBuilder) Bool(name string, v bool) *KeyBuilder {
	return b.String(name, strconv.FormatBool(v))
}

// Map adds a named map in sorted key order.
func (b *KeyBuilder) Map(name string, m map[string]string) *KeyBuilder {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	b.write(name)
	b.write(strconv.Itoa(len(keys)))
	vals := make([]string, 0, len(keys))
	for _, k := range keys {
		b.write(k)
		b.write(m[k])
		vals = append(vals, k+"="+m[k])
	}
	b.comps = append(b.comps, Component{Name: name, Values: vals})
	return b
}

// Sum returns the key. The builder must not be used afterwards.
func (b *KeyBuilder) Sum() Key {
	return Key("sha256:" + hex.EncodeToString(b.h.Sum(nil)))
}

// Hex is the key without its algorithm prefix.
func (k Key) Hex() string {
	if len(k) > 7 && k[:7] == "sha256:" {
		return string(k[7:])
	}
	return string(k)
}
