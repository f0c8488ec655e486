package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/termshift/termshift/rollout"
)

func (a *app) scrubCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "scrub RELEASE",
		Short: "Run the environment's scrub rules on a restored release (production PII must not reach QA)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return lockedRelease(a, cmd, args, "", func(ctx context.Context, o *rollout.Orchestrator, release string) ([]rollout.ScrubResult, error) {
				return o.Scrub(ctx, release)
			}, func(_ string, results []rollout.ScrubResult) {
				for _, r := range results {
					fmt.Fprintf(a.stdout, "%s\n", r.Namespace)
					if r.Report != nil {
						for _, t := range r.Report.Tables {
							fmt.Fprintf(a.stdout, "  %-28s %-18s %-18s %d rows\n", t.Table, t.Column, t.Action, t.Rows)
						}
						for _, w := range r.Report.Warnings {
							fmt.Fprintf(a.stdout, "  warning: %s\n", w)
						}
					}
					if r.Error != "" {
						fmt.Fprintf(a.stdout, "  failed: %s\n", r.Error)
					}
				}
			})
		},
	}
	a.addJSONFlag(cmd)
	return cmd
}
