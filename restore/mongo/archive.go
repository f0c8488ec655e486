package mongo

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/crc64"
	"io"
	"sort"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// ArchiveMagic opens every mongodump --archive stream (little-endian on disk).
const ArchiveMagic uint32 = 0x8199e26d

var crcTable = crc64.MakeTable(crc64.ECMA)

// ArchiveHeader is the archive's first document.
type ArchiveHeader struct {
	ConcurrentCollections int32  `bson:"concurrent_collections"`
	FormatVersion         string `bson:"version"`
	ServerVersion         string `bson:"server_version"`
	ToolVersion           string `bson:"tool_version"`
}

// ArchiveCollection is one collection announced in the archive's prelude.
type ArchiveCollection struct {
	Database   string
	Collection string
	Metadata   string // canonical extended JSON, as in a .metadata.json file
	Parsed     *Metadata
	Size       int64  // uncompressed bytes of the collection's documents
	Type       string // "collection", "view", "timeseries", or empty in old archives
	Offset     int64  // where its prelude document starts, for messages
}

// Namespace is "db.collection".
func (c ArchiveCollection) Namespace() string { return c.Database + "." + c.Collection }

// ArchiveItem is one step through an archive's body: a document of a
// namespace, or the end of a namespace (EOF, its CRC verified).
type ArchiveItem struct {
	Database   string
	Collection string
	Doc        bson.Raw // nil on EOF
	EOF        bool
	Offset     int64 // offset of the document or the EOF header
}

type nsKey struct{ db, coll string }

type nsState struct {
	crc  hash.Hash64
	docs int64
	done bool
}

// ArchiveReader streams a mongodump --archive (already decompressed). Each
// namespace's CRC-64/ECMA is checked at its EOF header; a mismatch, a
// namespace left unfinished at the end, or data after a namespace's EOF is a
// *FormatError.
type ArchiveReader struct {
	br          *BSONReader
	name        string
	header      ArchiveHeader
	collections []ArchiveCollection
	ns          map[nsKey]*nsState
	cur         *nsKey // namespace of the open segment, nil between segments
	curState    *nsState
	ended       bool
}

// NewArchiveReader reads the magic number, the header and the prelude of an
// archive; name is the file named in errors.
func NewArchiveReader(r io.Reader, name string) (*ArchiveReader, error) {
	var magic [4]byte
	if n, err := io.ReadFull(r, magic[:]); err != nil {
		return nil, &FormatError{File: name, Offset: 0, Msg: fmt.Sprintf("not a mongodump archive: %d bytes, no magic number", n), Err: ignoreEOF(err)}
	}
	if got := binary.LittleEndian.Uint32(magic[:]); got != ArchiveMagic {
		return nil, &FormatError{File: name, Offset: 0, Msg: fmt.Sprintf("not a mongodump archive: magic number %#08x, want %#08x", got, ArchiveMagic)}
	}
	br := &BSONReader{r: r, name: name, off: 4, allowTerminator: true}
	a := &ArchiveReader{br: br, name: name, ns: map[nsKey]*nsState{}}
	start := br.off
	doc, err := a.readDoc("archive header")
	if err != nil {
		return nil, err
	}
	if err := bson.Unmarshal(doc, &a.header); err != nil {
		return nil, &FormatError{File: name, Offset: start, Msg: "decode archive header", Err: err}
	}
	for {
		start := br.off
		doc, err := br.readDoc()
		if errors.Is(err, errTerminator) {
			break
		}
		if err == io.EOF {
			return nil, &FormatError{File: name, Offset: start, Msg: "archive ends inside its prelude"}
		}
		if err != nil {
			return nil, err
		}
		c, err := decodeCollectionMetadata(doc)
		if err != nil {
			return nil, &FormatError{File: name, Offset: start, Msg: "decode collection metadata in the prelude", Err: err}
		}
		c.Offset = start
		if c.Parsed, err = ParseMetadata([]byte(c.Metadata), name); err != nil {
			var fe *FormatError
			if errors.As(err, &fe) {
				fe.Offset = start
				fe.Msg = "prelude entry for " + c.Namespace() + ": " + fe.Msg
			}
			return nil, err
		}
		a.collections = append(a.collections, c)
	}
	return a, nil
}

func ignoreEOF(err error) error {
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return nil
	}
	return err
}

func decodeCollectionMetadata(doc bson.Raw) (ArchiveCollection, error) {
	var c ArchiveCollection
	for _, field := range []struct {
		key string
		dst *string
	}{{"db", &c.Database}, {"collection", &c.Collection}, {"metadata", &c.Metadata}, {"type", &c.Type}} {
		v := doc.Lookup(field.key)
		if v.Type == 0 {
			if field.key == "db" || field.key == "collection" {
				return c, fmt.Errorf("no %q field", field.key)
			}
			continue
		}
		s, ok := v.StringValueOK()
		if !ok {
			return c, fmt.Errorf("field %q is %s, want string", field.key, v.Type)
		}
		*field.dst = s
	}
	if v := doc.Lookup("size"); v.Type != 0 {
		n, ok := v.AsInt64OK()
		if !ok {
			return c, fmt.Errorf("field \"size\" is %s, want a number", v.Type)
		}
		c.Size = n
	}
	return c, nil
}

