package main

import (
	"context"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/termshift/termshift"
	"github.com/termshift/termshift/rollout"
)

func (a *app) syncCommand() *cobra.Command {
	var opts rollout.SyncOptions
	var reason string
	cmd := &cobra.Command{
		Use:   "sync RELEASE --from LIVE",
		Short: "Copy the live release's data into a release's namespaces, straight from a snapshot, with proof",
		Long: `Copy the MySQL schemas and MongoDB databases of --from (the live release) into
RELEASE's namespaces: a consistent snapshot of the source is streamed straight
into the loaders, in process, with no file in between. Proof, as for a
restore: every table's and collection's count inside the source's snapshot
against the target after loading, and for MySQL an order-independent hash of
the rows on both sides. RabbitMQ: definitions only, messages in queues are not
copied. Memcached: RELEASE's cluster is flushed (a cold cache).

The source is only read. A sync into the live release or the rollback target
is refused (exit 4) before anything is touched. Outside a maintenance window
the source may change while it is copied: the sync compares it with its
snapshot afterwards (counts, AUTO_INCREMENT, last update, binary log
position) and, when it changed, says so and claims no proof (exit 5). For a
cutover that loses no write, use 'cutover RELEASE --final-sync'.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if opts.From == "" {
				return usageError{fmt.Errorf("--from LIVE is required")}
			}
			if !a.jsonOut {
				opts.Progress = newProgress(a.stderr).Event
			}
			return lockedRelease(a, cmd, args, reason, func(ctx context.Context, o *rollout.Orchestrator, release string) (*rollout.SyncReport, error) {
				return o.Sync(ctx, release, opts)
			}, func(_ string, rep *rollout.SyncReport) { a.printSync(rep) })
		},
	}
	cmd.Flags().StringVar(&opts.From, "from", "", "the release to copy from (the live release); only read")
	cmd.Flags().IntVar(&opts.Threads, "threads", 0, "parallel connections, tables and collections (default: CPU count)")
	cmd.Flags().StringVar(&reason, "reason", "", "why (journaled)")
	a.addJSONFlag(cmd)
	return cmd
}

func (a *app) printSync(rep *rollout.SyncReport) {
	for _, r := range rep.Namespaces {
		fmt.Fprintf(a.stdout, "\n%s  %s", r.Namespace, r.Status)
		if r.From != "" {
			fmt.Fprintf(a.stdout, " from %s", termshift.Quote(r.From))
		}
		if r.Error != "" {
			fmt.Fprintf(a.stdout, ": %s", r.Error)
		}
		fmt.Fprintln(a.stdout)
		if r.Note != "" {
			fmt.Fprintf(a.stdout, "  %s\n", r.Note)
		}
		if len(r.Objects) == 0 {
			continue
		}
		tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "OBJECT\tSNAPSHOT\tLOADED\tHASH\tPROOF\t")
		for _, o := range r.Objects {
			proof, hash := "ok", "-"
			if !o.OK {
				proof = "MISMATCH"
			}
			if o.SourceHash != "" {
				hash = "equal"
				if o.SourceHash != o.TargetHash {
					hash = "DIFFERS"
				}
			}
			if o.Unchanged != "" {
				hash = "unchanged"
			}
			if o.ByKey != "" && o.OK {
				hash = "changed rows equal"
			}
			fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t\n", o.Name, o.Snapshot, o.Loaded, hash, proof)
		}
		_ = tw.Flush()
	}
	where := "outside a maintenance window"
	if rep.InWindow {
		where = "inside the maintenance window"
	}
	fmt.Fprintf(a.stdout, "\nsync %s <- %s (%s): %d rows, %d documents in %.1fs (%.0f rows+documents/s); MySQL read lock held %s\n",
		rep.To, rep.From, where, rep.Rows, rep.Docs, rep.Seconds, rep.RowsPerSecond, fmtDur(rep.LockHeld))
	for _, n := range rep.Notes {
		fmt.Fprintf(a.stdout, "note: %s\n", n)
	}
	for _, c := range rep.Changes {
		fmt.Fprintf(a.stdout, "changed during the sync: %s\n", c)
	}
	switch {
	case rep.Proven:
		fmt.Fprintln(a.stdout, "proof: every count and hash holds, and the source did not change while it was copied")
	case len(rep.Changes) > 0:
		fmt.Fprintf(a.stdout, "NO PROOF: %s changed while it was copied; the copy is of a moment that is gone\n", rep.From)
	default:
		fmt.Fprintln(a.stdout, "NO PROOF: see the errors above")
	}
}
