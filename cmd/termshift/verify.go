package main

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/termshift/termshift/rollout"
	"github.com/termshift/termshift/verify"
)

func (a *app) verifyCommand() *cobra.Command {
	var junit, only string
	cmd := &cobra.Command{
		Use:   "verify RELEASE [--json] [--junit FILE] [--only CHECK,...]",
		Short: "Prove a release is fit for traffic: connectivity, isolation, integrity, scrub, config, health, smoke",
		Long: `Run every check on RELEASE in parallel, each with its own timeout, and print one
row per check and target: pass, warn, fail, or skip with the reason. Exit 0 only
when nothing failed (5 when a check failed). The result is stored in state: a
cutover refuses a release whose latest verify failed or predates its last change.

Checks: ` + strings.Join(verify.Checks(), ", "),
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			release, err := releaseArg(args)
			if err != nil {
				return err
			}
			var opts rollout.VerifyOptions
			if only != "" {
				for _, c := range strings.Split(only, ",") {
					opts.Only = append(opts.Only, strings.TrimSpace(c))
				}
			}
			o, err := a.orchestrator(cmd, args)
			if err != nil {
				return err
			}
			var rep *verify.Report
			err = o.Locked(cmd.Context(), func() error {
				var err error
				rep, err = o.Verify(cmd.Context(), release, opts)
				return err
			})
			if rep == nil {
				return err
			}
			if junit != "" {
				f, ferr := os.Create(junit)
				if ferr != nil {
					return errors.Join(err, fmt.Errorf("write junit report: %w", ferr))
				}
				werr := rep.WriteJUnit(f)
				if cerr := f.Close(); werr == nil {
					werr = cerr
				}
				if werr != nil {
					return errors.Join(err, fmt.Errorf("write junit report %s: %w", junit, werr))
				}
			}
			if a.jsonOut {
				if jerr := rep.WriteJSON(a.stdout); jerr != nil {
					return jerr
				}
			} else if werr := rep.WriteText(a.stdout); werr != nil {
				return werr
			}
			return err
		},
	}
	cmd.Flags().StringVar(&junit, "junit", "", "also write the report as JUnit XML to FILE (for CI)")
	cmd.Flags().StringVar(&only, "only", "", "run only these checks, comma-separated (the result cannot pass the cutover gate)")
	a.addJSONFlag(cmd)
	return cmd
}
