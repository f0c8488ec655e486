package mysql

import (
	"bytes"
	"strings"

	"github.com/termshift/termshift"
)

// token is a word, a quoted identifier or one punctuation byte of a
// statement's text, with comments and the markers of executable comments
// (/*!NNNNN and */) skipped.
type token struct {
	Text       string // a word as written, an identifier unquoted, or the punctuation
	Quoted     bool   // a `backquoted` identifier
	Str        bool   // a 'string' or "string"
	Start, End int    // bytes of Text's token in the statement
}

// word reports whether the token is the keyword kw (case-insensitive).
func (t token) word(kw string) bool { return !t.Quoted && !t.Str && strings.EqualFold(t.Text, kw) }

// tokenize returns up to max tokens of text (all of them when max < 0).
func tokenize(text []byte, max int) []token {
	var out []token
	i := 0
	for i < len(text) && (max < 0 || len(out) < max) {
		c := text[i]
		switch {
		case isSpace(c):
			i++
		case c == '#' || (c == '-' && i+2 < len(text) && text[i+1] == '-' && isSpace(text[i+2])) || (c == '-' && i+2 == len(text) && text[i+1] == '-'):
			nl := bytes.IndexByte(text[i:], '\n')
			if nl < 0 {
				i = len(text)
			} else {
				i += nl + 1
			}
		case c == '/' && i+1 < len(text) && text[i+1] == '*':
			j := i + 2
			if j < len(text) && text[j] == 'M' && j+1 < len(text) && text[j+1] == '!' {
				j++
			}
			if j < len(text) && text[j] == '!' {
				j++
				for j < len(text) && text[j] >= '0' && text[j] <= '9' {
					j++
				}
				i = j
				continue
			}
			end := bytes.Index(text[j:], []byte("*/"))
			if end < 0 {
				i = len(text)
			} else {
				i = j + end + 2
			}
		case c == '*' && i+1 < len(text) && text[i+1] == '/':
			i += 2 // end of an executable comment
		case c == '`':
			j := i + 1
			var b strings.Builder
			for j < len(text) {
				if text[j] == '`' {
					if j+1 < len(text) && text[j+1] == '`' {
						b.WriteByte('`')
						j += 2
						continue
					}
					break
				}
				b.WriteByte(text[j])
				j++
			}
			out = append(out, token{Text: b.String(), Quoted: true, Start: i, End: min(j+1, len(text))})
			i = j + 1
		case c == '\'' || c == '"':
			j := i + 1
			for j < len(text) && text[j] != c {
				if text[j] == '\\' {
					j++
				}
				j++
			}
			end := min(j+1, len(text))
			out = append(out, token{Text: string(text[i:end]), Str: true, Start: i, End: end})
			i = end
		case isWordByte(c):
			j := i
			for j < len(text) && isWordByte(text[j]) {
				j++
			}
			out = append(out, token{Text: string(text[i:j]), Start: i, End: j})
			i = j
		default:
			out = append(out, token{Text: string(c), Start: i, End: i + 1})
			i++
		}
	}
	return out
}

func isWordByte(c byte) bool {
	return c == '_' || c == '$' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c >= 0x80
}

// kind is what a statement does, as far as the loader cares.
type kind int

const (
	kOther         kind = iota
	kInsert             // INSERT or REPLACE INTO table
	kSet                // SET ... (session state)
	kUse                // USE db
	kCreateDB           // CREATE DATABASE / SCHEMA
	kDropDB             // DROP DATABASE / SCHEMA
	kCreateTable        // CREATE TABLE table
	kDropTable          // DROP TABLE table
	kLockTables         // LOCK TABLES / UNLOCK TABLES
	kAlterKeys          // ALTER TABLE t DISABLE|ENABLE KEYS
	kCreateTrigger      // CREATE ... TRIGGER
	kCreateView         // CREATE ... VIEW
	kCreateRoutine      // CREATE ... PROCEDURE|FUNCTION|EVENT
)

// object is what a statement names: [Schema.]Name.
type object struct{ Schema, Name string }

