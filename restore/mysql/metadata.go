package mysql

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/termshift/termshift"
	"github.com/termshift/termshift/restore"
)

// mydumperMetadata is what a mydumper metadata file says. mydumper 0.9 and
// 0.10 write plain lines:
//
//	Started dump at: 2026-11-20 02:00:00
//	SHOW MASTER STATUS: ...
//	Finished dump at: 2026-11-20 02:00:01
//
// mydumper 0.11 and later an ini-like file whose comments carry the times,
// with a section per table holding its rows:
//
//	# Started dump at: 2026-11-20 02:00:00
//	[config]
//	quote-character = BACKTICK
//	[`edxapp`.`auth_user`]
//	real_table_name=auth_user
//	rows = 8512
//	# Finished dump at: 2026-11-20 02:00:01
type mydumperMetadata struct {
	finished string                      // the finish line, trimmed; "" when absent
	rows     map[string]map[string]int64 // schema -> table -> rows
}

func parseMydumperMetadata(data []byte) mydumperMetadata {
	md := mydumperMetadata{rows: map[string]map[string]int64{}}
	var schema, table string
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		text := strings.TrimSpace(strings.TrimLeft(line, "#"))
		switch {
		case strings.HasPrefix(text, "Finished dump at:"):
			md.finished = text
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			schema, table = "", ""
			if s, t, ok := sectionTable(line[1 : len(line)-1]); ok {
				schema, table = s, t
			}
		case table != "" && !strings.HasPrefix(line, "#"):
			key, value, ok := strings.Cut(line, "=")
			if !ok || strings.TrimSpace(key) != "rows" {
				continue
			}
			n, err := strconv.ParseInt(strings.TrimSpace(value), 10, 64)
			if err != nil || n < 0 {
				continue
			}
			if md.rows[schema] == nil {
				md.rows[schema] = map[string]int64{}
			}
			md.rows[schema][table] = n
		}
	}
	return md
}

// sectionTable parses a section name `db`.`table` (or "db"."table" when
// mydumper quotes with double quotes).
func sectionTable(s string) (schema, table string, ok bool) {
	schema, rest, ok := quotedIdent(s)
	if !ok || !strings.HasPrefix(rest, ".") {
		return "", "", false
	}
	table, rest, ok = quotedIdent(rest[1:])
	if !ok || rest != "" {
		return "", "", false
	}
	return schema, table, true
}

// quotedIdent reads one identifier quoted with ` or ", a doubled quote
// standing for itself, and returns what follows it.
func quotedIdent(s string) (ident, rest string, ok bool) {
	if s == "" || (s[0] != '`' && s[0] != '"') {
		return "", "", false
	}
	q := s[0]
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		if s[i] != q {
			b.WriteByte(s[i])
			continue
		}
		if i+1 < len(s) && s[i+1] == q {
			b.WriteByte(q)
			i++
			continue
		}
		return b.String(), s[i+1:], true
	}
	return "", "", false
}

// readAll reads a small file whole (decompressed), refusing one larger
// than limit.
func readAll(ctx context.Context, src restore.Source, name string, limit int64) ([]byte, error) {
	rc, err := open(ctx, src, name)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s is larger than %d bytes: %w", name, limit, termshift.ErrInvalid)
	}
	return data, nil
}
