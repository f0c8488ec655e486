package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/termshift/termshift/follow"
	"github.com/termshift/termshift/rollout"
)

func (a *app) followCommand() *cobra.Command {
	var opts rollout.FollowOptions
	var reason string
	cmd := &cobra.Command{
		Use:   "follow RELEASE --from LIVE [--snapshot ID]",
		Short: "Keep a release's MySQL schemas caught up with the live release's, from its binary log, until stopped",
		Long: `Apply the row events of LIVE's MySQL schemas to RELEASE's schemas (names
rewritten), from the binary log position RELEASE's data stands at: the
snapshot's (--snapshot, or the one it was restored from) or its last sync's.
It reads the server's binary log with mariadb-binlog --read-from-remote-server
--stop-never (the password through its environment, never argv) and applies
each transaction through the driver together with its position, in one
transaction: killed at any moment, it resumes exactly where it stopped when
run again. Lag (seconds, events, bytes) is printed every --interval.

It runs until SIGINT/SIGTERM, or until 'cutover RELEASE --final-sync' stops
it: that final sync then only drains the last seconds of writes (catch-up)
instead of copying every table. follow holds the environment's lock only to
start and end, so other commands run meanwhile; it never writes state while
it runs.

Refused: a RELEASE that is live or the rollback target, whose MySQL schemas
differ from LIVE's (migrated: migrations run in the cutover's window, after
the last event), or that was scrubbed. A schema change (DDL) on LIVE stops it
naming the statement. The server must have log_bin and binlog_format=ROW, and
still hold the position. MongoDB is not followed (FerretDB has no oplog).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if opts.From == "" {
				return usageError{fmt.Errorf("--from LIVE is required")}
			}
			if opts.Interval <= 0 {
				return usageError{fmt.Errorf("--interval %s: want a positive duration", opts.Interval)}
			}
			if opts.SettleEvery <= 0 {
				return usageError{fmt.Errorf("--settle %s: want a positive duration", opts.SettleEvery)}
			}
			release, err := releaseArg(args)
			if err != nil {
				return err
			}
			o, err := a.orchestrator(cmd, args)
			if err != nil {
				return err
			}
			o.Reason = reason
			if !a.jsonOut {
				opts.Status = func(st follow.Status) {
					settling := ""
					if st.SettleRows > 0 {
						settling = fmt.Sprintf("; settling: %d of %d recorded rows compared", st.Settling, st.SettleRows)
					}
					fmt.Fprintf(a.stderr, "%s following %s <- %s: applied %s, head %s, lag %.1fs, %d events, %d bytes; %d transactions (%d row events) this run; changed rows proven equal at the last settling %d, left for the cutover's proof %d%s\n",
						time.Now().Format("15:04:05"), release, opts.From, st.Applied, st.Head, st.LagSeconds, st.LagEvents, st.LagBytes, st.Transactions, st.Events, st.Settled, st.Pending, settling)
				}
			}
			rep, err := o.Follow(cmd.Context(), release, opts)
			if rep != nil {
				if a.jsonOut {
					if jerr := a.printJSON(rep); jerr != nil && err == nil {
						err = jerr
					}
				} else {
					how := "started"
					if rep.Resumed {
						how = "resumed"
					}
					fmt.Fprintf(a.stdout, "follow %s <- %s: %s at %s, applied up to %s: %d transactions (%d row events) in this run; %s\n",
						rep.Release, rep.From, how, rep.Start, rep.Status.Applied, rep.Status.Transactions, rep.Status.Events, rep.Ended)
				}
			}
			return err
		},
	}
	cmd.Flags().StringVar(&opts.From, "from", "", "the live release whose MySQL binary log is followed; only read")
	cmd.Flags().StringVar(&opts.Snapshot, "snapshot", "", "the backup snapshot RELEASE was restored from (its manifest has the binary log position)")
	cmd.Flags().DurationVar(&opts.Interval, "interval", 10*time.Second, "how often the lag is printed")
	cmd.Flags().DurationVar(&opts.SettleEvery, "settle", time.Minute, "how often a settling starts: the rows changed since are compared on both sides, 500 at a time between applied batches, and forgotten when equal; the cutover's proof reads only the rows changed after")
	cmd.Flags().StringVar(&reason, "reason", "", "why (journaled)")
	a.addJSONFlag(cmd)
	return cmd
}
