package rollout

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/termshift/termshift"
	"github.com/termshift/termshift/rollout/router"
	"github.com/termshift/termshift/rollout/router/grant"
	"github.com/termshift/termshift/rollout/store"
)

// PreviewLink is a preview grant as `termshift preview-link` prints it.
type PreviewLink struct {
	Grant grant.Grant `json:"grant"`
	// URL opens the preview in a browser: it sets the grant cookie on the
	// public address and sends the browser to the release.
	URL string `json:"url"`
	// Token is the grant for a test suite's GrantHeader.
	Token  string `json:"token"`
	Header string `json:"header"`
	// Running says whether the release runs now; the link works once it
	// does.
	Running bool `json:"running"`
}

// grantKeys are the environment's preview grant keys, or a clear error
// when none is configured.
func (o *Orchestrator) grantKeys() (*grant.Keys, error) {
	p := o.Env.Router.Preview
	if p.GrantKey == "" {
		return nil, termshift.WithHint(fmt.Errorf("router.preview.grant_key is not set in %s: preview grants need a key: %w", o.Env.Path, termshift.ErrInvalid),
			"add `grant_key: ${TERMSHIFT_GRANT_KEY}` under router.preview, with 32 or more random bytes in that variable (openssl rand -hex 32), and restart `termshift serve`")
	}
	return grant.NewKeys(termshift.Secret(p.GrantKey), termshift.Secret(p.GrantKeyPrevious))
}

// PreviewLink issues a grant to preview release for ttl and journals who
// asked and why (never the token). The grant needs no state: serve checks
// its signature, and refuses it once expired or revoked.
func (o *Orchestrator) PreviewLink(ctx context.Context, release string, ttl time.Duration) (*PreviewLink, error) {
	if _, err := o.spec(release); err != nil {
		return nil, err
	}
	if strings.TrimSpace(o.Reason) == "" {
		return nil, fmt.Errorf("preview-link needs --reason TEXT: who may preview and why is journaled: %w", termshift.ErrInvalid)
	}
	keys, err := o.grantKeys()
	if err != nil {
		return nil, err
	}
	g, err := grant.New(release, ttl, o.Now())
	if err != nil {
		return nil, err
	}
	token := keys.Sign(g)
	s, err := o.LoadState(ctx)
	if err != nil {
		return nil, err
	}
	link := &PreviewLink{Grant: g, Token: token, Header: router.GrantHeader + ": " + token,
		URL:     o.Env.PublicURL() + router.PreviewPath + release + "?grant=" + url.QueryEscape(token),
		Running: s.Releases[release] != nil && s.Releases[release].Running}
	if err := o.Journal(ctx, store.Entry{Release: release, Reason: o.Reason, Step: "preview-link", Outcome: "done",
		Detail: grantDetail(g, ttl)}); err != nil {
		return nil, fmt.Errorf("journal the grant (not issued): %w", err)
	}
	return link, nil
}

// grantDetail is the journal's record of a grant: PreviewRevoke reads the
// release and expiry back from it.
func grantDetail(g grant.Grant, ttl time.Duration) string {
	return fmt.Sprintf("grant %s for %s until %s (%s)", g.ID, g.Release, g.Expires.Format(time.RFC3339), ttl)
}

// PreviewRevoke refuses a grant from now on: its ID goes into state, and a
// running serve applies it at once. Revoked grants past their expiry are
// dropped from state, since expiry refuses them anyway.
func (o *Orchestrator) PreviewRevoke(ctx context.Context, id string) (*store.RevokedGrant, error) {
	if !grant.ValidID(id) {
		return nil, fmt.Errorf("%s is not a grant ID (16 hex digits, as preview-link printed it): %w", termshift.Quote(id), termshift.ErrInvalid)
	}
	if strings.TrimSpace(o.Reason) == "" {
		return nil, fmt.Errorf("preview-revoke needs --reason TEXT: it is journaled: %w", termshift.ErrInvalid)
	}
	rev := &store.RevokedGrant{ID: id, Reason: o.Reason}
	if entries, _, err := o.Store.ReadJournal(ctx); err == nil {
		for _, e := range slices.Backward(entries) {
			var ttl string
			var until string
			if e.Step != "preview-link" || !strings.HasPrefix(e.Detail, "grant "+id+" ") {
				continue
			}
			if _, err := fmt.Sscanf(e.Detail, "grant "+id+" for %s until %s %s", &rev.Release, &until, &ttl); err == nil {
				rev.Expires, _ = time.Parse(time.RFC3339, until)
			}
			break
		}
	}
	err := o.Locked(ctx, func() error {
		s, err := o.LoadState(ctx)
		if err != nil {
			return err
		}
		now := o.Now()
		kept := s.RevokedGrants[:0]
		for _, r := range s.RevokedGrants {
			if r.ID == id {
				*rev = r
				return nil // revoked already
			}
			if r.Expires.IsZero() || r.Expires.After(now) {
				kept = append(kept, r)
			}
		}
		u, h := store.Actor()
		rev.At, rev.By = now, u+"@"+h
		s.RevokedGrants = append(kept, *rev)
		if err := o.SaveState(ctx, s); err != nil {
			return err
		}
		detail := "grant " + id
		if rev.Release != "" {
			detail += " for " + rev.Release + " (it expired at " + rev.Expires.Format(time.RFC3339) + ")"
		} else {
			detail += " (not found in the journal: revoked all the same)"
		}
		o.journal(ctx, rev.Release, "preview-revoke", "done", detail)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if o.Control().Running() {
		if _, err := o.Control().Apply(ctx); err != nil {
			return rev, fmt.Errorf("grant %s is revoked in state, but serve did not apply it now (it will at its next look at state, within seconds): %w", id, err)
		}
	}
	return rev, nil
}

// routeAccess adds to a routing table what state says about access: the
// revoked grants still within their expiry, the previews a maintenance
// window holds, and when and how the live release became live.
func routeAccess(t *router.Table, s *store.State, now time.Time) {
	for _, r := range s.RevokedGrants {
		if r.Expires.IsZero() || r.Expires.After(now) {
			t.RevokedGrants = append(t.RevokedGrants, r.ID)
		}
	}
	if s.Maintenance != nil && t.Maintenance != nil {
		t.Maintenance.Releases = slices.Clone(s.Maintenance.Releases)
	}
	t.LiveSince = s.LiveSince
	if rs := s.Releases[s.Live]; rs != nil && s.Previous != "" {
		// A cutover records its step at the instant the release went live;
		// a rollback leaves the target's older cutover step alone.
		if step, ok := rs.Steps["cutover"]; ok && step.At.Equal(s.LiveSince) {
			t.LiveBy = router.ByCutover
		} else {
			t.LiveBy = router.ByRollback
		}
	}
}
