package follow_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
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

// BenchmarkSettle measures what a long settling costs the writes the
// follower applies meanwhile: 100,000 recorded rows that stay unequal (so
// every settling compares them all, one chunk at a time), and a write to
// live every 20 ms for 5 s, each timed from its commit to the status that
// says it was applied. go test -run '^$' -bench Settle -benchtime 1x ./follow/
func BenchmarkSettle(b *testing.B) {
	s := server(b)
	f := newFollower(b, s)
	live, next := s.pair(b)
	names := map[string]string{live: next}
	const rows = 100_000
	for range b.N {
		s.recordUnequal(b, f, live, next, rows)
		type write struct {
			at   follow.Position
			sent time.Time
		}
		var (
			mu        sync.Mutex
			pending   []write
			latencies []time.Duration
			settlings int
			settling  bool
		)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			_, err := f.Run(ctx, follow.Request{Key: next, Schemas: names, Interval: 10 * time.Millisecond, SettleEvery: 10 * time.Millisecond,
				Report: func(st follow.Status) {
					mu.Lock()
					defer mu.Unlock()
					for len(pending) > 0 && st.Applied.Compare(pending[0].at) >= 0 {
						latencies = append(latencies, time.Since(pending[0].sent))
						pending = pending[1:]
					}
					if settling && st.SettleRows == 0 {
						settlings++
					}
					settling = st.SettleRows > 0
				}})
			done <- err
		}()
		for i := range 250 {
			time.Sleep(20 * time.Millisecond)
			s.exec(b, "INSERT INTO "+live+".pk (id, name) VALUES (?, 'w')", rows+1+i)
			at := s.head(b, f)
			mu.Lock()
			pending = append(pending, write{at: at, sent: time.Now()})
			mu.Unlock()
		}
		for deadline := time.Now().Add(time.Minute); ; time.Sleep(10 * time.Millisecond) {
			mu.Lock()
			left := len(pending)
			mu.Unlock()
			if left == 0 {
				break
			}
			if time.Now().After(deadline) {
				b.Fatalf("%d writes not applied in a minute", left)
			}
		}
		cancel()
		if err := <-done; err != nil {
			b.Fatal(err)
		}
		slices.Sort(latencies)
		fmt.Printf("follow-settle: %d settlings of %d rows while 250 writes were applied; apply latency p50 %.0f ms, p99 %.0f ms, max %.0f ms\n",
			settlings, rows, ms(latencies[len(latencies)/2]), ms(latencies[len(latencies)*99/100]), ms(latencies[len(latencies)-1]))
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
