package mysql

import (
	"bytes"
	"context"
	"log/slog"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/termshift/termshift"
	"github.com/termshift/termshift/restore"
)

func TestAppendRows(t *testing.T) {
	s, o := colString, colOther
	for _, tc := range []struct {
		name  string
		in    string
		kinds []colKind
		want  string // "" = refused
	}{
		{"numbers and NULL", "INSERT INTO `t` VALUES (1,-2.5e-3,NULL),(2,+7,null)", []colKind{o, o, o}, "1\t-2.5e-3\t\\N\n2\t+7\t\\N\n"},
		{"mydumper layout", "INSERT INTO `t` VALUES\n(1,\"a\")\n,(2,\"b\")", []colKind{o, s}, "1\ta\n2\tb\n"},
		{"escapes", `INSERT INTO t VALUES ('a\'b''c\"d\\e\nf\tg\0h\Zi\bj\%k\_l\qm')`, []colKind{s}, "a'b'c\"d\\\\e\\nf\\tg\\0h\x1ai\bj\\\\%k\\\\_lqm\n"},
		{"raw tab, newline, CR and NUL in a string", "INSERT INTO t VALUES ('a\tb\nc\rd\x00e')", []colKind{s}, "a\\tb\\nc\\rd\\0e\n"},
		{"the string \\N is not NULL", `INSERT INTO t VALUES ('\\N','NULL','')`, []colKind{s, s, s}, "\\\\N\tNULL\t\n"},
		{"hex and _binary", "INSERT INTO t VALUES (0x005C09FF,X'41',_binary 'x\\\\y',0x)", []colKind{s, s, s, s}, "\\0\\\\\\t\xff\tA\tx\\\\y\t\n"},
		{"column list", "INSERT INTO `db`.`t` (`a`, `b`) VALUES (1,'x')", []colKind{o, s}, "1\tx\n"},
		{"hex into a number column", "INSERT INTO t VALUES (0x41)", []colKind{o}, ""},
		{"a function", "INSERT INTO t VALUES (NOW())", []colKind{o}, ""},
		{"bit literal", "INSERT INTO t VALUES (b'101')", []colKind{o}, ""},
		{"charset introducer", "INSERT INTO t VALUES (_latin1'x')", []colKind{s}, ""},
		{"too few values", "INSERT INTO t VALUES (1)", []colKind{o, o}, ""},
		{"too many values", "INSERT INTO t VALUES (1,2,3)", []colKind{o, o}, ""},
		{"on duplicate key", "INSERT INTO t VALUES (1) ON DUPLICATE KEY UPDATE a=1", []colKind{o}, ""},
		{"insert ignore", "INSERT IGNORE INTO t VALUES (1)", []colKind{o}, ""},
		{"replace", "REPLACE INTO t VALUES (1)", []colKind{o}, ""},
		{"insert select", "INSERT INTO t SELECT 1", []colKind{o}, ""},
		{"unterminated string", "INSERT INTO t VALUES ('abc)", []colKind{s}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			text := []byte(tc.in)
			_, at, ok := insertHead(text)
			var got []byte
			if ok {
				got, ok = appendRows(nil, text[at:], tc.kinds)
			}
			if !ok {
				got = nil
			}
			if diff := cmp.Diff(string(got), tc.want); diff != "" {
				t.Errorf("converted (-got +want):\n%s", diff)
			}
		})
	}
}

func TestInsertHeadColumns(t *testing.T) {
	cols, at, ok := insertHead([]byte("INSERT INTO `t` (`a`, `we``ird`, b) VALUES (1,2,3)"))
	if !ok || at != 43 {
		t.Fatalf("insertHead: ok %v at %d", ok, at)
	}
	if diff := cmp.Diff(cols, []string{"a", "we`ird", "b"}); diff != "" {
		t.Errorf("columns (-got +want):\n%s", diff)
	}
}

