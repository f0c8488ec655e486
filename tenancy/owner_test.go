package tenancy_test

import (
	"errors"
	"testing"

	"github.com/termshift/termshift"
	"github.com/termshift/termshift/tenancy"
)

func TestMarkerRoundTrip(t *testing.T) {
	t.Parallel()
	o := termshift.Owner{Environment: "qa", Release: "next"}
	if got := tenancy.FormatMarker(o); got != "termshift owner=qa/next" {
		t.Errorf("FormatMarker = %q, want %q", got, "termshift owner=qa/next")
	}
	for _, tc := range []struct {
		in   string
		want termshift.Owner
		ok   bool
	}{
		{"termshift owner=qa/next", o, true},
		{" termshift owner=qa/next\n", o, true},
		{"termshift owner=QA/next", termshift.Owner{}, false},
		{"termshift owner=qa", termshift.Owner{}, false},
		{"termshift release next celery", termshift.Owner{}, false}, // what carve wrote before owners
		{"made by hand", termshift.Owner{}, false},
		{"", termshift.Owner{}, false},
	} {
		got, ok := tenancy.ParseMarker(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("ParseMarker(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestNotOursError(t *testing.T) {
	t.Parallel()
	ns := termshift.Namespace{Service: termshift.MySQL, Name: "edxapp_dv3", User: "edxapp_dv3", Release: "dv3"}
	want := termshift.Owner{Environment: "qa", Release: "dv3"}
	for _, tc := range []struct {
		name string
		err  *tenancy.NotOursError
		msg  string
	}{
		{"another owner", &tenancy.NotOursError{Namespace: ns, Server: "mysql 127.0.0.1:3306", Found: termshift.Owner{Environment: "qa", Release: "adv3"}, Want: want},
			`mysql "edxapp_dv3" on mysql 127.0.0.1:3306 belongs to qa/adv3, not to qa/dv3`},
		{"unmarked", &tenancy.NotOursError{Namespace: ns, Server: "mysql 127.0.0.1:3306", Want: want},
			`mysql "edxapp_dv3" on mysql 127.0.0.1:3306 exists without a termshift owner marker: it is not ours`},
		{"user only", &tenancy.NotOursError{Namespace: ns, Server: "mysql 127.0.0.1:3306", Want: want, UserOnly: true},
			`mysql "edxapp_dv3" on mysql 127.0.0.1:3306: user "edxapp_dv3" exists without its namespace: it is not ours`},
	} {
		if got := tc.err.Error(); got != tc.msg {
			t.Errorf("%s: message %q, want %q", tc.name, got, tc.msg)
		}
		var err error = tc.err
		if !errors.Is(err, termshift.ErrRefused) || errors.Is(err, termshift.ErrInvalid) {
			t.Errorf("%s: must match ErrRefused only", tc.name)
		}
	}
	if tenancy.ErrAccessDenied != termshift.ErrAccessDenied {
		t.Errorf("tenancy.ErrAccessDenied is not termshift.ErrAccessDenied")
	}
}
