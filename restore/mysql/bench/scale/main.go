// Command scale is `make bench-scale`: restore and backup of a generated
// edxapp-like MySQL schema (500+ tables: a few huge, many small or empty,
// foreign keys, indexes) at growing sizes, each figure next to its anchor
// measured in the same run: termshift's restore against myloader with the
// same threads (and against the mariadb client on a mysqldump file at the
// smallest size), termshift's backup against mydumper. It then runs the
// scrub and MongoDB benchmarks when they exist and ends with the summary:
//
//	bench-scale: restore termshift/myloader R at 1M rows, scrub N rows/s, mongo restore R of ceiling, peak RSS N MiB
//
// Sizes are the rows of courseware_studentmodule (its history holds half as
// many, auth_user an eighth): SIZES=250000,1000000,4000000 by default.
// Generated backups are cached under .termshift-dev/bench-scale and reused.
//
//	THREADS=2 SIZES=250000,1000000 go run ./restore/mysql/bench/scale
package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	driver "github.com/go-sql-driver/mysql"

	"github.com/termshift/termshift"
)

func main() {
	if err := run(context.Background(), os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "bench-scale:", err)
		os.Exit(1)
	}
}

// bench is one run's settings.
type bench struct {
	out      io.Writer
	root     string // the repository
	work     string // .termshift-dev/bench-scale
	threads  int
	sizes    []int
	conn     []string // mariadb client flags
	mdconn   []string // mydumper/myloader flags
	env      []string // the tools' environment (MYSQL_PWD)
	restorer string   // the termshift restore program (restore/mysql/bench)
	termsh   string   // bin/termshift, for backup
	peakRSS  int64    // KiB, over every termshift run
}

// sizeResult is what one size measured.
type sizeResult struct {
	size, rows         int
	ts, myl, proof     measured
	tsDump, client     measured // smallest size only
	backupTS, backupMD measured
}

// measured is one measured command.
type measured struct {
	seconds float64
	rssKiB  int64
	out     string
	ok      bool
}

func run(ctx context.Context, out io.Writer) error {
	b, err := setup(out)
	if err != nil {
		return err
	}
	var results []sizeResult
	for _, n := range b.sizes {
		r, err := b.size(ctx, n)
		if err != nil {
			return fmt.Errorf("size %d: %w", n, err)
		}
		results = append(results, r)
	}
	b.table(results)
	scrub, mongo := b.others(ctx)
	ratio, at := 0.0, 0
	for _, r := range results { // the size nearest 1M
		if at == 0 || math.Abs(math.Log(float64(r.size)/1e6)) < math.Abs(math.Log(float64(at)/1e6)) {
			ratio, at = r.ts.seconds/r.myl.seconds, r.size
		}
	}
	fmt.Fprintf(out, "bench-scale: restore termshift/myloader %.2f at %s rows, scrub %s rows/s, mongo restore %s of ceiling, peak RSS %d MiB\n",
		ratio, human(at), scrub, mongo, (b.peakRSS+1023)/1024)
	return nil
}