// TestInfileFidelity loads rows holding every byte value, every SQL escape,
// NULL next to the strings 'NULL' and '\N', UTF-8, numbers at their limits
// and dates, as the real mydumper and mariadb-dump (with and without
// --hex-blob and --complete-insert) write them, through LOAD DATA LOCAL
// INFILE, and proves the target equals the source; with Inserts the same
// files load as written, to the same result. A latin1 table takes the
// INSERTs as written when the dump's connection is utf8mb4.
func TestInfileFidelity(t *testing.T) {
	srv := localServer(t)
	var on int
	must(t, srv.db.QueryRow("SELECT @@local_infile").Scan(&on))
	if on != 1 {
		t.Fatalf("local_infile is off on %s: this test needs it on (make services turns it on)", srv.cfg.Addr)
	}
	source := srv.schema(t, "tsinf_src")
	q := termshift.QuoteMySQL(source)
	must(t, execAll(srv, "CREATE DATABASE "+q+" DEFAULT CHARACTER SET utf8mb4",
		"CREATE TABLE "+q+".v (id INT NOT NULL PRIMARY KEY, bl BLOB, vb VARBINARY(300), s VARCHAR(200), tx TEXT, "+
			"d DECIMAL(30,10), f DOUBLE, fl FLOAT, dt DATETIME(6), ts TIMESTAMP NULL DEFAULT NULL, e ENUM('a','b c'), st SET('x','y'), u3 VARCHAR(20) CHARACTER SET utf8mb3, "+
			"KEY s_idx (s(20)), KEY d_idx (d)) ENGINE=InnoDB",
		"CREATE TABLE "+q+".l1 (id INT PRIMARY KEY, s VARCHAR(50) CHARACTER SET latin1) ENGINE=InnoDB",
		// every byte value, in both binary columns
		"INSERT INTO "+q+".v (id, bl, vb) SELECT 1, x, x FROM (SELECT GROUP_CONCAT(CHAR(seq) ORDER BY seq SEPARATOR '') x FROM "+q+".seq_0_to_255) b",
		`INSERT INTO `+q+`.v VALUES (2, '\\N', 'NULL', 'NULL', '\\N', -12345678901234567890.0123456789, 1.7976931348623157e308, -3.4e38, '1000-01-01 00:00:00.000001', '1970-01-01 00:00:01', 'b c', 'x,y', 'ü')`,
		"INSERT INTO "+q+".v VALUES (3, '', '', '', '', 0, -2.2250738585072014e-308, 0, '9999-12-31 23:59:59.999999', '2038-01-19 03:14:07', 'a', '', '')",
		"INSERT INTO "+q+".v (id) VALUES (4)",
		`INSERT INTO `+q+`.v (id, s, tx, u3) VALUES (5, CONCAT('q''uote "dq" back\\slash \\% \\_', CHAR(9), 'tab', CHAR(10), 'nl', CHAR(13), 'cr', CHAR(0), 'nul', CHAR(26), 'ctrlz'), '😀 漢字 ñ\\tab', 'ñ漢')`,
		"INSERT INTO "+q+".v (id, s, f) SELECT 10 + seq, REPEAT(CHAR(65 + seq % 26), seq % 50), seq / 3 FROM "+q+".seq_1_to_300",
		"INSERT INTO "+q+".l1 VALUES (1, 'caf\u00e9'), (2, NULL), (3, 'tab\there')"))
	dir := t.TempDir()
	srv.mydumper(t, source, filepath.Join(dir, "mydumper"), "--rows", "100")
	srv.mysqldump(t, source, filepath.Join(dir, "plain.sql"), false)
	srv.mysqldump(t, source, filepath.Join(dir, "hex.sql"), false, "--hex-blob", "--complete-insert", "--net-buffer-length", "4096")

	for _, tc := range []struct {
		name, path string
		inserts    bool
		// utf8mb4: the dump's connection is (mydumper's is binary, which
		// any column stores unchanged)
		utf8mb4 bool
	}{
		{"mydumper", "mydumper", false, false},
		{"mariadb-dump", "plain.sql", false, true},
		{"mariadb-dump --hex-blob --complete-insert", "hex.sql", false, true},
		{"mydumper as written", "mydumper", true, false},
		{"mariadb-dump as written", "plain.sql", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			target := srv.schema(t, "tsinf_dst")
			var logs bytes.Buffer
			log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
			rep, err := (&Loader{DSN: srv.dsn, Inserts: tc.inserts, infileBelow: -1}).Load(context.Background(), restore.Dir{Root: dir}, tc.path,
				restore.Request{From: source, To: target, Threads: 2, Logger: log})
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if !rep.OK() {
				t.Errorf("report not OK: %+v", rep.Warnings)
			}
			srv.assertSame(t, source, target)
			m := regexp.MustCompile(`"with LOAD DATA LOCAL INFILE"=(\d+) "as written"=(\d+)`).FindStringSubmatch(logs.String())
			if m == nil {
				t.Fatalf("no count of INSERTs in the debug log:\n%s", logs.String())
			}
			converted, _ := strconv.Atoi(m[1])
			written, _ := strconv.Atoi(m[2])
			switch {
			case tc.inserts && converted != 0:
				t.Errorf("Inserts: %d INSERTs loaded with LOAD DATA", converted)
			case !tc.inserts && converted == 0:
				t.Errorf("no INSERT loaded with LOAD DATA (%d as written)", written)
			case tc.utf8mb4 && written == 0:
				t.Errorf("the latin1 table's INSERTs did not run as written")
			}
		})
	}
}
