package mysql

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/termshift/termshift"
)

// statement is one SQL statement cut from a dump, without its delimiter.
// Text is only valid until the next call to next.
type statement struct {
	Text   []byte
	Line   int   // 1-based line where the statement starts
	Offset int64 // byte offset where the statement starts
	// Parens counts the '(' opened at nesting depth 0 outside strings and
	// comments; FirstParen is the offset in Text of the first one (-1 if
	// none). An INSERT's row count derives from them (see rowCount).
	Parens     int64
	FirstParen int
}

type lexState uint8

const (
	stNormal lexState = iota
	stSingle
	stDouble
	stBacktick
	stLineComment
	stBlockComment
)

// splitter cuts a stream of SQL into statements the way the mysql client
// does: it tracks quotes ('"`), backslash escapes inside strings, comments
// (-- , #, /* */) as opposed to executable /*! */ comments, and DELIMITER
// lines. It holds one statement at a time, so memory is bounded by the
// largest statement, not by the stream.
//
// In lineEnd mode (mydumper files) a delimiter ends a statement only when a
// newline follows it: that is myloader's rule, and mydumper relies on it by
// writing "; " inside routine and trigger bodies.
type splitter struct {
	r       io.Reader
	name    string // for errors
	lineEnd bool

	delim []byte
	buf   []byte
	start int  // start of the current statement in buf
	pos   int  // scan position in buf
	eof   bool // r is exhausted
	state lexState
	cond  bool // inside an executable /*! ... */ comment
	depth int
	// statement bookkeeping
	significant bool
	stmtLine    int
	stmtOffset  int64
	parens      int64
	firstParen  int
	// position
	line      int
	base      int64 // stream offset of buf[0]
	quoteLine int   // where the open string began, for errors
}

const splitChunk = 256 << 10

func newSplitter(r io.Reader, name string, lineEnd bool) *splitter {
	return &splitter{r: r, name: name, lineEnd: lineEnd, delim: []byte{';'}, buf: make([]byte, 0, 2*splitChunk), line: 1, firstParen: -1}
}

// fill reads more input, first dropping the bytes before start.
func (s *splitter) fill() error {
	if s.start > 0 {
		n := copy(s.buf, s.buf[s.start:])
		s.buf = s.buf[:n]
		s.pos -= s.start
		s.base += int64(s.start)
		if s.firstParen >= 0 {
			s.firstParen -= s.start
		}
		s.start = 0
	}
	if cap(s.buf)-len(s.buf) < splitChunk {
		nb := make([]byte, len(s.buf), 2*cap(s.buf)+splitChunk)
		copy(nb, s.buf)
		s.buf = nb
	}
	n, err := s.r.Read(s.buf[len(s.buf):cap(s.buf)])
	s.buf = s.buf[:len(s.buf)+n]
	if errors.Is(err, io.EOF) {
		s.eof = true
		return nil
	}
	if err != nil {
		return fmt.Errorf("read %s at byte %d (line %d): %w", s.name, s.base+int64(len(s.buf)), s.line, err)
	}
	return nil
}

func (s *splitter) reset(at int) {
	s.start = at
	s.significant = false
	s.parens = 0
	s.firstParen = -1
	s.depth = 0
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'
}

// lineAt returns the line starting at i (without its newline) and the
// index after the newline, or ok=false when more input is needed. Client
// commands are short: a line longer than maxCommandLine is returned cut.
func (s *splitter) lineAt(i int) (line []byte, next int, ok bool) {
	const maxCommandLine = 4096
	nl := bytes.IndexByte(s.buf[i:min(len(s.buf), i+maxCommandLine)], '\n')
	if nl < 0 {
		if !s.eof && len(s.buf)-i < maxCommandLine {
			return nil, 0, false
		}
		end := min(len(s.buf), i+maxCommandLine)
		return s.buf[i:end], end, true
	}
	return s.buf[i : i+nl], i + nl + 1, true
}

