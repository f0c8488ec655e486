package mysql

import (
	"strings"

	"github.com/termshift/termshift"
)

// rename rewrites references to schema from in a statement to schema to:
// the identifier `from` quoted with backticks anywhere outside string
// literals, and from unquoted when it qualifies a name (from.t). String
// literals ('..', "..") are left alone.
func rename(stmt, from, to string) string {
	if from == to {
		return stmt
	}
	quotedFrom := termshift.QuoteMySQL(from)
	quotedTo := termshift.QuoteMySQL(to)
	var b strings.Builder
	b.Grow(len(stmt) + 16)
	for i := 0; i < len(stmt); {
		c := stmt[i]
		switch {
		case c == '\'' || c == '"':
			j := stringEnd(stmt, i)
			b.WriteString(stmt[i:j])
			i = j
		case c == '`':
			j := i + 1
			for j < len(stmt) {
				if stmt[j] == '`' {
					if j+1 < len(stmt) && stmt[j+1] == '`' {
						j += 2
						continue
					}
					break
				}
				j++
			}
			j = min(j+1, len(stmt))
			if stmt[i:j] == quotedFrom {
				b.WriteString(quotedTo)
			} else {
				b.WriteString(stmt[i:j])
			}
			i = j
		case identStart(c):
			j := i + 1
			for j < len(stmt) && identPart(stmt[j]) {
				j++
			}
			word := stmt[i:j]
			k := j
			for k < len(stmt) && (stmt[k] == ' ' || stmt[k] == '\t' || stmt[k] == '\n') {
				k++
			}
			if word == from && k < len(stmt) && stmt[k] == '.' && (i == 0 || stmt[i-1] != '.') {
				b.WriteString(to)
			} else {
				b.WriteString(word)
			}
			i = j
		default:
			b.WriteByte(c)
			i++
		}
	}
	return b.String()
}

// stringEnd returns the index after the string literal starting at i.
func stringEnd(s string, i int) int {
	q := s[i]
	j := i + 1
	for j < len(s) {
		switch s[j] {
		case '\\':
			j += 2
			continue
		case q:
			if j+1 < len(s) && s[j+1] == q {
				j += 2
				continue
			}
			return j + 1
		}
		j++
	}
	return len(s)
}

func identStart(c byte) bool {
	return c == '_' || c == '$' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80
}

func identPart(c byte) bool { return identStart(c) || c >= '0' && c <= '9' }
