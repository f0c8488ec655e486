package elbv2_test

import (
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/termshift/termshift"
	"github.com/termshift/termshift/rollout/router"
	"github.com/termshift/termshift/rollout/router/elbv2"
)

// A split is the listener's default forward action with two weighted
// target groups and target group stickiness, so a browser stays on the
// side it first reached.
func TestELBv2Split(t *testing.T) {
	t.Parallel()
	u := &url.URL{Scheme: "http", Host: "10.0.0.9:80"}
	table := router.Table{Live: "current", Backends: []router.Backend{{Release: "current", URL: u}, {Release: "next", URL: u}},
		Split: &router.Split{Release: "next", Percent: 25}}
	for _, tt := range []struct {
		name   string
		sticky time.Duration
		want   string
	}{
		{"default stickiness", 0, "3600"},
		{"ten minutes", 10 * time.Minute, "600"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := &rulesEndpoint{}
			e := &elbv2.ELBv2{Client: elbClient(f), ListenerARN: listenerARN, Stickiness: tt.sticky,
				TargetGroups: map[string]string{"current": tgCurrent, "next": tgNext}}
			if err := e.Switch(t.Context(), table); err != nil {
				t.Fatal(err)
			}
			got := map[string]string{}
			for k, v := range f.forms[0] {
				got[k] = strings.Join(v, ",")
			}
			fc := "DefaultActions.member.1.ForwardConfig."
			want := map[string]string{
				"Action":                       "ModifyListener",
				"Version":                      "2015-12-01",
				"ListenerArn":                  listenerARN,
				"DefaultActions.member.1.Type": "forward",
				fc + "TargetGroups.member.1.TargetGroupArn":        tgCurrent,
				fc + "TargetGroups.member.1.Weight":                "75",
				fc + "TargetGroups.member.2.TargetGroupArn":        tgNext,
				fc + "TargetGroups.member.2.Weight":                "25",
				fc + "TargetGroupStickinessConfig.Enabled":         "true",
				fc + "TargetGroupStickinessConfig.DurationSeconds": tt.want,
			}
			if diff := cmp.Diff(got, want); diff != "" {
				t.Errorf("ModifyListener form (-got +want):\n%s", diff)
			}
			// The preview rules follow as without a split.
			if calls := f.calls(); len(calls) < 2 || calls[1] != "DescribeRules" {
				t.Errorf("after the split: %q, want the preview rules replaced", calls)
			}
		})
	}

	// The end of the split: all to live, no stickiness.
	f := &rulesEndpoint{}
	e := &elbv2.ELBv2{Client: elbClient(f), ListenerARN: listenerARN, TargetGroups: map[string]string{"current": tgCurrent, "next": tgNext}}
	if err := e.Switch(t.Context(), router.Table{Live: table.Live, Backends: table.Backends}); err != nil {
		t.Fatal(err)
	}
	if got, want := f.calls()[0], "ModifyListener default.TargetGroupArn=targetgroup/lms-current/73e2d6bc24d8a067 default.Weight=1 DefaultA.Type=forward"; got != want {
		t.Errorf("without a split:\n got %s\nwant %s", got, want)
	}
}

func TestELBv2SplitRefused(t *testing.T) {
	t.Parallel()
	u := &url.URL{Scheme: "http", Host: "10.0.0.9:80"}
	running := []router.Backend{{Release: "current", URL: u}, {Release: "next", URL: u}, {Release: "redwood", URL: u}}
	for _, tt := range []struct {
		name   string
		split  router.Split
		sticky time.Duration
		want   error
	}{
		{"zero", router.Split{Release: "next", Percent: 0}, 0, termshift.ErrInvalid},
		{"hundred", router.Split{Release: "next", Percent: 100}, 0, termshift.ErrInvalid},
		{"to the live release", router.Split{Release: "current", Percent: 10}, 0, termshift.ErrInvalid},
		{"not running", router.Split{Release: "gone", Percent: 10}, 0, termshift.ErrInvalid},
		{"no target group", router.Split{Release: "redwood", Percent: 10}, 0, termshift.ErrNotFound},
		{"stickiness over seven days", router.Split{Release: "next", Percent: 10}, 8 * 24 * time.Hour, termshift.ErrInvalid},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := &rulesEndpoint{}
			e := &elbv2.ELBv2{Client: elbClient(f), ListenerARN: listenerARN, Stickiness: tt.sticky,
				TargetGroups: map[string]string{"current": tgCurrent, "next": tgNext}}
			err := e.Switch(t.Context(), router.Table{Live: "current", Backends: running, Split: &tt.split})
			if !errors.Is(err, tt.want) {
				t.Errorf("Switch: %v, want %v", err, tt.want)
			}
			if len(f.forms) != 0 {
				t.Errorf("%d requests sent for a refused split, want 0", len(f.forms))
			}
		})
	}
}
