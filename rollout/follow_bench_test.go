package rollout_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/termshift/termshift/loadgen"
	"github.com/termshift/termshift/rollout"
)

// BenchmarkCatchUp is make bench-catchup: the final sync's maintenance
// window with catch-up from the binary log against the full sync, at two
// sizes of the live release's MySQL data (the bench table of make
// bench-restore, TERMSHIFT_BENCH_CATCHUP_ROWS, default 250000,1000000),
// each under a steady write load of 200 writes/s through the router. After
// each switch, every acknowledged write id must be in next's table. Then
// the catch-up again at both sizes with every write also updating a row of
// the big table, for 15 s before the window while the follower settles
// the changed rows every 2 s. It prints each window with its parts and
// last the summary line (of the first runs).
func BenchmarkCatchUp(b *testing.B) {
	sizes := []int{250_000, 1_000_000}
	if v := os.Getenv("TERMSHIFT_BENCH_CATCHUP_ROWS"); v != "" {
		sizes = nil
		for _, f := range strings.Split(v, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n < 0 {
				b.Fatalf("TERMSHIFT_BENCH_CATCHUP_ROWS=%q: want row counts, comma-separated", v)
			}
			sizes = append(sizes, n)
		}
	}
	if len(sizes) != 2 {
		b.Fatalf("want two sizes, got %v", sizes)
	}
	var lost int
	var windows, hot [2]time.Duration
	for range b.N {
		lost = 0
		for i, rows := range sizes {
			cu := benchWindow(b, rows, true, false)
			full := benchWindow(b, rows, false, false)
			lost += cu.lost + full.lost
			windows[i] = cu.window
			fmt.Printf("== %d rows: window with catch-up %.1fs, with the full sync %.1fs (%.0fx)\n", rows, cu.window.Seconds(), full.window.Seconds(), full.window.Seconds()/cu.window.Seconds())
		}
		// The same with every write also updating a row of the big table:
		// the proof then reads that table on both sides.
		for i, rows := range sizes {
			h := benchWindow(b, rows, true, true)
			lost += h.lost
			hot[i] = h.window
		}
		fmt.Printf("== when every write also updates courseware_studentmodule: window with catch-up %.1fs at %d rows, %.1fs at %d rows\n", hot[0].Seconds(), sizes[0], hot[1].Seconds(), sizes[1])
	}
	fmt.Printf("bench-catchup: lost %d, window %.1fs at %d rows, %.1fs at %d rows\n", lost, windows[0].Seconds(), sizes[0], windows[1].Seconds(), sizes[1])
}

type windowRun struct {
	window time.Duration
	lost   int
}

func benchWindow(b *testing.B, rows int, catchUp, hot bool) windowRun {
	t0 := time.Now()
	w := newFollowWorld(b, worldOptions{Rows: rows, Apps: true, NoSync: !catchUp, Hot: hot})
	how := "full sync"
	if catchUp {
		how = "catch-up"
		if hot {
			how = "catch-up, writes to courseware_studentmodule too,"
		}
		fmt.Printf("== %d rows, %s: world ready (filled, synced) in %.0fs; following ...\n", rows, how, time.Since(t0).Seconds())
		t1 := time.Now()
		if hot {
			w.settle = 2 * time.Second
		}
		w.startFollow()
		fmt.Printf("   follower caught up in %.1fs\n", time.Since(t1).Seconds())
	} else {
		fmt.Printf("== %d rows, %s: world ready (filled) in %.0fs\n", rows, how, time.Since(t0).Seconds())
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// With the big table written, the load runs longer first: the
	// follower settles the changed rows every 2 s meanwhile, and the
	// window's proof reads only those changed since.
	at := 3 * time.Second
	if hot {
		at = 15 * time.Second
	}
	var rep *rollout.SwitchReport
	var cerr error
	res, err := loadgen.Run(ctx, loadgen.Options{URL: "http://" + w.router + "/api/writes", Rate: 200, Duration: 30 * time.Minute, Writes: true,
		Events: []loadgen.Event{{Name: "final sync", At: at, Want: "next", Do: func() {
			o := orchestrator(b, w.env, "cutover next --final-sync")
			o.Reason = "bench-catchup"
			cerr = o.Locked(context.Background(), func() error {
				var err error
				rep, err = o.Cutover(context.Background(), "next", rollout.CutoverOptions{FinalSync: true, SkipVerify: true})
				return err
			})
			time.Sleep(2 * time.Second)
			cancel()
		}}}})
	if err != nil {
		b.Fatal(err)
	}
	if cerr != nil || rep == nil || rep.Window == nil {
		b.Fatalf("cutover --final-sync (%s): %v", how, cerr)
	}
	// Every acknowledged write is in next.
	have := map[string]bool{}
	rowsq, err := w.db.Query("SELECT id FROM " + w.next + ".demo_writes")
	if err != nil {
		b.Fatal(err)
	}
	for rowsq.Next() {
		var id string
		if err := rowsq.Scan(&id); err != nil {
			b.Fatal(err)
		}
		have[id] = true
	}
	rowsq.Close()
	run := windowRun{window: rep.Window.Total}
	for _, id := range res.Acked {
		if !have[id] {
			run.lost++
		}
	}
	fmt.Printf("   %s window %s\n", how, rep.Window.Parts())
	if s := rep.Window.SyncReport; s != nil {
		for _, n := range s.Notes {
			fmt.Printf("   note: %s\n", n)
		}
		fmt.Printf("   proven %v, %d MySQL rows\n", s.Proven, s.Rows)
	}
	fmt.Printf("   load: %s\n", res)
	fmt.Printf("   lost %d of %d acknowledged writes\n", run.lost, len(res.Acked))
	return run
}
