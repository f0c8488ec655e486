package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/termshift/termshift/rollout"
)

func (a *app) previewLinkCommand() *cobra.Command {
	var ttl time.Duration
	var reason string
	cmd := &cobra.Command{
		Use:   "preview-link RELEASE --for 8h --reason TEXT",
		Short: "Print a link that lets its holder preview RELEASE from any network, until it expires (journaled)",
		Long: `Issue a preview grant: a signed token naming RELEASE, an expiry and a grant ID,
under the environment's router.preview.grant_key. The URL it prints, opened
in a browser, sets a grant cookie on the public address and shows RELEASE
there (with a "previewing RELEASE - stop" banner); a test suite sends the
token in the X-Termshift-Grant header instead. Without a grant, previews are
open only to router.preview.allow. Who asked and why is journaled, never the
token. Revoke it before it expires with ` + "`termshift preview-revoke ID`" + `.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			release, err := releaseArg(args)
			if err != nil {
				return err
			}
			if reason == "" {
				return usageError{errors.New("preview-link needs --reason TEXT: who may preview and why is journaled")}
			}
			o, err := a.orchestrator(cmd, args)
			if err != nil {
				return err
			}
			o.Reason = reason
			link, err := o.PreviewLink(cmd.Context(), release, ttl)
			if err != nil {
				return err
			}
			if a.jsonOut {
				return a.printJSON(link)
			}
			printLink(a, link)
			return nil
		},
	}
	cmd.Flags().DurationVar(&ttl, "for", 8*time.Hour, "how long the grant lasts (at most 744h)")
	cmd.Flags().StringVar(&reason, "reason", "", "who it is for and why (required, journaled)")
	a.addJSONFlag(cmd)
	return cmd
}

func printLink(a *app, link *rollout.PreviewLink) {
	g := link.Grant
	fmt.Fprintf(a.stdout, "preview grant %s for %s, valid until %s\n", g.ID, g.Release, g.Expires.Local().Format(time.RFC3339))
	fmt.Fprintf(a.stdout, "  browser:    %s\n", link.URL)
	fmt.Fprintf(a.stdout, "  test suite: %s\n", link.Header)
	if !link.Running {
		fmt.Fprintf(a.stdout, "  %s is not running yet: the link works once it is deployed\n", g.Release)
	}
	fmt.Fprintf(a.stdout, "anyone holding the link can preview %s: send it privately; revoke it with `termshift preview-revoke %s --reason TEXT`\n", g.Release, g.ID)
}

func (a *app) previewRevokeCommand() *cobra.Command {
	var reason string
	cmd := &cobra.Command{
		Use:   "preview-revoke ID --reason TEXT",
		Short: "Refuse a preview grant from now on (journaled; serve applies it at once)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if reason == "" {
				return usageError{errors.New("preview-revoke needs --reason TEXT: it is journaled")}
			}
			o, err := a.orchestrator(cmd, args)
			if err != nil {
				return err
			}
			o.Reason = reason
			rev, err := o.PreviewRevoke(cmd.Context(), args[0])
			if rev != nil {
				if a.jsonOut {
					if jerr := a.printJSON(rev); jerr != nil {
						return jerr
					}
				} else {
					what := "grant " + rev.ID
					if rev.Release != "" {
						what += " (" + rev.Release + ")"
					}
					fmt.Fprintf(a.stdout, "%s is revoked since %s by %s: the router refuses it\n", what, rev.At.Local().Format(time.RFC3339), rev.By)
				}
			}
			return err
		},
	}
	cmd.Flags().StringVar(&reason, "reason", "", "why (required, journaled)")
	a.addJSONFlag(cmd)
	return cmd
}
