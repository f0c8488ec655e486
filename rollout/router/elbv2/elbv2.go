// Package elbv2 is the router provider for an AWS Application Load
// Balancer: Switch sets a listener's default action to forward to the live
// release's target group, and keeps termshift's preview rules: a request
// whose X-Termshift-Release header names another release is forwarded to
// it only from the allowed networks (source-ip conditions), answered 503
// while a maintenance window holds that release, and 403 otherwise. The
// load balancer sees the client's own address (it is the edge); it cannot
// check preview grants, so behind it previews are open only to the allowed
// networks. Untested against AWS itself: the tests check the requests the
// SDK sends, through its HTTP client hook.
package elbv2

import (
	"context"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/termshift/termshift"
	"github.com/termshift/termshift/rollout/router"
)

// Switch forwards all public traffic to the table's live release, or with
// a split (Table.Split) a weighted share of it to the split's release
// with target group stickiness, then replaces termshift's preview rules.
// The listener has no maintenance page of termshift's for public traffic
// (the window is kept by the release's pre_cutover commands); held
// previews get a fixed 503.
func (e *ELBv2) Switch(ctx context.Context, t router.Table) error {
	if sp := t.Split; sp != nil {
		if err := t.CheckSplit(); err != nil {
			return fmt.Errorf("elbv2 switch to %s: %w", termshift.Quote(t.Live), err)
		}
		weights := map[string]int32{t.Live: int32(100 - sp.Percent), sp.Release: int32(sp.Percent)}
		if err := e.switchWeights(ctx, t.Live, weights, e.stickiness()); err != nil {
			return err
		}
	} else if err := e.SwitchWeights(ctx, t.Live, nil); err != nil {
		return err
	}
	return e.previewRules(ctx, t)
}

// DefaultStickiness is how long the load balancer keeps a browser on the
// target group it first reached during a split.
const DefaultStickiness = time.Hour

// maxStickiness is ELBv2's limit of target group stickiness (7 days).
const maxStickiness = 7 * 24 * time.Hour

func (e *ELBv2) stickiness() time.Duration {
	if e.Stickiness <= 0 {
		return DefaultStickiness
	}
	return e.Stickiness
}

// ELBv2 limits of one forward action.
const (
	elbMaxTargetGroups = 5
	elbMaxWeight       = 999
)

// ELBv2 switches an AWS Application Load Balancer listener: its default
// action forwards to the releases' target groups with weights. Untested
// against AWS itself: the tests check the requests the SDK sends.
type ELBv2 struct {
	Client      *elasticloadbalancingv2.Client
	ListenerARN string
	// TargetGroups maps a release to its target group's ARN.
	TargetGroups map[string]string
	// Allow lists the networks whose clients may preview; empty: none.
	Allow []netip.Prefix
	// RulePriority is the first of the 2×RuleSlots listener rule
	// priorities termshift owns; default DefaultRulePriority.
	RulePriority int32
	// Stickiness is how long a browser stays on the side of a split it
	// first reached (the load balancer's own AWSALBTG cookie; ELBv2 cannot
	// set termshift_split); default DefaultStickiness, at most 7 days.
	Stickiness time.Duration
}

// Termshift's listener rules: two banks of RuleSlots priorities from
// RulePriority. A switch writes the new rules into the bank not in use,
// then deletes the old bank, so a request always meets a whole set.
const (
	DefaultRulePriority = 40000
	RuleSlots           = 100
	// maxConditionValues is ELBv2's limit of values in one rule's
	// conditions; the header condition takes one.
	maxConditionValues = 5
)

// SwitchWeights sets the listener's default action to forward to live alone when
// weights is empty, or to every release in weights with its weight (0-999)
// for a gradual shift, e.g. {"current": 90, "next": 10}. live must have a
// weight above zero. A release without a target group is an error and
// nothing is sent.
func (e *ELBv2) SwitchWeights(ctx context.Context, live string, weights map[string]int32) error {
	return e.switchWeights(ctx, live, weights, 0)
}

