package main

import (
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
)

func (a *app) historyCommand() *cobra.Command {
	var release string
	var limit int
	cmd := &cobra.Command{
		Use:   "history",
		Short: "Show the journal: who did what, when, why, and how it ended",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			env, err := a.environment()
			if err != nil {
				return err
			}
			st, err := a.store(cmd.Context(), env)
			if err != nil {
				return err
			}
			entries, torn, err := st.ReadJournal(cmd.Context())
			if err != nil {
				return err
			}
			if release != "" {
				kept := entries[:0]
				for _, e := range entries {
					if e.Release == release {
						kept = append(kept, e)
					}
				}
				entries = kept
			}
			if limit > 0 && len(entries) > limit {
				entries = entries[len(entries)-limit:]
			}
			if torn > 0 {
				a.logger.Warn("journal has unreadable lines (a crash mid-append)", "lines", torn)
			}
			if a.jsonOut {
				return a.printJSON(entries)
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "TIME\tACTOR\tCOMMAND\tSTEP\tOUTCOME\tREASON\tDETAIL")
			for _, e := range entries {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Time.Local().Format(time.DateTime), e.Actor, e.Command, dash(e.Step), e.Outcome, dash(e.Reason), dash(e.Detail))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&release, "release", "", "only entries about this release")
	cmd.Flags().IntVar(&limit, "limit", 0, "only the last N entries")
	a.addJSONFlag(cmd)
	return cmd
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
