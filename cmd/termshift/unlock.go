package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/termshift/termshift/rollout/store"
)

func (a *app) unlockCommand() *cobra.Command {
	var force bool
	var reason string
	cmd := &cobra.Command{
		Use:   "unlock --force --reason TEXT",
		Short: "Break a stale lock left by a crashed command (journaled)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !force {
				return usageError{errors.New("unlock needs --force: breaking a lock that a running command holds lets two commands change the environment at once")}
			}
			if reason == "" {
				return usageError{errors.New("unlock needs --reason TEXT: it is journaled")}
			}
			o, err := a.orchestrator(cmd, nil)
			if err != nil {
				return err
			}
			o.Reason = reason
			holder, err := o.Store.BreakLock(cmd.Context())
			if err != nil {
				return err
			}
			if holder == nil {
				fmt.Fprintln(a.stdout, "the lock is free: nothing to do")
				return nil
			}
			detail := "broke lock held by " + holder.String()
			if gone, why := store.Stale(*holder, time.Now()); gone {
				detail += " (" + why + ")"
			} else {
				detail += " (the holder may still be running: it stops at its next step, and a write from a stale view of the state is refused)"
			}
			if err := o.Journal(cmd.Context(), store.Entry{Command: "unlock --force", Reason: reason, Outcome: "forced", Detail: detail}); err != nil {
				return err
			}
			fmt.Fprintln(a.stdout, detail)
			return nil
		},
	}
	cmd.Flags().BoolVar(&force, "force", false, "really break the lock")
	cmd.Flags().StringVar(&reason, "reason", "", "why (journaled)")
	return cmd
}
