// Package elbv2 is the router provider for an AWS Application Load
// Balancer: Switch sets a listener's default action to forward to the
// releases' target groups. Untested against AWS itself: the tests check the
// requests the SDK sends, through its HTTP client hook.
package elbv2

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/termshift/termshift"
	"github.com/termshift/termshift/rollout/router"
)

// Switch forwards all public traffic to the table's live release. The
// listener has no maintenance page of termshift's; previews go through each
// release's own target group.
func (e *ELBv2) Switch(ctx context.Context, t router.Table) error {
	return e.SwitchWeights(ctx, t.Live, nil)
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
}

// SwitchWeights sets the listener's default action to forward to live alone when
// weights is empty, or to every release in weights with its weight (0-999)
// for a gradual shift, e.g. {"current": 90, "next": 10}. live must have a
// weight above zero. A release without a target group is an error and
// nothing is sent.
func (e *ELBv2) SwitchWeights(ctx context.Context, live string, weights map[string]int32) error {
	input, err := e.modifyListenerInput(live, weights)
	if err != nil {
		return fmt.Errorf("elbv2 switch to %s: %w", termshift.Quote(live), err)
	}
	if _, err := e.Client.ModifyListener(ctx, input); err != nil {
		return fmt.Errorf("elbv2 switch to %s: modify listener %s: %w", termshift.Quote(live), e.ListenerARN, err)
	}
	return nil
}

func (e *ELBv2) modifyListenerInput(live string, weights map[string]int32) (*elasticloadbalancingv2.ModifyListenerInput, error) {
	if e.Client == nil || e.ListenerARN == "" {
		return nil, fmt.Errorf("client and listener ARN are required: %w", termshift.ErrInvalid)
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
	return &elasticloadbalancingv2.ModifyListenerInput{
		ListenerArn: aws.String(e.ListenerARN),
		DefaultActions: []types.Action{{
			Type:          types.ActionTypeEnumForward,
			ForwardConfig: &types.ForwardActionConfig{TargetGroups: tuples},
		}},
	}, nil
}