// next returns the next statement, or io.EOF after the last one.
func (s *splitter) next() (statement, error) {
	for {
		// Keep a few bytes of lookahead so every multi-byte token
		// (--, /*!, */, \x, delimiters) is seen whole.
		need := len(s.delim) + 3
		if !s.eof && len(s.buf)-s.pos < need {
			if err := s.fill(); err != nil {
				return statement{}, err
			}
			continue
		}
		if s.pos >= len(s.buf) { // eof
			switch s.state {
			case stSingle, stDouble, stBacktick:
				return statement{}, fmt.Errorf("%s: unterminated %s starting at line %d, at end of file (byte %d): %w",
					s.name, s.stateName(), s.quoteLine, s.base+int64(s.pos), termshift.ErrInvalid)
			case stBlockComment:
				return statement{}, fmt.Errorf("%s: unterminated comment starting at line %d, at end of file: %w", s.name, s.quoteLine, termshift.ErrInvalid)
			}
			if s.cond {
				return statement{}, fmt.Errorf("%s: unterminated /*! comment starting at line %d, at end of file: %w", s.name, s.quoteLine, termshift.ErrInvalid)
			}
			if s.significant {
				st := s.emit(len(s.buf))
				s.reset(len(s.buf))
				return st, nil
			}
			return statement{}, io.EOF
		}
		limit := len(s.buf)
		if !s.eof {
			limit -= need
		}
		st, ok, more, err := s.scan(limit)
		if err != nil || ok {
			return st, err
		}
		if (more || s.pos >= limit) && !s.eof {
			if err := s.fill(); err != nil {
				return statement{}, err
			}
		}
	}
}

func (s *splitter) stateName() string {
	switch s.state {
	case stSingle:
		return "'string'"
	case stDouble:
		return `"string"`
	case stBacktick:
		return "`identifier`"
	}
	return "token"
}

func (s *splitter) emit(end int) statement {
	text := bytes.TrimSpace(s.buf[s.start:end])
	lead := len(s.buf[s.start:end]) - len(bytes.TrimLeft(s.buf[s.start:end], " \t\r\n\f\v"))
	fp := s.firstParen
	if fp >= 0 {
		fp -= s.start + lead
	}
	return statement{Text: text, Line: s.stmtLine, Offset: s.stmtOffset, Parens: s.parens, FirstParen: fp}
}

// at returns buf[i], or 0 past the end of the input.
func (s *splitter) at(i int) byte {
	if i < len(s.buf) {
		return s.buf[i]
	}
	return 0
}

