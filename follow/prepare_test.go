package follow

import (
	"context"
	crand "crypto/rand"
	"database/sql"
	"encoding/hex"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/termshift/termshift"
)

// TestPrepareUpdatesAnOldLayout: the follower's tables as an older
// termshift left them (no tracks_touched, no whole, a DECIMAL pk) are
// brought up to date with their rows kept, and tables that are up to date
// get no DDL statement, which would reach the binary log. A scratch schema
// stands for PositionSchema, which the other tests share.
func TestPrepareUpdatesAnOldLayout(t *testing.T) {
	db, err := sql.Open("mysql", termshift.RequireLocalSetting(t, "TERMSHIFT_BINLOG_MYSQL_DSN"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	b := make([]byte, 4)
	_, _ = crand.Read(b)
	schema := "tsf_" + hex.EncodeToString(b)
	t.Cleanup(func() { _, _ = db.Exec("DROP DATABASE IF EXISTS " + schema) })
	ctx := context.Background()
	for _, q := range []string{
		"CREATE DATABASE " + schema,
		"CREATE TABLE " + schema + ".positions (follower VARCHAR(191) NOT NULL PRIMARY KEY, file VARCHAR(255) NOT NULL, pos BIGINT NOT NULL, gtid VARCHAR(1024) NOT NULL DEFAULT '', transactions BIGINT NOT NULL DEFAULT 0, events BIGINT NOT NULL DEFAULT 0, updated_at DATETIME(6) NOT NULL) ENGINE=InnoDB",
		"CREATE TABLE " + schema + ".touched (follower VARCHAR(191) NOT NULL, side ENUM('source', 'target') NOT NULL, schema_name VARCHAR(64) NOT NULL, table_name VARCHAR(64) NOT NULL, file VARCHAR(255) NOT NULL, pos BIGINT NOT NULL, PRIMARY KEY (follower, side, schema_name, table_name)) ENGINE=InnoDB",
		"CREATE TABLE " + schema + ".touched_rows (follower VARCHAR(191) NOT NULL, side ENUM('source', 'target') NOT NULL, schema_name VARCHAR(64) NOT NULL, table_name VARCHAR(64) NOT NULL, pk DECIMAL(20, 0) NOT NULL, seq BIGINT NOT NULL, PRIMARY KEY (follower, side, schema_name, table_name, pk)) ENGINE=InnoDB",
		"INSERT INTO " + schema + ".touched_rows VALUES ('f', 'source', 'live', 'grades', 18446744073709551615, 7), ('f', 'source', 'live', 'grades', 42, 7)",
		"INSERT INTO " + schema + ".touched VALUES ('f', 'source', 'live', 'grades', 'binlog.000001', 4)",
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if err := prepareIn(ctx, db, schema); err != nil {
		t.Fatal(err)
	}
	layout := func() map[string]string {
		t.Helper()
		rows, err := db.QueryContext(ctx, "SELECT TABLE_NAME, COLUMN_NAME, COLUMN_TYPE FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND COLUMN_NAME IN ('tracks_touched', 'whole', 'pk')", schema)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		out := map[string]string{}
		for rows.Next() {
			var table, col, typ string
			if err := rows.Scan(&table, &col, &typ); err != nil {
				t.Fatal(err)
			}
			out[table+"."+col] = typ
		}
		return out
	}
	if diff := cmp.Diff(map[string]string{"positions.tracks_touched": "tinyint(1)", "touched.whole": "tinyint(1)", "touched_rows.pk": "varbinary(255)"}, layout()); diff != "" {
		t.Errorf("columns after prepare (-want +got):\n%s", diff)
	}
	keys, err := queryStrings(ctx, db, "SELECT pk FROM "+schema+".touched_rows ORDER BY pk")
	if err != nil || !cmp.Equal(keys, []string{"18446744073709551615", "42"}) {
		t.Errorf("keys after prepare: %q, %v; want the two integers as text", keys, err)
	}
	var whole bool
	if err := db.QueryRowContext(ctx, "SELECT whole FROM "+schema+".touched WHERE follower = 'f'").Scan(&whole); err != nil || !whole {
		t.Errorf("a table recorded before whole existed: whole %v, %v; want true (any row may have changed)", whole, err)
	}
	// Up to date: no statement that names the schema reaches the binary
	// log (other tests write to it meanwhile; theirs do not name it).
	at, err := head(ctx, db, "the binlog server")
	if err != nil {
		t.Fatal(err)
	}
	if err := prepareIn(ctx, db, schema); err != nil {
		t.Fatal(err)
	}
	if err := prepareIn(ctx, db, schema); err != nil {
		t.Fatal(err)
	}
	rows, err := db.QueryContext(ctx, "SHOW BINLOG EVENTS IN '"+at.File+"' FROM "+strconv.FormatInt(at.Pos, 10))
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	names, _ := rows.Columns()
	vals := make([]sql.RawBytes, len(names))
	ptrs := make([]any, len(vals))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		if info := string(vals[len(vals)-1]); strings.Contains(info, schema) {
			t.Errorf("prepare of an up-to-date layout wrote %q to the binary log", info)
		}
	}
}
