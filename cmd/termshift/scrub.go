package main

import (
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
			release, err := releaseArg(args)
			if err != nil {
				return err
			}
			o, err := a.orchestrator(cmd, args)
			if err != nil {
				return err
			}
			var results []rollout.ScrubResult
			err = o.Locked(func() error {
				var err error
				results, err = o.Scrub(cmd.Context(), release)
				return err
			})
			if a.jsonOut && results != nil {
				if jerr := a.printJSON(results); jerr != nil {
					return jerr
				}
			} else {
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
			}
			return err
		},
	}
	a.addJSONFlag(cmd)
	return cmd
}