// classify tells what a statement does and the object it names (table,
// database) when that matters.
func classify(text []byte) (kind, object) {
	toks := tokenize(text, 14)
	if len(toks) == 0 {
		return kOther, object{}
	}
	name := func(from int) object {
		// [db.]name after position from, skipping IF [NOT] EXISTS
		for from < len(toks) && (toks[from].word("IF") || toks[from].word("NOT") || toks[from].word("EXISTS")) {
			from++
		}
		if from >= len(toks) {
			return object{}
		}
		if from+2 < len(toks) && toks[from+1].Text == "." && !toks[from+1].Quoted && !toks[from+1].Str {
			return object{Schema: toks[from].Text, Name: toks[from+2].Text}
		}
		return object{Name: toks[from].Text}
	}
	first := toks[0]
	switch {
	case first.word("INSERT") || first.word("REPLACE"):
		for j := 1; j < len(toks); j++ {
			if toks[j].word("INTO") {
				return kInsert, name(j + 1)
			}
			if !(toks[j].word("IGNORE") || toks[j].word("LOW_PRIORITY") || toks[j].word("DELAYED") || toks[j].word("HIGH_PRIORITY")) {
				return kInsert, name(j)
			}
		}
		return kInsert, object{}
	case first.word("SET"):
		return kSet, object{}
	case first.word("USE"):
		return kUse, name(1)
	case first.word("LOCK") || first.word("UNLOCK"):
		return kLockTables, object{}
	case first.word("ALTER") && len(toks) > 4 && toks[1].word("TABLE"):
		n := name(2)
		last := toks[len(toks)-1]
		if len(toks) <= 7 && (last.word("KEYS")) {
			return kAlterKeys, n
		}
		return kOther, n
	case first.word("DROP") && len(toks) > 1:
		if toks[1].word("DATABASE") || toks[1].word("SCHEMA") {
			return kDropDB, name(2)
		}
		if toks[1].word("TABLE") {
			return kDropTable, name(2)
		}
	case first.word("CREATE") && len(toks) > 1:
		for j := 1; j < len(toks); j++ {
			t := toks[j]
			switch {
			case t.word("DATABASE") || t.word("SCHEMA"):
				return kCreateDB, name(j + 1)
			case t.word("TABLE"):
				return kCreateTable, name(j + 1)
			case t.word("TRIGGER"):
				return kCreateTrigger, name(j + 1)
			case t.word("VIEW"):
				return kCreateView, name(j + 1)
			case t.word("PROCEDURE") || t.word("FUNCTION") || t.word("EVENT"):
				return kCreateRoutine, name(j + 1)
			}
		}
	}
	return kOther, object{}
}

// rowCount counts the rows of an INSERT: the '(' opened at depth 0, less
// the column list when one comes before VALUES.
func rowCount(st statement) int64 {
	if st.Parens == 0 || st.FirstParen < 0 {
		return 0
	}
	for _, t := range tokenize(st.Text[:st.FirstParen], -1) {
		if t.word("VALUES") || t.word("VALUE") {
			return st.Parens
		}
	}
	return st.Parens - 1
}

// rename rewrites a DDL statement for the target schema: references
// qualified by the source schema (`from`.`t`, from.t) point at to, and
// DEFINER clauses are dropped so that loading needs no SUPER privilege
// (the objects are then defined by the loading user). Strings and comments
// are left alone. Data statements never go through here.
func rename(text []byte, from, to string) []byte {
	toks := tokenize(text, -1)
	var out []byte
	last := 0
	for i := 0; i < len(toks); i++ {
		t := toks[i]
		switch {
		case !t.Str && t.Text == from && i+1 < len(toks) && toks[i+1].Text == "." && !toks[i+1].Quoted && !toks[i+1].Str:
			out = append(out, text[last:t.Start]...)
			out = append(out, termshift.QuoteMySQL(to)...)
			last = t.End
		case t.word("DEFINER") && i+2 < len(toks) && toks[i+1].Text == "=":
			// DEFINER = user@host | CURRENT_USER[()]
			j := i + 2
			if toks[j].word("CURRENT_USER") {
				j++
				if j+1 < len(toks) && toks[j].Text == "(" && toks[j+1].Text == ")" {
					j += 2
				}
			} else {
				j++ // user
				if j < len(toks) && toks[j].Text == "@" {
					j += 2 // @ host
				} else if j < len(toks) && strings.HasPrefix(toks[j].Text, "@") {
					j++
				}
			}
			j = min(j, len(toks))
			out = append(out, text[last:t.Start]...)
			last = toks[j-1].End
			i = j - 1
		}
	}
	if out == nil {
		return text
	}
	return append(out, text[last:]...)
}