// readDoc reads one document where a terminator is not allowed.
func (a *ArchiveReader) readDoc(what string) (bson.Raw, error) {
	start := a.br.off
	doc, err := a.br.readDoc()
	switch {
	case errors.Is(err, errTerminator):
		return nil, &FormatError{File: a.name, Offset: start, Msg: "terminator where the " + what + " was expected"}
	case err == io.EOF:
		return nil, &FormatError{File: a.name, Offset: start, Msg: "archive ends where the " + what + " was expected"}
	}
	return doc, err
}

// Header is the archive's header document.
func (a *ArchiveReader) Header() ArchiveHeader { return a.header }

// Collections lists the prelude's collections in archive order.
func (a *ArchiveReader) Collections() []ArchiveCollection { return a.collections }

// Databases lists the databases named in the prelude, sorted.
func (a *ArchiveReader) Databases() []string {
	seen := map[string]bool{}
	var out []string
	for _, c := range a.collections {
		if !seen[c.Database] {
			seen[c.Database] = true
			out = append(out, c.Database)
		}
	}
	sort.Strings(out)
	return out
}

// Next returns the next document or namespace end, io.EOF at the end of a
// complete archive, or a *FormatError.
func (a *ArchiveReader) Next() (ArchiveItem, error) {
	if a.ended {
		return ArchiveItem{}, io.EOF
	}
	for {
		start := a.br.off
		if a.cur != nil {
			doc, err := a.br.readDoc()
			if errors.Is(err, errTerminator) {
				a.cur, a.curState = nil, nil
				continue
			}
			if err == io.EOF {
				return ArchiveItem{}, &FormatError{File: a.name, Offset: start, Msg: fmt.Sprintf("archive ends inside a segment of %s", a.cur.db+"."+a.cur.coll)}
			}
			if err != nil {
				return ArchiveItem{}, err
			}
			a.curState.crc.Write(doc)
			a.curState.docs++
			return ArchiveItem{Database: a.cur.db, Collection: a.cur.coll, Doc: doc, Offset: start}, nil
		}
		doc, err := a.br.readDoc()
		if errors.Is(err, errTerminator) {
			return ArchiveItem{}, &FormatError{File: a.name, Offset: start, Msg: "terminator where a namespace header was expected"}
		}
		if err == io.EOF {
			a.ended = true
			if err := a.checkComplete(start); err != nil {
				return ArchiveItem{}, err
			}
			return ArchiveItem{}, io.EOF
		}
		if err != nil {
			return ArchiveItem{}, err
		}
		var h struct {
			Database   string `bson:"db"`
			Collection string `bson:"collection"`
			EOF        bool   `bson:"EOF"`
			CRC        int64  `bson:"CRC"`
		}
		if err := bson.Unmarshal(doc, &h); err != nil {
			return ArchiveItem{}, &FormatError{File: a.name, Offset: start, Msg: "decode namespace header", Err: err}
		}
		key := nsKey{h.Database, h.Collection}
		st := a.ns[key]
		if st == nil {
			st = &nsState{crc: crc64.New(crcTable)}
			a.ns[key] = st
		}
		if st.done {
			return ArchiveItem{}, &FormatError{File: a.name, Offset: start, Msg: fmt.Sprintf("namespace %s continues after its EOF header", h.Database+"."+h.Collection)}
		}
		if !h.EOF {
			a.cur, a.curState = &key, st
			continue
		}
		// An EOF header is followed by a terminator alone.
		termAt := a.br.off
		if _, err := a.br.readDoc(); !errors.Is(err, errTerminator) {
			return ArchiveItem{}, &FormatError{File: a.name, Offset: termAt, Msg: fmt.Sprintf("no terminator after the EOF header of %s", h.Database+"."+h.Collection)}
		}
		if got := st.crc.Sum64(); got != uint64(h.CRC) {
			return ArchiveItem{}, &FormatError{File: a.name, Offset: start, Msg: fmt.Sprintf("CRC-64 mismatch for %s: the EOF header says %#016x, its %d documents sum to %#016x",
				h.Database+"."+h.Collection, uint64(h.CRC), st.docs, got)}
		}
		st.done = true
		return ArchiveItem{Database: h.Database, Collection: h.Collection, EOF: true, Offset: start}, nil
	}
}

// checkComplete refuses an archive cut at a block boundary: every namespace
// that has begun, and every collection of the prelude, must have ended.
func (a *ArchiveReader) checkComplete(end int64) error {
	for _, c := range a.collections {
		if c.Type != "" && c.Type != "collection" {
			continue // views have no data; a time series' data is its system.buckets namespace
		}
		st := a.ns[nsKey{c.Database, c.Collection}]
		if st == nil || !st.done {
			return &FormatError{File: a.name, Offset: end, Msg: fmt.Sprintf("archive ends before the EOF header of %s", c.Namespace())}
		}
	}
	for k, st := range a.ns {
		if !st.done {
			return &FormatError{File: a.name, Offset: end, Msg: fmt.Sprintf("archive ends before the EOF header of %s", k.db+"."+k.coll)}
		}
	}
	return nil
}
