package main

import (
	"fmt"
	"sort"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/termshift/termshift"
)

func (a *app) credentialsCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "credentials RELEASE",
		Short: "Print a release's generated credentials (the only command that shows them)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			release, err := releaseArg(args)
			if err != nil {
				return err
			}
			env, err := a.environment()
			if err != nil {
				return err
			}
			st, err := a.store(cmd.Context(), env)
			if err != nil {
				return err
			}
			creds, err := st.Credentials(cmd.Context(), release)
			if err != nil {
				return err
			}
			if len(creds) == 0 {
				return termshift.WithHint(fmt.Errorf("release %s has no credentials: %w", termshift.Quote(release), termshift.ErrNotFound), "carve it first: termshift carve "+release)
			}
			keys := make([]string, 0, len(creds))
			for k := range creds {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			if a.jsonOut {
				out := map[string]map[string]string{}
				for _, k := range keys {
					out[k] = map[string]string{"user": creds[k].User, "password": creds[k].Password.Reveal()}
				}
				return a.printJSON(out)
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAMESPACE\tUSER\tPASSWORD")
			for _, k := range keys {
				fmt.Fprintf(tw, "%s\t%s\t%s\n", k, creds[k].User, creds[k].Password.Reveal())
			}
			return tw.Flush()
		},
	}
	a.addJSONFlag(cmd)
	return cmd
}
