package store

import (
	"context"
	"fmt"
	"strings"

	"github.com/termshift/termshift"
)

// CopyReport says what Copy copied.
type CopyReport struct {
	From        string   `json:"from"`
	To          string   `json:"to"`
	Revision    int64    `json:"revision"` // the source state's revision
	Live        string   `json:"live,omitempty"`
	Releases    int      `json:"releases"`
	Entries     int      `json:"entries"`
	Credentials []string `json:"credentials"` // releases whose credentials were copied
}

// Empty reports what b holds, "" when it holds nothing: no state, no
// journal entry, no credentials.
func Empty(ctx context.Context, b Backend) (string, error) {
	s, err := b.Load(ctx)
	if err != nil {
		return "", err
	}
	var held []string
	if s.Revision != 0 || len(s.Releases) > 0 {
		held = append(held, fmt.Sprintf("a state (revision %d, %d releases, live %s)", s.Revision, len(s.Releases), orNone(s.Live)))
	}
	entries, torn, err := b.ReadJournal(ctx)
	if err != nil {
		return "", err
	}
	if n := len(entries) + torn; n > 0 {
		held = append(held, fmt.Sprintf("%d journal entries", n))
	}
	creds, err := b.CredentialReleases(ctx)
	if err != nil {
		return "", err
	}
	if len(creds) > 0 {
		held = append(held, "credentials of "+strings.Join(creds, ", "))
	}
	return strings.Join(held, ", "), nil
}

// Copy copies everything from holds into to, which must hold nothing:
// credentials first (re-sealed the way to keeps them), then the journal in
// order, then the state, last, so that a copy that stopped half way has no
// state a command could use. The copy starts at revision 1. The caller
// holds both locks, so that nothing changes either side meanwhile. A copy
// that stopped half way is a *termshift.PartialError naming what was
// copied; the source is never changed.
func Copy(ctx context.Context, from, to Backend) (*CopyReport, error) {
	if from.String() == to.String() {
		return nil, fmt.Errorf("copy state: %s is both the source and the target: %w", from, termshift.ErrInvalid)
	}
	held, err := Empty(ctx, to)
	if err != nil {
		return nil, fmt.Errorf("check the target %s: %w", to, err)
	}
	if held != "" {
		return nil, termshift.WithHint(fmt.Errorf("copy state: %s already holds %s: not overwritten: %w", to, held, termshift.ErrRefused),
			"choose an empty target, or remove that state first if it is truly abandoned")
	}
	s, err := from.Load(ctx)
	if err != nil {
		return nil, fmt.Errorf("read the source %s: %w", from, err)
	}
	entries, _, err := from.ReadJournal(ctx)
	if err != nil {
		return nil, fmt.Errorf("read the source %s: %w", from, err)
	}
	releases, err := from.CredentialReleases(ctx)
	if err != nil {
		return nil, fmt.Errorf("read the source %s: %w", from, err)
	}
	creds := make(map[string]map[string]termshift.Credential, len(releases))
	for _, r := range releases {
		c, err := from.Credentials(ctx, r)
		if err != nil {
			return nil, fmt.Errorf("read the source %s: %w", from, err)
		}
		creds[r] = c
	}

	rep := &CopyReport{From: from.String(), To: to.String(), Revision: s.Revision, Live: s.Live, Releases: len(s.Releases), Credentials: []string{}}
	partial := func(err error) error {
		if len(rep.Credentials) == 0 && rep.Entries == 0 {
			return err // nothing was written
		}
		var done []string
		if len(rep.Credentials) > 0 {
			done = append(done, "credentials of "+strings.Join(rep.Credentials, ", "))
		}
		if rep.Entries > 0 {
			done = append(done, fmt.Sprintf("%d of %d journal entries", rep.Entries, len(entries)))
		}
		return termshift.WithHint(&termshift.PartialError{Op: "copy state to " + to.String(), Done: done, Failed: []string{"the state"}, Err: err},
			"the source "+from.String()+" is unchanged and still in use; remove what was copied to "+to.String()+", then run the copy again")
	}
	for _, r := range releases {
		if err := to.SaveCredentials(ctx, r, creds[r]); err != nil {
			return nil, partial(err)
		}
		rep.Credentials = append(rep.Credentials, r)
	}
	for _, e := range entries {
		if err := to.Append(ctx, e); err != nil {
			return nil, partial(err)
		}
		rep.Entries++
	}
	copied := *s
	copied.Revision = 0
	if err := to.Save(ctx, &copied); err != nil {
		return nil, partial(err)
	}
	return rep, nil
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
