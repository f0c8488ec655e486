package builtin

import (
	"context"
	"fmt"

	"github.com/termshift/termshift"
	"github.com/termshift/termshift/rollout/control"
	"github.com/termshift/termshift/rollout/router"
)

// Remote switches the built-in router of a running `termshift serve` from
// another process: serve reads the state (already saved by the command) and
// converges on it; Remote checks that it now routes as the table says.
type Remote struct {
	Control *control.Client
}

// Switch asks serve to apply the state and confirms the live release.
func (r *Remote) Switch(ctx context.Context, t router.Table) error {
	st, err := r.Control.Apply(ctx)
	if err != nil {
		return err
	}
	if err := drainFailure(st.Errors); err != nil {
		return err
	}
	if st.Live != t.Live {
		return fmt.Errorf("serve routes to %s, want %s", orNone(st.Live), orNone(t.Live))
	}
	if st.Maintenance != (t.Maintenance != nil) {
		return fmt.Errorf("serve's maintenance window is %v, want %v", st.Maintenance, t.Maintenance != nil)
	}
	return nil
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// Ready says whether a switch can happen now: serve must be running.
func (r *Remote) Ready(context.Context) error {
	if !r.Control.Running() {
		return termshift.WithHint(control.ErrNotRunning, "start `termshift serve`: it routes to the live release state names")
	}
	return nil
}