func setup(out io.Writer) (*bench, error) {
	root, err := os.Getwd()
	if err != nil {
		return nil, err
	}
	dsn, ok := termshift.LocalSetting("TERMSHIFT_MYSQL_DSN")
	if !ok {
		return nil, errors.New("TERMSHIFT_MYSQL_DSN is not set: load .termshift-dev/env (make services)")
	}
	cfg, err := driver.ParseDSN(dsn)
	if err != nil {
		return nil, fmt.Errorf("parse TERMSHIFT_MYSQL_DSN: %w", termshift.ErrInvalid)
	}
	host, port, _ := strings.Cut(cfg.Addr, ":")
	b := &bench{out: out, root: root, work: filepath.Join(root, ".termshift-dev", "bench-scale"), threads: 2,
		sizes: []int{250000, 1000000, 4000000}}
	if v := os.Getenv("THREADS"); v != "" {
		if b.threads, err = strconv.Atoi(v); err != nil || b.threads < 1 {
			return nil, fmt.Errorf("THREADS=%q: want a positive number: %w", v, termshift.ErrInvalid)
		}
	}
	if v := os.Getenv("SIZES"); v != "" {
		b.sizes = nil
		for _, f := range strings.Split(v, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n < 1000 {
				return nil, fmt.Errorf("SIZES=%q: want comma-separated row counts of at least 1000: %w", v, termshift.ErrInvalid)
			}
			b.sizes = append(b.sizes, n)
		}
	}
	b.conn = []string{"-h", host, "-P", port, "-u", cfg.User}
	b.mdconn = append([]string(nil), b.conn...)
	if cfg.Passwd != "" {
		b.mdconn = append(b.mdconn, "-p", cfg.Passwd) // mydumper 0.10 reads no MYSQL_PWD
	}
	b.env = append(os.Environ(), "MYSQL_PWD="+cfg.Passwd)
	for _, tool := range []string{"mydumper", "myloader", "mariadb", "mariadb-dump"} {
		if _, err := exec.LookPath(tool); err != nil {
			return nil, fmt.Errorf("%s is not installed (make services installs it)", tool)
		}
	}
	if err := os.MkdirAll(b.work, 0o755); err != nil {
		return nil, err
	}
	b.restorer = filepath.Join(b.work, "restore-bin")
	b.termsh = filepath.Join(b.work, "termshift-bin")
	for _, build := range [][]string{{"-o", b.restorer, "./restore/mysql/bench"}, {"-o", b.termsh, "./cmd/termshift"}} {
		cmd := exec.Command("go", append([]string{"build"}, build...)...)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return nil, fmt.Errorf("go build %s: %w", build[len(build)-1], err)
		}
	}
	return b, nil
}

func (b *bench) logf(format string, args ...any) {
	fmt.Fprintf(b.out, format+"\n", args...)
}

// sql runs the mariadb client.
func (b *bench) sql(ctx context.Context, stdin string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "mariadb", append(append([]string(nil), b.conn...), args...)...)
	cmd.Env = b.env
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("mariadb %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return string(out), nil
}

func (b *bench) drop(ctx context.Context, schemas ...string) {
	for _, s := range schemas {
		if _, err := b.sql(ctx, "", "-e", "DROP DATABASE IF EXISTS "+termshift.QuoteMySQL(s)); err != nil {
			b.logf("   (cleanup: %v)", err)
		}
	}
}

func (b *bench) fresh(ctx context.Context, s string) error {
	_, err := b.sql(ctx, "", "-e", "DROP DATABASE IF EXISTS "+termshift.QuoteMySQL(s)+"; CREATE DATABASE "+termshift.QuoteMySQL(s)+" DEFAULT CHARACTER SET utf8mb4")
	return err
}

// measure runs a command and returns its wall time, peak RSS and output.
func (b *bench) measure(ctx context.Context, stdin io.Reader, name string, args ...string) (measured, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = b.env
	cmd.Stdin = stdin
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	r := measured{seconds: time.Since(start).Seconds(), out: stdout.String()}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		r.rssKiB = ru.Maxrss
	}
	if err != nil {
		return r, fmt.Errorf("%s: %w\n%s%s", name, err, lastLines(stdout.String(), 5), lastLines(stderr.String(), 10))
	}
	r.ok = true
	return r, nil
}

func (b *bench) termshiftRun(r measured) {
	b.peakRSS = max(b.peakRSS, r.rssKiB)
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n") + "\n"
}

