package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/termshift/termshift/rollout"
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
			env, err := a.environment()
			if err != nil {
				return err
			}
			st := a.store(env)
			holder, err := st.BreakLock()
			if err != nil {
				return err
			}
			if holder == nil {
				fmt.Fprintln(a.stdout, "the lock is free: nothing to do")
				return nil
			}
			detail := "broke lock held by " + holder.String()
			if !holder.Gone() {
				detail += " (the holder may still be running)"
			}
			if err := st.Journal(st.Redactor()).Append(rollout.Entry{Command: "unlock --force", Reason: reason, Outcome: "forced", Detail: detail}); err != nil {
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
