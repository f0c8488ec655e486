package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/termshift/termshift"
)

func (a *app) namespacesCommand() *cobra.Command {
	var release string
	cmd := &cobra.Command{
		Use:   "namespaces [--release R]",
		Short: "List every namespace with its state checked live: ok, missing, orphan",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if release != "" {
				if err := termshift.ValidateRelease(release); err != nil {
					return usageError{err}
				}
			}
			o, err := a.orchestrator(cmd, args)
			if err != nil {
				return err
			}
			list, err := o.Namespaces(cmd.Context(), release)
			if err != nil {
				return err
			}
			if a.jsonOut {
				return a.printJSON(list)
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "RELEASE\tSERVICE\tNAMESPACE\tSTATE\tSTATUS\tDETAIL")
			for _, n := range list {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", dash(n.Release), n.Service, dash(n.Name), n.State, dash(n.Status), dash(n.Detail))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&release, "release", "", "only this release's namespaces")
	a.addJSONFlag(cmd)
	return cmd
}
