package mysql

import (
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/google/go-cmp/cmp"

	"github.com/termshift/termshift"
)

func splitAll(t *testing.T, input string, lineEnd bool, oneByte bool) ([]string, []int64, error) {
	t.Helper()
	var r io.Reader = strings.NewReader(input)
	if oneByte {
		r = iotest.OneByteReader(r)
	}
	sp := newSplitter(r, "input.sql", lineEnd)
	var out []string
	var rows []int64
	for {
		st, err := sp.next()
		if errors.Is(err, io.EOF) {
			return out, rows, nil
		}
		if err != nil {
			return out, rows, err
		}
		out = append(out, string(st.Text))
		rows = append(rows, rowCount(st))
	}
}

func TestSplitter(t *testing.T) {
	for _, tc := range []struct {
		name    string
		input   string
		lineEnd bool
		want    []string
		rows    []int64
	}{
		{name: "simple", input: "SELECT 1;\nSELECT 2;", want: []string{"SELECT 1", "SELECT 2"}, rows: []int64{0, 0}},
		{name: "last without delimiter", input: "SELECT 1;\nSELECT 2\n", want: []string{"SELECT 1", "SELECT 2"}, rows: []int64{0, 0}},
		{name: "quotes and escapes",
			input: "INSERT INTO `a;b` VALUES ('x;\\'y', \"q;\\\"\", 'it''s;'),(2,'\\\\');\nSELECT 1;",
			want:  []string{"INSERT INTO `a;b` VALUES ('x;\\'y', \"q;\\\"\", 'it''s;'),(2,'\\\\')", "SELECT 1"}, rows: []int64{2, 0}},
		{name: "column list", input: "INSERT INTO t (a,b) VALUES (1,'(('),(2,')');", want: []string{"INSERT INTO t (a,b) VALUES (1,'(('),(2,')')"}, rows: []int64{2}},
		{name: "comments", input: "-- a; comment\n# another; one\n/* block; */ SELECT 1 /* in; */ -- tail;\n;\n--\n",
			want: []string{"-- a; comment\n# another; one\n/* block; */ SELECT 1 /* in; */ -- tail;"}, rows: []int64{0}},
		{name: "not a comment", input: "SELECT 1--1;", want: []string{"SELECT 1--1"}, rows: []int64{0}},
		{name: "conditional comments", input: "/*!40101 SET NAMES utf8mb4 */;\n/*!50003 CREATE*/ /*!50003 TRIGGER x BEGIN SET a=1; END */;;\n",
			want: []string{"/*!40101 SET NAMES utf8mb4 */", "/*!50003 CREATE*/ /*!50003 TRIGGER x BEGIN SET a=1; END */"}, rows: []int64{0, 0}},
		{name: "delimiter", input: "DELIMITER ;;\nCREATE PROCEDURE p() BEGIN SELECT 1; SELECT ';;'; END;;\nDELIMITER ;\nSELECT 2;\n",
			want: []string{"CREATE PROCEDURE p() BEGIN SELECT 1; SELECT ';;'; END", "SELECT 2"}, rows: []int64{0, 0}},
		{name: "sandbox line", input: "/*M!999999\\- enable the sandbox mode */ \n-- MariaDB dump\nSELECT 1;\n", want: []string{"-- MariaDB dump\nSELECT 1"}, rows: []int64{0}},
		{name: "mydumper line ends", lineEnd: true, input: "CREATE FUNCTION f() RETURNS INT\nBEGIN\n  RETURN 1; \nEND;\nSET a=1;\n",
			want: []string{"CREATE FUNCTION f() RETURNS INT\nBEGIN\n  RETURN 1; \nEND", "SET a=1"}, rows: []int64{0, 0}},
		{name: "mydumper data", lineEnd: true, input: "INSERT INTO `t` VALUES\n(1,\"a;\\n\"),\n(2,\"\\\"\");\n",
			want: []string{"INSERT INTO `t` VALUES\n(1,\"a;\\n\"),\n(2,\"\\\"\")"}, rows: []int64{2}},
	} {
		for _, oneByte := range []bool{false, true} {
			got, rows, err := splitAll(t, tc.input, tc.lineEnd, oneByte)
			if err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			if diff := cmp.Diff(got, tc.want); diff != "" {
				t.Errorf("%s (one byte reads %v): (-got +want)\n%s", tc.name, oneByte, diff)
			}
			if diff := cmp.Diff(rows, tc.rows); diff != "" {
				t.Errorf("%s rows: (-got +want)\n%s", tc.name, diff)
			}
		}
	}
}

func TestSplitterErrors(t *testing.T) {
	for _, tc := range []struct{ name, input, want string }{
		{"unterminated string", "SELECT 1;\nINSERT INTO t VALUES ('abc;\n", "unterminated 'string' starting at line 2"},
		{"unterminated identifier", "SELECT `a;", "unterminated `identifier` starting at line 1"},
		{"unterminated comment", "SELECT 1; /* x", "unterminated comment"},
		{"delimiter without value", "DELIMITER\nSELECT 1;", "DELIMITER without a delimiter"},
	} {
		_, _, err := splitAll(t, tc.input, false, false)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "input.sql") || !errors.Is(err, termshift.ErrInvalid) {
			t.Errorf("%s: error %v, want one containing %q and the file name, wrapping ErrInvalid", tc.name, err, tc.want)
		}
	}
}

// BenchmarkSplitter measures splitting and row counting of mydumper-like
// extended INSERTs with escaped JSON, the loader's CPU cost per byte.
func BenchmarkSplitter(b *testing.B) {
	var sb strings.Builder
	for sb.Len() < 8<<20 {
		sb.WriteString("INSERT INTO `courseware_studentmodule` VALUES\n")
		for i := range 1000 {
			if i > 0 {
				sb.WriteString(",\n")
			}
			sb.WriteString(`(1,"problem","block-v1:Org+C+2024+type@problem+block@0123456789abcdef",7,"{\"attempts\": 3, \"correct_map\": {\"x_2_1\": {\"correctness\": \"correct\", \"msg\": \"it\'s \\\"fine\\\"\"}}, \"seed\": 1}",1.5,5,"na","2024-01-01 00:00:00.000001","2024-01-01 00:00:00.000001","course-v1:Org+C+2024")`)
		}
		sb.WriteString(";\n")
	}
	data := sb.String()
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for b.Loop() {
		sp := newSplitter(strings.NewReader(data), "bench.sql", true)
		var rows int64
		for {
			st, err := sp.next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			rows += rowCount(st)
		}
		if rows == 0 {
			b.Fatal("no rows")
		}
	}
}
