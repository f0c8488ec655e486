package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/termshift/termshift"
	"github.com/termshift/termshift/loadgen"
	"github.com/termshift/termshift/restore"
)

// BenchmarkFinalSync is make bench-final-sync: the production cutover under
// write load, twice: with the demo data, and with the 1,000,000-row
// courseware_studentmodule-like table of make bench-restore added to the
// live release (backup/bench/source.sql). Each run: current is live and
// takes writes through the router while `upgrade next --cutover
// --final-sync` runs; afterwards demo-lms check-writes counts the
// acknowledged writes missing from next. It prints the windows with their
// parts, the sync's throughput against a restore's of the same schema,
// and last the summary line.
func BenchmarkFinalSync(b *testing.B) {
	var lost, acked int
	var window time.Duration
	for range b.N {
		demo := benchFinalSync(b, 0)
		big := benchFinalSync(b, 1_000_000)
		lost, acked = demo.Lost+big.Lost, len(demo.Load.Acked)+len(big.Load.Acked)
		window = big.Window.Total
	}
	fmt.Printf("bench-final-sync: lost %d of %d acknowledged writes, window %.1fs\n", lost, acked, window.Seconds())
}

func benchFinalSync(b *testing.B, rows int) finalSyncRun {
	e := newE2E(b)
	e.withMigrations()
	e.serve()
	e.must("upgrade", e.cur, "--cutover", "--reason", "bench: current goes live")
	edxapp := "edxapp_" + e.cur
	if rows > 0 {
		t0 := time.Now()
		// The LMS has its own courseware_studentmodule: the bench's table
		// is bench_studentmodule.
		fillBench(b, e, edxapp, rows)
		fmt.Printf("== %s: %d rows of courseware_studentmodule written in %.0fs (the semester's data)\n", edxapp, rows, time.Since(t0).Seconds())
	}
	e.must("upgrade", e.nxt, "--reason", "bench: next restored from last night, verified")
	run := e.finalSync(50)
	if run.Code != 0 || run.Window == nil {
		b.Fatalf("upgrade --cutover --final-sync: exit %d\n%s\n%s", run.Code, run.Stdout, run.Stderr)
	}
	w := run.Window
	label := "demo data"
	if rows > 0 {
		label = fmt.Sprintf("demo data + %d-row table", rows)
	}
	fmt.Printf("== final sync, %s: window %s\n", label, w.Parts())
	fmt.Printf("   load: %s\n", run.Load)
	fmt.Printf("   %s\n", run.CheckOut)
	for _, l := range strings.Split(run.Stderr, "\n") {
		if strings.Contains(l, "msg=\"sync: ") || strings.Contains(l, "msg=\"router: drained") {
			fmt.Printf("   %s\n", l)
		}
	}
	if bad := run.Load.ByClass[loadgen.ClassServerError].Count + run.Load.ByClass[loadgen.ClassNoAnswer].Count + run.Load.ByClass[loadgen.ClassOther].Count; bad > 0 {
		fmt.Printf("   %d requests failed otherwise than 503: %v\n", bad, run.Load.Errors)
	}
	if s := w.SyncReport; s != nil {
		var mysqlRows int64
		for _, ns := range s.Namespaces {
			if ns.Namespace.Service == termshift.MySQL {
				for _, o := range ns.Objects {
					mysqlRows += o.Loaded
				}
			}
		}
		syncRate := float64(mysqlRows) / w.Sync.Seconds()
		fmt.Printf("   sync: %d MySQL rows + %d documents in %.1fs (%.0f MySQL rows/s, proof and hashes included), proven %v, read lock held %s\n",
			mysqlRows, s.Docs, w.Sync.Seconds(), syncRate, s.Proven, s.LockHeld.Round(time.Microsecond))
		if rows > 0 {
			restored, secs := benchRestore(b, e, edxapp)
			fmt.Printf("   restore of the same schema from a termshift backup: %d rows in %.1fs (%.0f rows/s); sync/restore throughput %.2f\n",
				restored, secs, float64(restored)/secs, syncRate/(float64(restored)/secs))
		}
	}
	return run
}

// fillBench writes the bench table into schema with the server's sequence
// engine, as make bench-restore builds it.
func fillBench(b *testing.B, e *e2e, schema string, rows int) {
	text, err := os.ReadFile("../../backup/bench/source.sql")
	if err != nil {
		b.Fatal(err)
	}
	sql := strings.NewReplacer("@ROWS@", fmt.Sprint(rows), "@USERS@", fmt.Sprint(rows/40+1), "courseware_studentmodule", "bench_studentmodule").Replace(string(text))
	conn, err := e.db.Conn(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(context.Background(), "USE "+termshift.QuoteMySQL(schema)); err != nil {
		b.Fatal(err)
	}
	for _, stmt := range strings.Split(sql, ";\n") {
		var lines []string
		for _, l := range strings.Split(stmt, "\n") {
			if !strings.HasPrefix(l, "--") {
				lines = append(lines, l)
			}
		}
		if q := strings.TrimSpace(strings.Join(lines, "\n")); q != "" {
			if _, err := conn.ExecContext(context.Background(), q); err != nil {
				b.Fatalf("%s: %v", q[:min(len(q), 60)], err)
			}
		}
	}
}

// benchRestore backs schema up with termshift and restores it into a
// scratch schema: the rows and seconds of the restore.
func benchRestore(b *testing.B, e *e2e, schema string) (int64, float64) {
	dir := filepath.Join(e.dir, "restore-bench")
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"--env", filepath.Join(e.dir, "none.yaml"), "backup", "mysql", "--dsn", "$TERMSHIFT_MYSQL_DSN", "--schema", schema,
		"--to", dir, "--id", "bench", "--json"}, &out, &errb); code != 0 {
		b.Fatalf("backup mysql: exit %d: %s", code, errb.String())
	}
	scratch := randName(b, "bkrst_", 8)
	b.Cleanup(func() { _, _ = e.db.Exec("DROP DATABASE IF EXISTS " + termshift.QuoteMySQL(scratch)) })
	out.Reset()
	errb.Reset()
	if code := run(context.Background(), []string{"--env", filepath.Join(e.dir, "none.yaml"), "restore", "mysql", "--source", filepath.Join(dir, "bench"),
		"--from", schema, "--to", scratch, "--dsn", "$TERMSHIFT_MYSQL_DSN", "--json"}, &out, &errb); code != 0 {
		b.Fatalf("restore mysql: exit %d: %s", code, errb.String())
	}
	var rep restore.Report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		b.Fatal(err)
	}
	_, loaded, _ := rep.Totals()
	return loaded, rep.Seconds
}
