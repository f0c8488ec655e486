package main

import (
	"context"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/termshift/termshift/rollout"
)

func (a *app) teardownCommand() *cobra.Command {
	var yes bool
	var reason string
	cmd := &cobra.Command{
		Use:   "teardown RELEASE [--yes]",
		Short: "Show what dropping a release would remove; drop it only with --yes",
		Long: `Print the namespaces and users a teardown of RELEASE would drop. With --yes,
drop them, forget the release's credentials, and journal it. The live release
and the rollback target are refused, whatever the flags.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return lockedRelease(a, cmd, args, reason, func(ctx context.Context, o *rollout.Orchestrator, release string) ([]rollout.DropResult, error) {
				return o.Teardown(ctx, release, yes)
			}, func(release string, results []rollout.DropResult) {
				tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "SERVICE\tNAMESPACE\tUSER\tOUTCOME")
				for _, r := range results {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.Namespace.Service, r.Namespace.Name, dash(r.Namespace.User), r.Outcome+errSuffix(r.Error))
				}
				_ = tw.Flush()
				if !yes {
					fmt.Fprintf(a.stdout, "nothing dropped: run `termshift teardown %s --yes` to drop these\n", release)
				}
			})
		},
	}
	cmd.Flags().BoolVar(&yes, "yes", false, "really drop the namespaces and users")
	cmd.Flags().StringVar(&reason, "reason", "", "why (journaled)")
	a.addJSONFlag(cmd)
	return cmd
}

func errSuffix(e string) string {
	if e == "" {
		return ""
	}
	return ": " + e
}