// scan advances up to limit. It returns a statement when one ends, or
// more=true when it cannot decide without more input.
func (s *splitter) scan(limit int) (st statement, ok, more bool, err error) {
	buf := s.buf
	i := s.pos
	defer func() {
		if !ok && err == nil {
			s.pos = min(i, len(s.buf))
		}
	}()
	for i < limit {
		c := buf[i]
		switch s.state {
		case stSingle, stDouble, stBacktick:
			q := byte('\'')
			if s.state == stDouble {
				q = '"'
			} else if s.state == stBacktick {
				q = '`'
			}
			for i < limit {
				c = buf[i]
				if c == q {
					break
				}
				if c == '\\' && q != '`' {
					if s.at(i+1) == '\n' {
						s.line++
					}
					i += 2
					continue
				}
				if c == '\n' {
					s.line++
				}
				i++
			}
			if i < limit {
				s.state = stNormal
				i++
			}
			continue
		case stLineComment:
			nl := bytes.IndexByte(buf[i:limit], '\n')
			if nl < 0 {
				i = limit
				continue
			}
			i += nl + 1
			s.line++
			s.state = stNormal
			continue
		case stBlockComment:
			if c == '*' && s.at(i+1) == '/' {
				s.state = stNormal
				i += 2
				continue
			}
			if c == '\n' {
				s.line++
			}
			i++
			continue
		}
		// stNormal
		comment := c == '#' || (c == '-' && s.at(i+1) == '-' && (isSpace(s.at(i+2)) || i+2 >= len(buf))) ||
			(c == '/' && s.at(i+1) == '*' && s.at(i+2) != '!' && !(s.at(i+2) == 'M' && s.at(i+3) == '!'))
		if !s.significant && !s.cond {
			if isSpace(c) {
				if c == '\n' {
					s.line++
				}
				i++
				continue
			}
			// Client commands are only recognised where a statement may start.
			if !comment && (i == s.start || buf[i-1] == '\n') {
				line, next, full := s.lineAt(i)
				if !full {
					return statement{}, false, true, nil
				}
				if cmd, arg, isCmd := clientCommand(line); isCmd {
					if cmd == "delimiter" {
						if len(arg) == 0 {
							return statement{}, false, false, fmt.Errorf("%s line %d: DELIMITER without a delimiter: %w", s.name, s.line, termshift.ErrInvalid)
						}
						s.delim = append(s.delim[:0], arg...)
					}
					if next > i+len(line) {
						s.line++
					}
					i = next
					s.reset(i)
					s.pos = i
					return statement{}, false, false, nil // limit depends on the delimiter
				}
			}
			if !comment && !(c == s.delim[0] && bytes.HasPrefix(buf[i:], s.delim)) {
				s.significant = true
				s.stmtLine = s.line
				s.stmtOffset = s.base + int64(i)
			}
		}
		switch {
		case c == '\n':
			s.line++
		case c == '\'':
			s.state, s.quoteLine = stSingle, s.line
		case c == '"':
			s.state, s.quoteLine = stDouble, s.line
		case c == '`':
			s.state, s.quoteLine = stBacktick, s.line
		case comment && c == '#':
			s.state = stLineComment
		case comment && c == '-':
			s.state = stLineComment
			i += 2
			continue
		case comment:
			s.state, s.quoteLine = stBlockComment, s.line
			i += 2
			continue
		case c == '/' && s.at(i+1) == '*':
			// executable comment: /*!NNNNN or /*M!NNNNN; its body is SQL
			s.cond, s.quoteLine = true, s.line
			if s.at(i+2) == 'M' {
				i++
			}
			i += 3
			continue
		case c == '*' && s.cond && s.at(i+1) == '/':
			s.cond = false
			i += 2
			continue
		case c == '(':
			if s.depth == 0 {
				if s.firstParen < 0 {
					s.firstParen = i
				}
				s.parens++
			}
			s.depth++
		case c == ')':
			s.depth--
		}
		if c == s.delim[0] && !s.cond && bytes.HasPrefix(buf[i:], s.delim) {
			end := i + len(s.delim)
			if s.lineEnd && end < len(buf) && buf[end] != '\n' && !(buf[end] == '\r' && s.at(end+1) == '\n') {
				i++
				continue
			}
			sig := s.significant
			st := s.emit(i)
			s.reset(end)
			s.pos = end
			if !sig {
				i = end
				continue
			}
			return st, true, false, nil
		}
		i++
	}
	return statement{}, false, false, nil
}

// clientCommand recognises the mysql client's own commands on a line of
// their own: DELIMITER, and MariaDB's sandbox marker
// `/*M!999999\- enable the sandbox mode */`, which only the client reads.
func clientCommand(line []byte) (cmd string, arg []byte, ok bool) {
	t := bytes.TrimSpace(line)
	if len(t) >= 9 && bytes.EqualFold(t[:9], []byte("delimiter")) && (len(t) == 9 || isSpace(t[9])) {
		f := bytes.Fields(t[9:])
		if len(f) == 0 {
			return "delimiter", nil, true
		}
		return "delimiter", f[0], true
	}
	if bytes.HasPrefix(t, []byte(`/*M!999999\-`)) || bytes.HasPrefix(t, []byte(`/*!999999\-`)) {
		return "sandbox", nil, true
	}
	return "", nil, false
}