// prepare makes the cached backups of size n: a mydumper directory, and at
// the smallest size a mariadb-dump file.
func (b *bench) prepare(ctx context.Context, n int, withDump bool) (string, error) {
	dir := filepath.Join(b.work, strconv.Itoa(n))
	stamp := fmt.Sprintf("rows=%d tables=%d threads=%d v1", n, 3+mediumTables+smallTables, b.threads)
	have, _ := os.ReadFile(filepath.Join(dir, "stamp"))
	_, dumpErr := os.Stat(filepath.Join(dir, "bsc_src.sql"))
	if string(have) == stamp && (!withDump || dumpErr == nil) {
		return dir, nil
	}
	const src = "bsc_src"
	b.logf("== generating %s: %d tables, %d rows (cached in %s)", src, 3+mediumTables+smallTables, totalRows(n), dir)
	if err := os.RemoveAll(dir); err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	if err := b.fresh(ctx, src); err != nil {
		return "", err
	}
	defer b.drop(ctx, src)
	start := time.Now()
	if _, err := b.sql(ctx, schemaSQL(n), src); err != nil {
		return "", err
	}
	b.logf("   generated in %.1fs", time.Since(start).Seconds())
	if _, err := b.measure(ctx, nil, "mydumper", append(append([]string(nil), b.mdconn...), "-B", src, "-o", filepath.Join(dir, "mydumper"),
		"-t", strconv.Itoa(b.threads), "--rows", "100000", "-G", "-R", "-E")...); err != nil {
		return "", err
	}
	if withDump {
		f, err := os.Create(filepath.Join(dir, src+".sql"))
		if err != nil {
			return "", err
		}
		cmd := exec.CommandContext(ctx, "mariadb-dump", append(append([]string(nil), b.conn...), "--routines", "--triggers", "--events", "--single-transaction", src)...)
		cmd.Env, cmd.Stdout = b.env, f
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		err = cmd.Run()
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return "", fmt.Errorf("mariadb-dump: %w: %s", err, stderr.String())
		}
	}
	return dir, os.WriteFile(filepath.Join(dir, "stamp"), []byte(stamp), 0o644)
}

var restoredRE = regexp.MustCompile(`termshift restored (\d+) rows`)