// switchWeights is SwitchWeights with target group stickiness for sticky
// above zero.
func (e *ELBv2) switchWeights(ctx context.Context, live string, weights map[string]int32, sticky time.Duration) error {
	input, err := e.modifyListenerInput(live, weights, sticky)
	if err != nil {
		return fmt.Errorf("elbv2 switch to %s: %w", termshift.Quote(live), err)
	}
	if _, err := e.Client.ModifyListener(ctx, input); err != nil {
		return fmt.Errorf("elbv2 switch to %s: modify listener %s: %w", termshift.Quote(live), e.ListenerARN, err)
	}
	return nil
}

func (e *ELBv2) modifyListenerInput(live string, weights map[string]int32, sticky time.Duration) (*elasticloadbalancingv2.ModifyListenerInput, error) {
	if e.Client == nil || e.ListenerARN == "" {
		return nil, fmt.Errorf("client and listener ARN are required: %w", termshift.ErrInvalid)
	}
	if sticky < 0 || sticky > maxStickiness || sticky > 0 && sticky < time.Second {
		return nil, fmt.Errorf("stickiness %s is outside 1s-%s: %w", sticky, maxStickiness, termshift.ErrInvalid)
	}
	if len(weights) == 0 {
		weights = map[string]int32{live: 1}
	}
	if weights[live] <= 0 {
		return nil, fmt.Errorf("live release has no weight in %v: %w", weights, termshift.ErrInvalid)
	}
	if len(weights) > elbMaxTargetGroups {
		return nil, fmt.Errorf("%d releases, a forward action takes at most %d: %w", len(weights), elbMaxTargetGroups, termshift.ErrInvalid)
	}
	releases := slices.Sorted(maps.Keys(weights))
	tuples := make([]types.TargetGroupTuple, 0, len(releases))
	for _, r := range releases {
		arn, ok := e.TargetGroups[r]
		if !ok {
			return nil, fmt.Errorf("release %s has no target group (known: %s): %w",
				termshift.Quote(r), strings.Join(slices.Sorted(maps.Keys(e.TargetGroups)), ", "), termshift.ErrNotFound)
		}
		w := weights[r]
		if w < 0 || w > elbMaxWeight {
			return nil, fmt.Errorf("release %s weight %d is outside 0-%d: %w", termshift.Quote(r), w, elbMaxWeight, termshift.ErrInvalid)
		}
		tuples = append(tuples, types.TargetGroupTuple{TargetGroupArn: aws.String(arn), Weight: aws.Int32(w)})
	}
	fc := &types.ForwardActionConfig{TargetGroups: tuples}
	if sticky > 0 {
		fc.TargetGroupStickinessConfig = &types.TargetGroupStickinessConfig{Enabled: aws.Bool(true), DurationSeconds: aws.Int32(int32(sticky / time.Second))}
	}
	return &elasticloadbalancingv2.ModifyListenerInput{
		ListenerArn: aws.String(e.ListenerARN),
		DefaultActions: []types.Action{{
			Type:          types.ActionTypeEnumForward,
			ForwardConfig: fc,
		}},
	}, nil
}

// rule is one listener rule termshift wants.
type rule struct {
	conditions []types.RuleCondition
	action     types.Action
}

