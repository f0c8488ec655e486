package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/termshift/termshift/loadgen"
)

const loadUsage = `usage: demo-lms load --url URL [--rate N] [--duration D] [--allow-503]
                     [--writes [--run-id ID] [--acked FILE]]

Paced traffic at URL (the router's public address), as users would send it,
until the duration ends or the process is stopped (SIGINT or SIGTERM); then a
summary. Requests are GETs, or with --writes POSTs of {"id": "RUNID-NNNNNNNN"}
to URL (the LMS's /api/writes), each id unique. Exit status 1 when a request
failed (with --allow-503: failed otherwise than with 503, the answer of the
router's maintenance window).

Flags:
`

// runLoad is `demo-lms load`. The demo runs it during cutover and rollback
// to show that no request fails; the final-sync benchmark runs it with
// --writes and checks every id of --acked against the next release.
func runLoad(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("demo-lms load", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	url := fs.String("url", "", "URL to send requests to (the router's public address)")
	rate := fs.Int("rate", 200, "requests per second (1-5000)")
	dur := fs.Duration("duration", time.Minute, "how long at most (up to 1h)")
	writes := fs.Bool("writes", false, `POST {"id": ID} to URL with a unique ID per request`)
	runID := fs.String("run-id", "", "prefix of the write ids (default: 12 random hex digits)")
	acked := fs.String("acked", "", "with --writes: write the acknowledged ids (2xx) to FILE, one a line")
	allow503 := fs.Bool("allow-503", false, "a 503 answer (maintenance) is not a failure of the run")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return printUsage(stdout, loadUsage, fs)
		}
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
	if !*writes && (*runID != "" || *acked != "") {
		return fmt.Errorf("load: --run-id and --acked need --writes")
	}
	res, err := loadgen.Run(ctx, loadgen.Options{URL: *url, Rate: *rate, Duration: *dur, Writes: *writes, RunID: *runID})
	if err != nil {
		return fmt.Errorf("load: %w", err)
	}
	fmt.Fprintf(stdout, "load: sent %d, failed %d, p50 %s, p99 %s, served by %v\n", res.Sent, res.Failed, res.P50, res.P99, res.ServedBy)
	if res.Failed > 0 {
		var parts []string
		for _, c := range loadgen.Classes[1:] {
			if st, ok := res.ByClass[c]; ok {
				parts = append(parts, fmt.Sprintf("%s %d", c, st.Count))
			}
		}
		fmt.Fprintf(stdout, "load: failures by class: %s; by release: %v\n", strings.Join(parts, ", "), res.FailedBy)
	}
	if *writes {
		fmt.Fprintf(stdout, "load: writes %s: %d acknowledged, %d maintenance (503), %d server errors, %d rejected, %d unanswered\n",
			res.RunID, len(res.Acked), len(res.Maintenance), len(res.ServerErrors), len(res.Rejected), len(res.NoAnswer))
	}
	if *acked != "" {
		if err := writeLines(*acked, res.Acked); err != nil {
			return fmt.Errorf("load: --acked: %w", err)
		}
	}
	for _, e := range res.Errors {
		fmt.Fprintf(stdout, "load: error: %s\n", e)
	}
	failed := res.Failed
	if *allow503 {
		failed -= res.ByClass[loadgen.ClassMaintenance].Count
	}
	if failed > 0 {
		return fmt.Errorf("load: %d of %d requests failed", failed, res.Sent)
	}
	return nil
}

// writeLines writes lines to path through a temporary file, so a reader
// never sees half a list.
func writeLines(path string, lines []string) error {
	var b strings.Builder
	for _, l := range lines {
		b.WriteString(l)
		b.WriteByte('\n')
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(b.String()), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// printUsage writes a mode's usage text and its flags.
func printUsage(w io.Writer, text string, fs *flag.FlagSet) error {
	fmt.Fprint(w, text)
	fs.SetOutput(w)
	fs.PrintDefaults()
	return nil
}
