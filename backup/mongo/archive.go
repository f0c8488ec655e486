package mongo

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"hash/crc64"
	"io"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/termshift/termshift/backup"
)

// archiveMagic opens every mongodump --archive stream.
const archiveMagic uint32 = 0x8199e26d

var (
	crcTable   = crc64.MakeTable(crc64.ECMA)
	terminator = []byte{0xff, 0xff, 0xff, 0xff}
)

// writeArchive writes one database as a mongodump --archive stream: the
// magic number, a header, a prelude entry per collection (its metadata),
// then each collection's documents in one segment closed by its EOF header
// with the CRC-64 (ECMA) of the documents, as mongorestore checks it.
func (s *Snapshot) writeArchive(ctx context.Context, db *database, w io.Writer) error {
	bw := bufio.NewWriterSize(w, 256<<10)
	bw.Write(binary.LittleEndian.AppendUint32(nil, archiveMagic))
	if err := writeDoc(bw, bson.D{{Key: "concurrent_collections", Value: int32(1)}, {Key: "version", Value: "0.1"},
		{Key: "server_version", Value: s.server}, {Key: "tool_version", Value: "termshift " + backup.Version()}}); err != nil {
		return err
	}
	for _, c := range db.colls {
		typ := "collection"
		if c.view {
			typ = "view"
		}
		if err := writeDoc(bw, bson.D{{Key: "db", Value: db.name}, {Key: "collection", Value: c.name},
			{Key: "metadata", Value: string(c.metadata)}, {Key: "size", Value: c.size}, {Key: "type", Value: typ}}); err != nil {
			return err
		}
	}
	bw.Write(terminator)
	for _, c := range db.colls {
		if c.view {
			continue
		}
		crc := crc64.New(crcTable)
		started := false
		err := s.dumpCollection(ctx, c, func(doc bson.Raw) error {
			if !started {
				started = true
				if err := writeDoc(bw, bson.D{{Key: "db", Value: db.name}, {Key: "collection", Value: c.name}, {Key: "EOF", Value: false}, {Key: "CRC", Value: int64(0)}}); err != nil {
					return err
				}
			}
			crc.Write(doc)
			_, err := bw.Write(doc)
			return err
		})
		if err != nil {
			return err
		}
		if started {
			bw.Write(terminator)
		}
		if err := writeDoc(bw, bson.D{{Key: "db", Value: db.name}, {Key: "collection", Value: c.name}, {Key: "EOF", Value: true}, {Key: "CRC", Value: int64(crc.Sum64())}}); err != nil {
			return err
		}
		if _, err := bw.Write(terminator); err != nil {
			return err
		}
	}
	return bw.Flush()
}

func writeDoc(w io.Writer, d bson.D) error {
	b, err := bson.Marshal(d)
	if err != nil {
		return fmt.Errorf("encode archive document: %w", err)
	}
	_, err = w.Write(b)
	return err
}
