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
// With a shared state (Followed), every serve of the environment follows
// the state within a second wherever it runs: a command on a machine without
// a serve (on-call's laptop) switches by saving the state alone.
type Remote struct {
	Control  *control.Client
	Followed bool
}

// Switch asks the local serve, when there is one, to apply the state and
// confirms the live release; routers elsewhere follow the shared state.
func (r *Remote) Switch(ctx context.Context, t router.Table) error {
	if r.Followed && !r.Control.Running() {
		return nil
	}
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
	var want router.Split
	if t.Split != nil {
		want = *t.Split
	}
	if got := (router.Split{Release: st.SplitRelease, Percent: st.SplitPercent}); got != want {
		return fmt.Errorf("serve splits %d%% of public traffic to %s, want %d%% to %s", got.Percent, orNone(got.Release), want.Percent, orNone(want.Release))
	}
	return nil
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// Ready says whether a switch can happen now: serve must be running here,
// unless the routers follow a shared state.
func (r *Remote) Ready(context.Context) error {
	if !r.Control.Running() && !r.Followed {
		return termshift.WithHint(control.ErrNotRunning, "start `termshift serve`: it routes to the live release state names")
	}
	return nil
}
