package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/termshift/termshift/rollout/store"
)

// BenchmarkCanary is make bench-canary: in the end-to-end environment of
// TestProgressiveCutoverEndToEnd (current live from the backup, two demo
// LMS patch releases on its data, public load of 150 requests/s through
// the router, no cookies), `cutover --steps 5,25,50,100 --interval 2s` of
// the patch that fails 30% of its requests, then of the healthy patch. It
// prints every step with the requests each patch served and failed, and
// last the summary line: the time from the faulty patch's first weight to
// its split back at 0, and the requests the healthy patch failed.
func BenchmarkCanary(b *testing.B) {
	var bad, good canaryRun
	for range b.N {
		e := canaryE2E(b)
		e.must("deploy", faultyPatch)
		e.must("upgrade", healthyPatch, "--reason", "bench: the healthy patch deployed and verified")
		bad = e.progressive(faultyPatch, append(canarySteps, "--skip-verify")...)
		if bad.Report.Status != store.ProgressRolledBack {
			b.Fatalf("faulty patch: exit %d, %s %q\n%s", bad.Code, bad.Report.Status, bad.Report.Why, bad.Stderr)
		}
		good = e.progressive(healthyPatch, canarySteps...)
		if good.Report.Status != store.ProgressPromoted {
			b.Fatalf("healthy patch: exit %d, %s %q\n%s", good.Code, good.Report.Status, good.Report.Why, good.Stderr)
		}
	}
	fmt.Printf("== faulty patch (demo-lms web --fault-rate 0.3), %s:\n   %s\n", strings.Join(canarySteps, " "), strings.Join(bad.steps(), "\n   "))
	fmt.Printf("   public load during the run: %s\n", bad.Load)
	fmt.Printf("   requests failed by the faulty patch in all (its step, and until the split was back at 0): %d of %d it served\n",
		bad.Load.FailedBy[faultyPatch], bad.Load.FailedBy[faultyPatch]+bad.Load.ServedBy[faultyPatch])
	fmt.Printf("== healthy patch:\n   %s\n", strings.Join(good.steps(), "\n   "))
	fmt.Printf("   public load during the run: %s\n", good.Load)
	fmt.Printf("bench-canary: faulty release rolled back after %.1fs, healthy release promoted, failed by the healthy release %d\n",
		bad.Report.RolledBackAfter.Seconds(), good.Load.FailedBy[healthyPatch])
}
