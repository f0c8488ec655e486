package verify

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/termshift/termshift"
)

func TestScrubDomain(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ value, want string }{
		{"user{{id}}@example.invalid", "example.invalid"},
		{"{{id}}@scrubbed.test", "scrubbed.test"},
		{"scrubbed.test", "scrubbed.test"},
		{"", defaultScrubDomain},
		{"user{{id}}@", defaultScrubDomain},
		{"user{{id}}", defaultScrubDomain},
	} {
		if got := scrubDomain(tc.value); got != tc.want {
			t.Errorf("scrubDomain(%q) = %q, want %q", tc.value, got, tc.want)
		}
	}
}

// TestScrubRulesThatCannotRun needs no server: these rules are decided
// before any count.
func TestScrubRulesThatCannotRun(t *testing.T) {
	t.Parallel()
	tg := Target{
		Release: "next",
		Own:     []Namespace{{Service: termshift.MySQL, Logical: "edxapp", Name: "edxapp_next"}},
		Scrub: []ScrubRule{
			{Service: "mysql", Table: "auth_user", Column: "email", Action: "shred"},
			{Service: "mysql", Table: "auth_user", Column: "username", Action: ActionHash},
			{Service: "mongo", Table: "users", Column: "email", Action: ActionEmail},
			{Service: "xqueue", Table: "submissions", Column: "email", Action: ActionNull},
			{Service: "edxapp", Table: "auth_user", Column: "email", Action: ActionEmail},
		},
	}
	r := Run(context.Background(), tg, Options{Only: []string{CheckScrub}})
	type res struct {
		Target string
		Status Status
		Detail string
	}
	var got []res
	for _, x := range r.Results {
		got = append(got, res{x.Target, x.Status, x.Detail})
	}
	want := []res{
		{"mysql auth_user.email", Fail, `unknown scrub action "shred"`},
		{"mysql auth_user.username", Skip, "hashed values cannot be told apart from production values"},
		{"mongo users.email", Skip, `release has no mysql or mongo namespace "mongo"`},
		{"xqueue submissions.email", Skip, `release has no mysql or mongo namespace "xqueue"`},
		{"edxapp auth_user.email", Unknown, "mysql admin dsn: no server address configured"},
	}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("results (-got +want):\n%s", diff)
	}
}
