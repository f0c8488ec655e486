package termshift_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/termshift/termshift"
)

func TestValidateEnvironment(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		wantRule string // "" when valid
	}{
		{"qa", ""},
		{"production", ""},
		{"staging-eu-2", ""},
		{"x", ""},
		{strings.Repeat("a", 40), ""},
		{strings.Repeat("a", 41), "is 41 bytes, longer than 40"},
		{"", "must not be empty"},
		{"QA", "must match"},
		{"2qa", "must match"},
		{"qa/next", "must match"},
		{"qa_1", "must match"},
		{"qa next", "must match"},
		{"qa'", "must match"},
		{"qa\n", "must match"},
		{"qä", "must match"},
	} {
		t.Run(fmt.Sprintf("%q", tc.name), func(t *testing.T) {
			err := termshift.ValidateEnvironment(tc.name)
			if tc.wantRule == "" {
				if err != nil {
					t.Fatalf("ValidateEnvironment(%q) = %v, want ok", tc.name, err)
				}
				return
			}
			var ne *termshift.NameError
			if !errors.As(err, &ne) || !errors.Is(err, termshift.ErrInvalid) {
				t.Fatalf("ValidateEnvironment(%q) = %v, want a NameError matching ErrInvalid", tc.name, err)
			}
			if ne.What != "environment name" || !strings.Contains(ne.Rule, tc.wantRule) {
				t.Errorf("error %q: want an environment name error whose rule contains %q", err, tc.wantRule)
			}
			if strings.ContainsAny(err.Error(), "\n") {
				t.Errorf("message carries a raw newline: %q", err.Error())
			}
		})
	}
}

func TestOwnerString(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		owner termshift.Owner
		want  string
		zero  bool
	}{
		{termshift.Owner{Environment: "qa", Release: "next"}, "qa/next", false},
		{termshift.Owner{Release: "next"}, "?/next", false},
		{termshift.Owner{Environment: "qa"}, "qa/?", false},
		{termshift.Owner{}, "", true},
	} {
		if got := tc.owner.String(); got != tc.want {
			t.Errorf("%#v.String() = %q, want %q", tc.owner, got, tc.want)
		}
		if got := tc.owner.IsZero(); got != tc.zero {
			t.Errorf("%#v.IsZero() = %v, want %v", tc.owner, got, tc.zero)
		}
	}
}

func TestParseOwner(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in      string
		want    termshift.Owner
		wantErr string
	}{
		{"qa/next", termshift.Owner{Environment: "qa", Release: "next"}, ""},
		{"staging-eu/r2026", termshift.Owner{Environment: "staging-eu", Release: "r2026"}, ""},
		{"qa", termshift.Owner{}, "must be environment/release"},
		{"", termshift.Owner{}, "must be environment/release"},
		{"/next", termshift.Owner{}, "environment name"},
		{"qa/", termshift.Owner{}, "release name"},
		{"qa/next/x", termshift.Owner{}, "release name"},
		{"QA/next", termshift.Owner{}, "environment name"},
	} {
		got, err := termshift.ParseOwner(tc.in)
		if tc.wantErr != "" {
			if !errors.Is(err, termshift.ErrInvalid) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("ParseOwner(%q) = %v, %v; want an invalid error containing %q", tc.in, got, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseOwner(%q): %v", tc.in, err)
			continue
		}
		if diff := cmp.Diff(got, tc.want); diff != "" {
			t.Errorf("ParseOwner(%q) (-got +want):\n%s", tc.in, diff)
		}
		if got.String() != tc.in {
			t.Errorf("ParseOwner(%q).String() = %q, want the input back", tc.in, got.String())
		}
	}
}
