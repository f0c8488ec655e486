package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

func (a *app) configCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Check the environment file and compare releases' configurations",
	}
	validate := &cobra.Command{
		Use:   "validate",
		Short: "Check the environment file; report every problem at once as FILE:LINE: field: problem",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			env, err := a.environment()
			if err != nil {
				return err
			}
			if a.jsonOut {
				return a.printJSON(map[string]any{"file": env.Path, "valid": true, "releases": len(env.Releases)})
			}
			where := env.StateDir
			if env.State.Backend == "s3" {
				where = env.State.URL
			}
			fmt.Fprintf(a.stdout, "%s: valid (environment %q, %d releases, state in %s)\n", env.Path, env.Name, len(env.Releases), where)
			return nil
		},
	}
	a.addJSONFlag(validate)
	diff := &cobra.Command{
		Use:   "diff A B",
		Short: "Show how two releases' rendered configurations differ, secrets masked",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			for _, r := range args {
				if _, err := releaseArg([]string{r}); err != nil {
					return err
				}
			}
			o, err := a.orchestrator(cmd, args)
			if err != nil {
				return err
			}
			out, err := o.ConfigDiff(cmd.Context(), args[0], args[1])
			if err != nil {
				return err
			}
			fmt.Fprint(a.stdout, out)
			return nil
		},
	}
	cmd.AddCommand(validate, diff)
	return cmd
}
