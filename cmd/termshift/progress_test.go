package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/termshift/termshift/restore"
)

func TestProgressLine(t *testing.T) {
	full := "[" + strings.Repeat("#", barWidth) + "] "
	tests := []struct {
		name    string
		ev      restore.Event
		elapsed time.Duration
		want    string
	}{
		{"table done short of its byte total", restore.Event{Object: "auth_user", Unit: restore.UnitRows, Count: 8512, Bytes: 950, TotalBytes: 1000, Done: true}, time.Second,
			"ok auth_user                                " + full + "      8512 rows    950.0B    950.0B/s"},
		{"one-row table done", restore.Event{Object: "site", Unit: restore.UnitRows, Count: 1, Bytes: 45, TotalBytes: 100, Done: true}, time.Second,
			"ok site                                     " + full + "         1 rows     45.0B     45.0B/s"},
		{"half way by rows with an eta", restore.Event{Object: "courseware", Unit: restore.UnitRows, Count: 500, Total: 1000, Bytes: 1024, TotalBytes: 4096}, 10 * time.Second,
			"   courseware                               [##########..........]        500 rows    1.0KiB    102.4B/s eta 10s"},
		{"documents without a total", restore.Event{Object: "modulestore", Unit: restore.UnitDocuments, Count: 42, Bytes: 2048}, 2 * time.Second,
			"   modulestore                                      42 documents    2.0KiB    1.0KiB/s"},
		{"definitions", restore.Event{Object: "queues", Unit: restore.UnitObjects, Count: 3, Total: 8}, time.Second,
			"   queues                                   [#######.............]          3 objects"},
		{"definitions done", restore.Event{Object: "queues", Unit: restore.UnitObjects, Count: 8, Total: 8, Done: true}, time.Second,
			"ok queues                                   " + full + "         8 objects"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := line(tt.ev, tt.elapsed); got != tt.want {
				t.Errorf("line =\n%q\nwant\n%q", got, tt.want)
			}
		})
	}
}

// TestProgressNonTTY: off a terminal, a finished object prints one line at
// once, full and in its unit; a running one waits for the interval.
func TestProgressNonTTY(t *testing.T) {
	var b bytes.Buffer
	p := newProgress(&b)
	if p.tty {
		t.Fatal("a buffer is a terminal")
	}
	p.Event(restore.Event{Object: "queues", Unit: restore.UnitObjects, Count: 1, Total: 2})
	if b.Len() != 0 {
		t.Errorf("a running object printed at once: %q", b.String())
	}
	p.Event(restore.Event{Object: "queues", Unit: restore.UnitObjects, Count: 2, Total: 2, Done: true})
	p.Event(restore.Event{Object: "t", Unit: restore.UnitRows, Count: 1, Bytes: 10, TotalBytes: 30, Done: true})
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("printed %q, want two lines", b.String())
	}
	for i, want := range []string{"ok queues", "ok t"} {
		if !strings.HasPrefix(lines[i], want) || !strings.Contains(lines[i], "["+strings.Repeat("#", barWidth)+"]") {
			t.Errorf("line %d = %q, want %q with a full bar", i, lines[i], want)
		}
	}
	if strings.Contains(lines[0], "B/s") || !strings.Contains(lines[0], "2 objects") {
		t.Errorf("definitions line %q shows bytes or lacks its unit", lines[0])
	}
}
