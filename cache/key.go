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

// KeyBuilder accumulates the inputs of one key. The zero value is not usable; use NewKey.
type KeyBuilder struct {
	h hash.Hash
}

// NewKey starts the key of a step of the given kind (for example "RUN") on top of parent ("" for a base).
func NewKey(parent Key, kind string) *KeyBuilder {
	b := &KeyBuilder{h: sha256.New()}
	b.write(Version)
	b.write(string(parent))
	b.write(kind)
	return b
}

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
	return b
}

// Strings adds a named list; the count is part of the encoding, so ["a b"] and ["a", "b"] differ.
func (b *KeyBuilder) Strings(name string, vs []string) *KeyBuilder {
	b.write(name)
	b.write(strconv.Itoa(len(vs)))
	for _, v := range vs {
		b.write(v)
	}
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
	for _, k := range keys {
		b.write(k)
		b.write(m[k])
	}
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
