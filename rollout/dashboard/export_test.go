package dashboard

import "time"

// SetClock sets a sampler's clock, for tests.
func SetClock(s *Sampler, now func() time.Time) { s.now = now }