// size measures one size.
func (b *bench) size(ctx context.Context, n int) (sizeResult, error) {
	smallest := n == b.sizes[0]
	for _, s := range b.sizes {
		smallest = smallest && n <= s
	}
	dir, err := b.prepare(ctx, n, smallest)
	if err != nil {
		return sizeResult{}, err
	}
	res := sizeResult{size: n, rows: totalRows(n)}
	const src, myl, ts, tsd, cli = "bsc_src", "bsc_myloader", "bsc_termshift", "bsc_termshift_dump", "bsc_client"
	defer b.drop(context.WithoutCancel(ctx), myl, ts, tsd, cli)
	th := strconv.Itoa(b.threads)
	b.logf("== size %s: %d rows in %d tables, threads %d", human(n), res.rows, 3+mediumTables+smallTables, b.threads)

	// restore: myloader (the anchor), then termshift, same threads
	if err := b.fresh(ctx, myl); err != nil {
		return res, err
	}
	if res.myl, err = b.measure(ctx, nil, "myloader", append(append([]string(nil), b.mdconn...), "-d", filepath.Join(dir, "mydumper"), "-s", src, "-B", myl, "-t", th, "-o")...); err != nil {
		return res, err
	}
	b.logf("   restore  myloader   %7.1fs  %8.0f rows/s", res.myl.seconds, float64(res.rows)/res.myl.seconds)
	if err := b.fresh(ctx, ts); err != nil {
		return res, err
	}
	if res.ts, err = b.measure(ctx, nil, b.restorer, "restore", "-dir", dir, "-path", "mydumper", "-from", src, "-to", ts, "-threads", th); err != nil {
		return res, err
	}
	b.termshiftRun(res.ts)
	if m := restoredRE.FindStringSubmatch(res.ts.out); m == nil || m[1] != strconv.Itoa(res.rows) {
		return res, fmt.Errorf("termshift restored %v rows, want %d: %s", m, res.rows, res.ts.out)
	}
	b.logf("   restore  termshift  %7.1fs  %8.0f rows/s  peak RSS %d MiB  termshift/myloader %.2f", res.ts.seconds, float64(res.rows)/res.ts.seconds, res.ts.rssKiB/1024, res.ts.seconds/res.myl.seconds)

	// the proof a restore ends with (COUNT(*) of every table), alone
	q := "SELECT " + countAll(ts)
	start := time.Now()
	if _, err := b.sql(ctx, "", "-N", "-e", q); err != nil {
		return res, err
	}
	res.proof = measured{seconds: time.Since(start).Seconds(), ok: true}
	b.logf("   proof    COUNT(*) of every table %.1fs (inside the restore's time)", res.proof.seconds)

	// same data both ways
	if err := b.sameData(ctx, myl, ts, smallest); err != nil {
		return res, err
	}

	if smallest {
		if err := b.fresh(ctx, tsd); err != nil {
			return res, err
		}
		if res.tsDump, err = b.measure(ctx, nil, b.restorer, "restore", "-dir", dir, "-path", src+".sql", "-from", src, "-to", tsd, "-threads", th); err != nil {
			return res, err
		}
		b.termshiftRun(res.tsDump)
		b.logf("   restore  termshift  %7.1fs  %8.0f rows/s  from the mariadb-dump file, peak RSS %d MiB", res.tsDump.seconds, float64(res.rows)/res.tsDump.seconds, res.tsDump.rssKiB/1024)
		if err := b.fresh(ctx, cli); err != nil {
			return res, err
		}
		f, err := os.Open(filepath.Join(dir, src+".sql"))
		if err != nil {
			return res, err
		}
		res.client, err = b.measure(ctx, f, "mariadb", append(append([]string(nil), b.conn...), cli)...)
		f.Close()
		if err != nil {
			return res, err
		}
		b.logf("   restore  mariadb    %7.1fs  %8.0f rows/s  the client < the same file; termshift/mariadb %.2f", res.client.seconds, float64(res.rows)/res.client.seconds, res.tsDump.seconds/res.client.seconds)
		if err := b.sameData(ctx, cli, tsd, true); err != nil {
			return res, err
		}
	}

	// backup of the restored schema: mydumper (the anchor), then termshift
	out := filepath.Join(b.work, "backup")
	defer os.RemoveAll(out)
	if err := os.RemoveAll(out); err != nil {
		return res, err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return res, err
	}
	if res.backupMD, err = b.measure(ctx, nil, "mydumper", append(append([]string(nil), b.mdconn...), "-B", ts, "-o", filepath.Join(out, "md"), "-t", th, "--rows", "100000", "-c", "-G", "-R", "-E")...); err != nil {
		return res, err
	}
	b.logf("   backup   mydumper   %7.1fs  %8.0f rows/s", res.backupMD.seconds, float64(res.rows)/res.backupMD.seconds)
	if res.backupTS, err = b.measure(ctx, nil, b.termsh, "backup", "mysql", "--dsn", "$TERMSHIFT_MYSQL_DSN", "--schema", ts, "--to", filepath.Join(out, "ts"),
		"--id", "bench", "--threads", th, "--chunk-rows", "100000", "--compress", "gzip"); err != nil {
		return res, err
	}
	b.termshiftRun(res.backupTS)
	b.logf("   backup   termshift  %7.1fs  %8.0f rows/s  peak RSS %d MiB  termshift/mydumper %.2f", res.backupTS.seconds, float64(res.rows)/res.backupTS.seconds, res.backupTS.rssKiB/1024, res.backupTS.seconds/res.backupMD.seconds)
	return res, nil
}

func countAll(schema string) string {
	q := termshift.QuoteMySQL(schema)
	parts := []string{"(SELECT COUNT(*) FROM " + q + ".auth_user)", "(SELECT COUNT(*) FROM " + q + ".courseware_studentmodule)",
		"(SELECT COUNT(*) FROM " + q + ".coursewarehistoryextended_studentmodulehistoryextended)"}
	for i := range mediumTables {
		parts = append(parts, fmt.Sprintf("(SELECT COUNT(*) FROM %s.student_medium%02d)", q, i))
	}
	for i := range smallTables {
		parts = append(parts, "(SELECT COUNT(*) FROM "+q+"."+smallName(i)+")")
	}
	return strings.Join(parts, " + ")
}

