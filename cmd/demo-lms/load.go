package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/termshift/termshift/rollout/bench"
)

// runLoad is `demo-lms load`: paced traffic at the router, as users would
// send it, until the duration ends or the process is stopped (SIGINT or
// SIGTERM); then one summary line. The demo runs it during cutover and
// rollback to show that no request fails.
func runLoad(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("demo-lms load", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	url := fs.String("url", "", "URL to send GET requests to (the router's public address)")
	rate := fs.Int("rate", 200, "requests per second")
	dur := fs.Duration("duration", time.Minute, "how long at most")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("load: %w", err)
	}
	if *url == "" {
		return fmt.Errorf("load: --url is required")
	}
	if *rate <= 0 || *rate > 5000 {
		return fmt.Errorf("load: --rate %d: want 1..5000 requests per second", *rate)
	}
	if *dur <= 0 || *dur > time.Hour {
		return fmt.Errorf("load: --duration %s: want up to 1h", *dur)
	}
	res := bench.Load(ctx, *url, *rate, *dur, nil)
	fmt.Fprintf(stdout, "load: sent %d, failed %d, p50 %s, p99 %s, served by %v\n", res.Sent, res.Failed, res.P50, res.P99, res.ServedBy)
	for _, e := range res.Errors {
		fmt.Fprintf(stdout, "load: error: %s\n", e)
	}
	if res.Failed > 0 {
		return fmt.Errorf("load: %d of %d requests failed", res.Failed, res.Sent)
	}
	return nil
}
