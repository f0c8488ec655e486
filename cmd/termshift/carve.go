package main

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/termshift/termshift/rollout"
	"github.com/termshift/termshift/rollout/wiring"
)

// orchestrator builds the orchestrator for a command line.
func (a *app) orchestrator(cmd *cobra.Command, args []string) (*rollout.Orchestrator, error) {
	env, err := a.environment()
	if err != nil {
		return nil, err
	}
	line := cmd.CommandPath()
	if len(args) > 0 {
		line += " " + strings.Join(args, " ")
	}
	line = strings.TrimPrefix(line, "termshift ")
	// Progress goes to stderr so stdout stays clean for --json.
	return wiring.Orchestrator(cmd.Context(), env, a.logger, a.stderr, line)
}

// lockedRelease validates the RELEASE argument, then runs step holding the
// environment's lock. What step returns is printed (JSON with --json, else
// by text) even when it stopped half way, so the operator sees what is done;
// then its error is returned.
func lockedRelease[T any](a *app, cmd *cobra.Command, args []string, reason string,
	step func(ctx context.Context, o *rollout.Orchestrator, release string) (T, error), text func(release string, v T)) error {
	release, err := releaseArg(args)
	if err != nil {
		return err
	}
	o, err := a.orchestrator(cmd, args)
	if err != nil {
		return err
	}
	o.Reason = reason
	var v T
	err = o.Locked(cmd.Context(), func() error {
		var err error
		v, err = step(cmd.Context(), o, release)
		return err
	})
	if !reflect.ValueOf(&v).Elem().IsZero() {
		if a.jsonOut {
			if jerr := a.printJSON(v); jerr != nil {
				return errors.Join(err, jerr)
			}
		} else {
			text(release, v)
		}
	}
	return err
}

func (a *app) carveCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "carve RELEASE",
		Short: "Create the release's namespaces and credentials on every shared server (idempotent)",
		Long: `Create, for every logical database of the environment file, the release's
namespace and a dedicated credential: a MySQL schema and user with privileges on
that schema only; a MongoDB database and user; a RabbitMQ vhost and user with
permissions on that vhost only; a memcached cluster assigned exclusively.
Credentials are random, stored under the state directory with mode 0600, and
shown only by ` + "`termshift credentials RELEASE`" + `. A second carve changes nothing.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return lockedRelease(a, cmd, args, "", func(ctx context.Context, o *rollout.Orchestrator, release string) ([]rollout.CarveResult, error) {
				return o.Carve(ctx, release)
			}, func(_ string, results []rollout.CarveResult) { a.printCarve(results) })
		},
	}
	a.addJSONFlag(cmd)
	return cmd
}

func (a *app) printCarve(results []rollout.CarveResult) {
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVICE\tNAMESPACE\tUSER\tOUTCOME\tISOLATION")
	for _, r := range results {
		detail := r.Isolation
		if r.Error != "" {
			detail = r.Error
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Namespace.Service, r.Namespace.Name, dash(r.Namespace.User), r.Outcome, dash(detail))
	}
	_ = tw.Flush()
	for _, r := range results {
		for _, n := range r.Notes {
			fmt.Fprintf(a.stdout, "note: %s %s: %s\n", r.Namespace.Service, r.Namespace.Name, n)
		}
	}
}