// sameData compares two restores: CHECKSUM TABLE of the big tables (all
// tables when all is set) and their index definitions.
func (b *bench) sameData(ctx context.Context, want, got string, all bool) error {
	tables := []string{"auth_user", "courseware_studentmodule", "coursewarehistoryextended_studentmodulehistoryextended"}
	if all {
		for i := range mediumTables {
			tables = append(tables, fmt.Sprintf("student_medium%02d", i))
		}
		for i := range smallTables {
			tables = append(tables, smallName(i))
		}
	}
	sums := func(schema string) (string, error) {
		var list []string
		for _, t := range tables {
			list = append(list, termshift.QuoteMySQL(schema)+"."+termshift.QuoteMySQL(t))
		}
		out, err := b.sql(ctx, "", "-N", "-e", "CHECKSUM TABLE "+strings.Join(list, ", ")+"; "+
			"SELECT TABLE_NAME, INDEX_NAME, NON_UNIQUE, SEQ_IN_INDEX, COLUMN_NAME FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = '"+schema+"' ORDER BY 1, 2, 4")
		if err != nil {
			return "", err
		}
		return strings.ReplaceAll(out, schema+".", ""), nil
	}
	w, err := sums(want)
	if err != nil {
		return err
	}
	g, err := sums(got)
	if err != nil {
		return err
	}
	if w != g {
		return fmt.Errorf("%s and %s differ (CHECKSUM TABLE or indexes):\n%s", want, got, firstDiff(w, g))
	}
	b.logf("   same data and indexes in %s and %s (CHECKSUM TABLE of %d tables)", want, got, len(tables))
	return nil
}

func firstDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := range min(len(al), len(bl)) {
		if al[i] != bl[i] {
			return fmt.Sprintf("  %s\n  %s", al[i], bl[i])
		}
	}
	return fmt.Sprintf("  %d lines against %d", len(al), len(bl))
}

// table prints the per-size figures and whether cost grows linearly.
func (b *bench) table(results []sizeResult) {
	b.logf("\nbench-scale, threads %d (rows/s; peak RSS of termshift)", b.threads)
	b.logf("%10s %10s | %12s %12s %6s %8s | %12s %12s %6s %8s", "size", "rows", "restore ts", "myloader", "ratio", "RSS MiB", "backup ts", "mydumper", "ratio", "RSS MiB")
	for _, r := range results {
		rows := float64(r.rows)
		b.logf("%10s %10d | %12.0f %12.0f %6.2f %8d | %12.0f %12.0f %6.2f %8d", human(r.size), r.rows,
			rows/r.ts.seconds, rows/r.myl.seconds, r.ts.seconds/r.myl.seconds, r.ts.rssKiB/1024,
			rows/r.backupTS.seconds, rows/r.backupMD.seconds, r.backupTS.seconds/r.backupMD.seconds, r.backupTS.rssKiB/1024)
	}
	// Each step from one size to the next: the cost of a row must not grow.
	for k := 1; k < len(results); k++ {
		a, z := results[k-1], results[k]
		for _, x := range []struct {
			what string
			a, b measured
		}{{"termshift restore", a.ts, z.ts}, {"myloader", a.myl, z.myl}, {"termshift backup", a.backupTS, z.backupTS}, {"mydumper", a.backupMD, z.backupMD}} {
			g := (x.b.seconds / float64(z.rows)) / (x.a.seconds / float64(a.rows))
			verdict := "linear"
			switch {
			case g > 1.25:
				verdict = fmt.Sprintf("NOT linear: a row costs %.2fx what it cost at %s", g, human(a.size))
			case g < 0.8:
				verdict = fmt.Sprintf("linear or better: a row costs %.2fx what it cost at %s (fixed costs weigh on the smaller size)", g, human(a.size))
			}
			b.logf("  %s -> %s  %-18s x%.1f rows in x%.1f time: %s", human(a.size), human(z.size), x.what, float64(z.rows)/float64(a.rows), x.b.seconds/x.a.seconds, verdict)
		}
	}
}

