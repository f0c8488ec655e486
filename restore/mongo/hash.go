package mongo

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"math/bits"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// MultisetHash is an order-independent hash of a multiset of documents: the
// sum modulo 2^256 of the SHA-256 of each document's canonical form. Adding
// the same documents in any order, or split across goroutines and merged,
// gives the same value; a document missing, added twice or changed in one
// bit changes it. The zero value is the hash of no documents.
type MultisetHash struct {
	limbs [4]uint64 // little-endian limbs of a 256-bit integer
}

// Add adds one document.
func (h *MultisetHash) Add(doc bson.Raw) {
	sum := sha256.Sum256(canonical(doc))
	var add [4]uint64
	for i := range add {
		add[i] = binary.BigEndian.Uint64(sum[(3-i)*8:])
	}
	h.addLimbs(add)
}

// Merge adds every document of another hash.
func (h *MultisetHash) Merge(o MultisetHash) { h.addLimbs(o.limbs) }

func (h *MultisetHash) addLimbs(add [4]uint64) {
	var carry uint64
	for i := range h.limbs {
		h.limbs[i], carry = bits.Add64(h.limbs[i], add[i], carry)
	}
}

// Hex renders the hash as 64 hex digits, most significant first.
func (h MultisetHash) Hex() string {
	var b [32]byte
	for i, l := range h.limbs {
		binary.BigEndian.PutUint64(b[(3-i)*8:], l)
	}
	return hex.EncodeToString(b[:])
}

// canonical is the form a document is hashed in: its bytes as stored, except
// that a top-level _id goes first, as mongod moves it there on insert. Field
// order and numeric types are otherwise significant in BSON and kept by a
// faithful server, so they stay part of the proof.
func canonical(doc bson.Raw) []byte {
	elems, err := doc.Elements()
	if err != nil || len(elems) == 0 || elems[0].Key() == "_id" {
		return doc
	}
	idAt := -1
	for i, e := range elems {
		if e.Key() == "_id" {
			idAt = i
			break
		}
	}
	if idAt < 0 {
		return doc
	}
	out := make([]byte, 4, len(doc))
	out = append(out, elems[idAt]...)
	for i, e := range elems {
		if i != idAt {
			out = append(out, e...)
		}
	}
	out = append(out, 0)
	binary.LittleEndian.PutUint32(out, uint32(len(out)))
	return out
}
