package follow_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/termshift/termshift/follow"
)

// BenchmarkApply measures how fast a follower applies a backlog (a day of
// writes after last night's snapshot): 200,000 inserted rows in 200
// transactions, then each of them updated in transactions of 100 rows,
// into a table with an integer primary key, whose changed rows it records
// by key. go test -run '^$' -bench Apply -benchtime 1x ./follow/
func BenchmarkApply(b *testing.B) {
	s := server(b)
	f := newFollower(b, s)
	live, next := s.pair(b)
	const rows, per = 200_000, 1_000
	for range b.N {
		start := s.head(b, f)
		for i := 0; i < rows; i += per {
			s.exec(b, fmt.Sprintf("INSERT INTO %s.pk (id, name) SELECT seq, 'r' FROM %s.seq_%d_to_%d", live, live, i+1, i+per))
		}
		for i := 0; i < rows; i += 100 {
			s.exec(b, fmt.Sprintf("UPDATE %s.pk SET amount = 1 WHERE id BETWEEN %d AND %d", live, i+1, i+100))
		}
		until := s.head(b, f)
		t0 := time.Now()
		st, err := f.Run(context.Background(), follow.Request{Key: next, Schemas: map[string]string{live: next}, Start: start, Until: &until})
		if err != nil {
			b.Fatal(err)
		}
		d := time.Since(t0)
		var keys int
		if err := s.db.QueryRow("SELECT COUNT(*) FROM "+follow.PositionSchema+".touched_rows WHERE follower = ?", next).Scan(&keys); err != nil {
			b.Fatal(err)
		}
		fmt.Printf("follow-apply: %d transactions, %d rows changed in %.1fs (%.0f rows/s), %d keys recorded\n", st.Transactions, 2*rows, d.Seconds(), float64(2*rows)/d.Seconds(), keys)
	}
}