// others runs the scrub and MongoDB benchmarks when they exist and returns
// their figures for the summary ("n/a" when absent).
func (b *bench) others(ctx context.Context) (scrub, mongo string) {
	scrub, mongo = "n/a", "n/a"
	if line, ok := b.program(ctx, "restore/scrub/bench", "scrub-bench:"); ok {
		if s, rss, ok := parseScrub(line); ok {
			scrub = s
			b.peakRSS = max(b.peakRSS, rss*1024)
		}
	}
	if line, ok := b.program(ctx, "restore/mongo/bench", "mongo-bench:"); ok {
		if r, rss, ok := parseMongo(line); ok {
			mongo = r
			b.peakRSS = max(b.peakRSS, rss*1024)
		}
	}
	return scrub, mongo
}

// program runs go run ./dir when dir exists and returns its last line,
// which must start with prefix.
func (b *bench) program(ctx context.Context, dir, prefix string) (string, bool) {
	if st, err := os.Stat(filepath.Join(b.root, dir)); err != nil || !st.IsDir() {
		b.logf("== %s: not in this tree, skipped", dir)
		return "", false
	}
	b.logf("== go run ./%s", dir)
	cmd := exec.CommandContext(ctx, "go", "run", "./"+dir)
	cmd.Env = os.Environ()
	var stdout bytes.Buffer
	cmd.Stdout, cmd.Stderr = io.MultiWriter(&stdout, b.out), os.Stderr
	if err := cmd.Run(); err != nil {
		b.logf("   %s failed: %v", dir, err)
		return "", false
	}
	line := lastLine(stdout.String())
	if !strings.HasPrefix(line, prefix) {
		b.logf("   %s's last line is not %q...: %q", dir, prefix, line)
		return "", false
	}
	return line, true
}

func lastLine(s string) string {
	var last string
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		if t := strings.TrimSpace(sc.Text()); t != "" {
			last = t
		}
	}
	return last
}

var (
	scrubRE = regexp.MustCompile(`^scrub-bench: mysql ([0-9.]+) rows/s, mongo ([0-9.]+) docs/s, peak RSS ([0-9]+) MiB$`)
	mongoRE = regexp.MustCompile(`^mongo-bench: restore ([0-9.]+) docs/s, ceiling ([0-9.]+) docs/s, ratio ([0-9.]+), peak RSS ([0-9]+) MiB$`)
)

// parseScrub reads "scrub-bench: mysql N rows/s, mongo N docs/s, peak RSS N MiB".
func parseScrub(line string) (rowsPerSec string, rssMiB int64, ok bool) {
	m := scrubRE.FindStringSubmatch(line)
	if m == nil {
		return "", 0, false
	}
	rss, _ := strconv.ParseInt(m[3], 10, 64)
	return m[1], rss, true
}

// parseMongo reads "mongo-bench: restore N docs/s, ceiling N docs/s, ratio R, peak RSS N MiB".
func parseMongo(line string) (ratio string, rssMiB int64, ok bool) {
	m := mongoRE.FindStringSubmatch(line)
	if m == nil {
		return "", 0, false
	}
	rss, _ := strconv.ParseInt(m[4], 10, 64)
	return m[3], rss, true
}

// human writes 250000 as 250k and 1000000 as 1M.
func human(n int) string {
	switch {
	case n >= 1e6 && n%1e6 == 0:
		return strconv.Itoa(n/1e6) + "M"
	case n >= 1e3 && n%1e3 == 0:
		return strconv.Itoa(n/1e3) + "k"
	}
	return strconv.Itoa(n)
}
