package kubernetes_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/termshift/termshift/rollout/kube/kubetest"
	"github.com/termshift/termshift/rollout/router"
)

// BenchmarkK8sSwitch measures, on the local API server (`make bench-k8s`):
// the deploy of a 3-replica release until its Deployment is Available, and
// each cutover and rollback from the switch until the public Service's
// EndpointSlices list only the new live release's pods (the endpoint
// controller's work included; kube-proxy's and the ingress controller's are
// not: there are none here). Its last line:
// bench-k8s: cutover N ms, rollback N ms, deploy N.Ns (medians).
func BenchmarkK8sSwitch(b *testing.B) {
	c := newCluster(b)
	start := time.Now()
	blue := c.deploy(b, "blue", 3)
	deploy := time.Since(start)
	green := c.deploy(b, "green", 3)
	r := c.router()
	ctx := b.Context()
	table := func(live string) router.Table {
		return router.Table{Live: live, Backends: []router.Backend{blue, green}}
	}
	switchTo := func(live string) time.Duration {
		b.Helper()
		if err := r.Ready(ctx); err != nil { // the plan, as a cutover reads it
			b.Fatal(err)
		}
		t0 := time.Now()
		if err := r.Switch(ctx, table(live)); err != nil {
			b.Fatal(err)
		}
		wctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		if _, err := kubetest.WaitServed(wctx, c.admin, c.ns, "lms", c.env, live, 10*time.Millisecond); err != nil {
			b.Fatal(err)
		}
		return time.Since(t0)
	}
	switchTo("blue")
	var cutovers, rollbacks []time.Duration
	b.ResetTimer()
	for range b.N {
		cutovers = append(cutovers, switchTo("green"))
		rollbacks = append(rollbacks, switchTo("blue"))
	}
	b.StopTimer()
	median := func(d []time.Duration) time.Duration {
		slices.Sort(d)
		return d[len(d)/2]
	}
	b.ReportMetric(float64(median(cutovers).Milliseconds()), "cutover-ms")
	b.ReportMetric(float64(median(rollbacks).Milliseconds()), "rollback-ms")
	// On a line of its own: the benchmark's name may be printed without a
	// newline before it.
	fmt.Printf("\nbench-k8s: %d switches each way, cutover min %d max %d ms, rollback min %d max %d ms\n", len(cutovers),
		cutovers[0].Milliseconds(), cutovers[len(cutovers)-1].Milliseconds(), rollbacks[0].Milliseconds(), rollbacks[len(rollbacks)-1].Milliseconds())
	fmt.Printf("bench-k8s: cutover %d ms, rollback %d ms, deploy %.1fs\n", median(cutovers).Milliseconds(), median(rollbacks).Milliseconds(), deploy.Seconds())
}
