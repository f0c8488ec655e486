package mongo

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// Limits of one BSON document, as mongod enforces them.
const (
	MinBSONSize = 5                // an empty document: int32 length and a NUL
	MaxBSONSize = 16 * 1024 * 1024 // 16 MiB
)

// directAlloc is the largest document allocated in one piece before its
// bytes have arrived; longer ones grow as they are read, so a hostile length
// followed by a short stream costs no more memory than the stream itself.
const directAlloc = 1 << 20

// errTerminator is the archive block terminator (0xffffffff) found where a
// document length was expected.
var errTerminator = errors.New("archive terminator")

// BSONReader streams length-prefixed BSON documents, as in a mongodump .bson
// file. Each returned document is a fresh slice the caller may keep.
type BSONReader struct {
	r    io.Reader
	name string
	off  int64
	// allowTerminator makes readDoc return errTerminator on 0xffffffff,
	// for the archive reader.
	allowTerminator bool
}

// NewBSONReader reads documents from r; name is the file named in errors.
func NewBSONReader(r io.Reader, name string) *BSONReader {
	return &BSONReader{r: r, name: name}
}

// Offset is the number of bytes consumed so far: the offset of the next
// document.
func (b *BSONReader) Offset() int64 { return b.off }

// Next returns the next document, io.EOF at a clean end of the stream, or a
// *FormatError naming the file and the offset of the document at fault.
func (b *BSONReader) Next() (bson.Raw, error) {
	doc, err := b.readDoc()
	if errors.Is(err, errTerminator) {
		return nil, &FormatError{File: b.name, Offset: b.off - 4, Msg: "document length -1 outside 5..16777216 bytes"}
	}
	return doc, err
}

func (b *BSONReader) readDoc() (bson.Raw, error) {
	start := b.off
	var lenBuf [4]byte
	n, err := io.ReadFull(b.r, lenBuf[:])
	b.off += int64(n)
	switch {
	case err == io.EOF:
		return nil, io.EOF
	case errors.Is(err, io.ErrUnexpectedEOF):
		return nil, &FormatError{File: b.name, Offset: start, Msg: fmt.Sprintf("truncated document: %d of 4 length bytes", n)}
	case err != nil:
		return nil, &FormatError{File: b.name, Offset: start, Msg: "read document length", Err: err}
	}
	length := int32(binary.LittleEndian.Uint32(lenBuf[:]))
	if b.allowTerminator && length == -1 {
		return nil, errTerminator
	}
	if length < MinBSONSize || length > MaxBSONSize {
		return nil, &FormatError{File: b.name, Offset: start, Msg: fmt.Sprintf("document length %d outside %d..%d bytes", length, MinBSONSize, MaxBSONSize)}
	}
	size := int(length)
	doc := make([]byte, 4, min(size, directAlloc))
	copy(doc, lenBuf[:])
	for len(doc) < size {
		if len(doc) == cap(doc) {
			doc = slices.Grow(doc, min(size-len(doc), directAlloc))
		}
		chunk := min(size, cap(doc)) - len(doc)
		m, err := io.ReadFull(b.r, doc[len(doc):len(doc)+chunk])
		doc = doc[:len(doc)+m]
		b.off += int64(m)
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, &FormatError{File: b.name, Offset: start, Msg: fmt.Sprintf("truncated document: %d of %d bytes", len(doc), size)}
		}
		if err != nil {
			return nil, &FormatError{File: b.name, Offset: start, Msg: "read document", Err: err}
		}
	}
	if err := bson.Raw(doc).Validate(); err != nil {
		return nil, &FormatError{File: b.name, Offset: start, Msg: "invalid BSON document", Err: err}
	}
	return bson.Raw(doc), nil
}
