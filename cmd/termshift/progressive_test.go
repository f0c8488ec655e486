package main

import (
	"bytes"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/termshift/termshift/rollout"
	"github.com/termshift/termshift/rollout/analysis"
)

func TestProgressLines(t *testing.T) {
	var b bytes.Buffer
	res := analysis.Judge(analysis.Sample{Requests: 40, Errors: 12, ErrorRate: 30, P99: 3 * time.Millisecond},
		analysis.Sample{Requests: 760, P99: 2 * time.Millisecond}, analysis.Thresholds{MaxErrorRate: 1, MinRequests: 20}, 2*time.Second)
	for _, ev := range []rollout.ProgressEvent{
		{Step: 1, Of: 4, Percent: 5, Event: "weight"},
		{Step: 1, Of: 4, Percent: 5, Event: "fail", Result: &res},
		{Step: 1, Of: 4, Percent: 0, Event: "rolled-back", Detail: "analysis failed at step 1 of 4 (5%): error rate 30.00% > 1%"},
	} {
		printProgressEvent(&b, "patch", ev)
	}
	want := `step 1/4   5% to patch: weight applied
step 1/4   5% to patch: fail (error rate 30.00% > 1% (12 of 40 requests)); patch: 40 requests, 30.00% errors, p99 3ms; live: 760 requests, 0.00% errors, p99 2ms
step 1/4   0% to patch: rolled-back: analysis failed at step 1 of 4 (5%): error rate 30.00% > 1%
`
	if diff := cmp.Diff(b.String(), want); diff != "" {
		t.Errorf("step lines (-got +want):\n%s", diff)
	}
}
