package rollout

import (
	"github.com/termshift/termshift/rollout/router"
	"github.com/termshift/termshift/rollout/store"
)

// split is the weighted split state asks for: the share of a progressive
// cutover that is running or paused, while its release runs and the live
// release is still the one it started from.
func split(s *store.State, t router.Table) *router.Split {
	p := s.Progressive
	if !p.Active() || p.Percent <= 0 || p.Percent >= 100 || s.Live != p.From || p.Release == s.Live {
		return nil
	}
	if _, ok := t.Backend(p.Release); !ok {
		return nil
	}
	return &router.Split{Release: p.Release, Percent: p.Percent}
}
