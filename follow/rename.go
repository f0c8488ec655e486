package follow

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"strings"

	"github.com/termshift/termshift"
)

// Binary log event layout (MariaDB/MySQL v4): a 19-byte header with the
// type at 4 and the event's size at 9; a Table_map event's body starts
// after its 8-byte post-header with the schema's length and name. Events
// end with a CRC32 of the rest when the server checksums them.
const (
	eventHeaderLen   = 19
	eventTypeAt      = 4
	eventSizeAt      = 9
	tableMapEvent    = 19
	tableMapPostHead = 8
)

// renameRows rewrites the schema names of the Table_map events inside a
// BINLOG '...' statement (names: old -> new) and returns it with the count
// of its row events. mariadb-binlog's own --rewrite-db is not used: after
// it, an event of the next release's schema (its own writes, on a shared
// server) and a renamed one of the live release look the same; here the
// printed Table_map comments keep the original names, so the parser tells
// them apart.
func renameRows(st string, names map[string]string) (string, int, error) {
	body, ok := strings.CutPrefix(st, "BINLOG '")
	if !ok {
		return "", 0, fmt.Errorf("not a BINLOG statement: %w", termshift.ErrInvalid)
	}
	body, ok = strings.CutSuffix(strings.TrimSpace(body), "'")
	if !ok {
		return "", 0, fmt.Errorf("BINLOG statement without its closing quote: %w", termshift.ErrInvalid)
	}
	enc := strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' || r == ' ' || r == '\t' {
			return -1
		}
		return r
	}, body)
	var out strings.Builder
	out.WriteString("BINLOG '\n")
	rowsEvents := 0
	for enc != "" {
		// Each event is encoded on its own (padded) and they follow each
		// other: the header tells how long this one is.
		if len(enc) < 28 {
			return "", 0, fmt.Errorf("a truncated event in a BINLOG statement: %w", termshift.ErrInvalid)
		}
		head, err := base64.StdEncoding.DecodeString(enc[:28])
		if err != nil {
			return "", 0, fmt.Errorf("decode an event header: %w", err)
		}
		size := int(binary.LittleEndian.Uint32(head[eventSizeAt:]))
		n := 4 * ((size + 2) / 3)
		if size < eventHeaderLen || n > len(enc) {
			return "", 0, fmt.Errorf("an event of %d bytes in a BINLOG statement of %d characters: %w", size, len(enc), termshift.ErrInvalid)
		}
		ev, err := base64.StdEncoding.DecodeString(enc[:n])
		if err != nil {
			return "", 0, fmt.Errorf("decode an event: %w", err)
		}
		enc = enc[n:]
		switch t := ev[eventTypeAt]; {
		case t == tableMapEvent:
			if ev, err = renameTableMap(ev, names); err != nil {
				return "", 0, err
			}
		case t >= 23 && t <= 25, t >= 30 && t <= 32, t >= 166 && t <= 171:
			// WRITE/UPDATE/DELETE_ROWS v1, v2 and MariaDB's compressed ones.
			rowsEvents++
		}
		out.WriteString(base64.StdEncoding.EncodeToString(ev))
		out.WriteByte('\n')
	}
	out.WriteString("'")
	return out.String(), rowsEvents, nil
}

// renameTableMap renames the schema of one Table_map event, fixing its size
// and checksum.
func renameTableMap(ev []byte, names map[string]string) ([]byte, error) {
	at := eventHeaderLen + tableMapPostHead
	if len(ev) < at+2 {
		return nil, fmt.Errorf("a truncated Table_map event: %w", termshift.ErrInvalid)
	}
	l := int(ev[at])
	if len(ev) < at+1+l+1 {
		return nil, fmt.Errorf("a truncated Table_map event: %w", termshift.ErrInvalid)
	}
	old := string(ev[at+1 : at+1+l])
	to, ok := names[old]
	if !ok {
		return nil, fmt.Errorf("a Table_map event of schema %s, not followed: %w", termshift.Quote(old), termshift.ErrInvalid)
	}
	if len(to) > 64 {
		return nil, fmt.Errorf("schema name %s is longer than 64 bytes: %w", termshift.Quote(to), termshift.ErrInvalid)
	}
	checksum := len(ev) >= 4 && crc32.ChecksumIEEE(ev[:len(ev)-4]) == binary.LittleEndian.Uint32(ev[len(ev)-4:])
	end := len(ev)
	if checksum {
		end -= 4
	}
	out := make([]byte, 0, len(ev)+len(to)-l)
	out = append(out, ev[:at]...)
	out = append(out, byte(len(to)))
	out = append(out, to...)
	out = append(out, ev[at+1+l:end]...)
	size := len(out)
	if checksum {
		size += 4
	}
	binary.LittleEndian.PutUint32(out[eventSizeAt:], uint32(size))
	if checksum {
		out = binary.LittleEndian.AppendUint32(out, crc32.ChecksumIEEE(out))
	}
	return out, nil
}