func (e *ELBv2) wantRules(t router.Table) ([]rule, error) {
	header := func(v string) types.RuleCondition {
		return types.RuleCondition{Field: aws.String("http-header"),
			HttpHeaderConfig: &types.HttpHeaderConditionConfig{HttpHeaderName: aws.String(router.PreviewHeader), Values: []string{v}}}
	}
	fixed := func(code, body string) types.Action {
		return types.Action{Type: types.ActionTypeEnumFixedResponse, FixedResponseConfig: &types.FixedResponseActionConfig{
			StatusCode: aws.String(code), ContentType: aws.String("text/plain"), MessageBody: aws.String(body)}}
	}
	forward := func(release string) (types.Action, error) {
		arn, ok := e.TargetGroups[release]
		if !ok {
			return types.Action{}, fmt.Errorf("release %s has no target group: %w", termshift.Quote(release), termshift.ErrNotFound)
		}
		return types.Action{Type: types.ActionTypeEnumForward, TargetGroupArn: aws.String(arn)}, nil
	}
	cidrs := make([]string, len(e.Allow))
	for i, p := range e.Allow {
		cidrs[i] = p.String()
	}
	var out []rule
	// The live release by header is public traffic, from anywhere.
	liveTG, err := forward(t.Live)
	if err != nil {
		return nil, err
	}
	out = append(out, rule{[]types.RuleCondition{header(t.Live)}, liveTG})
	for _, b := range t.Backends {
		if b.Release == t.Live {
			continue
		}
		action := fixed("503", "down for maintenance, back soon\n")
		if !t.Maintenance.Holds(b.Release) {
			if action, err = forward(b.Release); err != nil {
				continue // a release the load balancer has no target group for cannot be previewed
			}
		}
		for chunk := range slices.Chunk(cidrs, maxConditionValues-1) {
			out = append(out, rule{[]types.RuleCondition{header(b.Release), {Field: aws.String("source-ip"),
				SourceIpConfig: &types.SourceIpConditionConfig{Values: chunk}}}, action})
		}
	}
	out = append(out, rule{[]types.RuleCondition{header("*")},
		fixed("403", "preview refused: previews of a release that is not live are open only to allowed networks\n")})
	if len(out) > RuleSlots {
		return nil, fmt.Errorf("%d preview rules, termshift owns %d priorities: allow fewer networks: %w", len(out), RuleSlots, termshift.ErrInvalid)
	}
	return out, nil
}

// previewRules replaces termshift's rules: the new set goes into the bank
// of priorities not in use, then the old bank's rules are deleted.
func (e *ELBv2) previewRules(ctx context.Context, t router.Table) error {
	want, err := e.wantRules(t)
	if err != nil {
		return fmt.Errorf("elbv2 preview rules: %w", err)
	}
	base := e.RulePriority
	if base == 0 {
		base = DefaultRulePriority
	}
	var ours []types.Rule
	var marker *string
	for {
		out, err := e.Client.DescribeRules(ctx, &elasticloadbalancingv2.DescribeRulesInput{ListenerArn: aws.String(e.ListenerARN), Marker: marker})
		if err != nil {
			return fmt.Errorf("elbv2 preview rules: describe rules of %s: %w", e.ListenerARN, err)
		}
		for _, r := range out.Rules {
			if p, err := strconv.Atoi(aws.ToString(r.Priority)); err == nil && int32(p) >= base && int32(p) < base+2*RuleSlots {
				ours = append(ours, r)
			}
		}
		if marker = out.NextMarker; marker == nil {
			break
		}
	}
	inFirst := func(r types.Rule) bool {
		p, _ := strconv.Atoi(aws.ToString(r.Priority))
		return int32(p) < base+RuleSlots
	}
	bank := base
	if slices.ContainsFunc(ours, inFirst) {
		bank = base + RuleSlots
	}
	inTarget := func(r types.Rule) bool { return inFirst(r) == (bank == base) }
	del := func(r types.Rule) error {
		if _, err := e.Client.DeleteRule(ctx, &elasticloadbalancingv2.DeleteRuleInput{RuleArn: r.RuleArn}); err != nil {
			return fmt.Errorf("elbv2 preview rules: delete former rule %s: %w", aws.ToString(r.RuleArn), err)
		}
		return nil
	}
	// Leftovers of a switch that stopped half way hold the bank to write.
	for _, r := range ours {
		if inTarget(r) {
			if err := del(r); err != nil {
				return err
			}
		}
	}
	for i, r := range want {
		_, err := e.Client.CreateRule(ctx, &elasticloadbalancingv2.CreateRuleInput{ListenerArn: aws.String(e.ListenerARN),
			Priority: aws.Int32(bank + int32(i)), Conditions: r.conditions, Actions: []types.Action{r.action}})
		if err != nil {
			return fmt.Errorf("elbv2 preview rules: create rule %d of %d (the previous rules still apply): %w", i+1, len(want), err)
		}
	}
	for _, r := range ours {
		if !inTarget(r) {
			if err := del(r); err != nil {
				return err
			}
		}
	}
	return nil
}
