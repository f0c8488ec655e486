package main

import (
	"strings"
	"testing"
)

func TestParseOtherBenchmarks(t *testing.T) {
	rate, rss, ok := parseScrub("scrub-bench: mysql 153210 rows/s, mongo 48211 docs/s, peak RSS 61 MiB")
	if !ok || rate != "153210" || rss != 61 {
		t.Errorf("parseScrub = %q %d %v", rate, rss, ok)
	}
	ratio, rss, ok := parseMongo("mongo-bench: restore 41000 docs/s, ceiling 45000 docs/s, ratio 0.91, peak RSS 88 MiB")
	if !ok || ratio != "0.91" || rss != 88 {
		t.Errorf("parseMongo = %q %d %v", ratio, rss, ok)
	}
	for _, bad := range []string{"", "scrub-bench: mysql fast", "mongo-bench: restore 1 docs/s, ceiling 2 docs/s, ratio 0.5", "x scrub-bench: mysql 1 rows/s, mongo 1 docs/s, peak RSS 1 MiB"} {
		if _, _, ok := parseScrub(bad); ok {
			t.Errorf("parseScrub(%q) accepted", bad)
		}
		if _, _, ok := parseMongo(bad); ok {
			t.Errorf("parseMongo(%q) accepted", bad)
		}
	}
	if got := lastLine("a\nscrub-bench: x\n\n"); got != "scrub-bench: x" {
		t.Errorf("lastLine = %q", got)
	}
}

func TestGeneratedSchema(t *testing.T) {
	sql := schemaSQL(1000)
	if n := strings.Count(sql, "CREATE TABLE "); n < 500 {
		t.Errorf("%d tables, want at least 500", n)
	}
	if n := strings.Count(sql, "FOREIGN KEY"); n < 100 {
		t.Errorf("%d foreign keys", n)
	}
	for n, want := range map[int]string{250000: "250k", 1000000: "1M", 4000000: "4M", 1500: "1500"} {
		if got := human(n); got != want {
			t.Errorf("human(%d) = %q, want %q", n, got, want)
		}
	}
}
