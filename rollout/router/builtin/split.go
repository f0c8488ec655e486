package builtin

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"

	"github.com/termshift/termshift/rollout/router"
)

// A weighted split (router.Table.Split) sends Percent of public traffic to
// a second release. Each browser draws a bucket once, 0 to splitBuckets-1,
// kept in router.SplitCookie; a bucket below Percent*splitBuckets/100 is
// the split release's side. So a browser keeps its side while the weight
// stays, and a new weight reassigns only as many browsers as it must: going
// from 5% to 25% moves the buckets 500-2499 to the split release and leaves
// every other browser where it was; going back to 0 moves everyone to the
// live release. A client without cookies (a script) draws anew each request.
const splitBuckets = 10000

// split is the weighted split of a routing table.
type split struct {
	release string
	percent int
}

func (s *split) String() string {
	if s == nil {
		return "none"
	}
	return fmt.Sprintf("%d%% to %s", s.percent, s.release)
}

// side returns the release a public request goes to under the split, and
// the bucket to set in the cookie when the request brought none (-1 when it
// brought one).
func (s *split) side(req *http.Request, live string) (release string, newBucket int) {
	bucket, newBucket := -1, -1
	if v := cookie(req, router.SplitCookie); v != "" {
		if b, err := strconv.Atoi(v); err == nil && b >= 0 && b < splitBuckets {
			bucket = b
		}
	}
	if bucket < 0 {
		bucket = rand.IntN(splitBuckets)
		newBucket = bucket
	}
	if bucket < s.percent*splitBuckets/100 {
		return s.release, newBucket
	}
	return live, newBucket
}

// setSplit replaces the table's split.
func (r *Router) setSplit(want *router.Split) {
	var sp *split
	if want != nil {
		sp = &split{release: want.Release, percent: want.Percent}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	old := r.table.Load()
	if (old.split == nil && sp == nil) || (old.split != nil && sp != nil && *old.split == *sp) {
		return
	}
	t := *old
	t.split = sp
	r.table.Store(&t)
	r.log.Info("router: split", "split", sp.String(), "was", old.split.String())
}

// splitCookie keeps a browser's bucket for a year: the side it lands on
// depends on the weight of the moment, not on the cookie's age.
func (r *Router) splitCookie(bucket int) *http.Cookie {
	return &http.Cookie{Name: router.SplitCookie, Value: strconv.Itoa(bucket), Path: "/", MaxAge: 365 * 24 * 3600,
		HttpOnly: true, Secure: r.opts.SecureCookies, SameSite: http.SameSiteLaxMode}
}
