package elbv2_test

import (
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/google/go-cmp/cmp"

	"github.com/termshift/termshift"
	"github.com/termshift/termshift/rollout/router/elbv2"
)

// elbEndpoint stands in for the ELBv2 API at the HTTP client the SDK uses:
// it records each form the SDK serialized and answers with canned XML, so
// the test checks the wire request without AWS.
type elbEndpoint struct {
	mu     sync.Mutex
	forms  []url.Values
	status int
	body   string
}

func (f *elbEndpoint) Do(req *http.Request) (*http.Response, error) {
	b, err := io.ReadAll(req.Body)
	if err != nil {
		return nil, err
	}
	form, err := url.ParseQuery(string(b))
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	f.forms = append(f.forms, form)
	f.mu.Unlock()
	return &http.Response{
		StatusCode: f.status,
		Header:     http.Header{"Content-Type": {"text/xml"}},
		Body:       io.NopCloser(strings.NewReader(f.body)),
		Request:    req,
	}, nil
}

const modifyListenerOK = `<ModifyListenerResponse xmlns="http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/">
  <ModifyListenerResult><Listeners><member><ListenerArn>arn:listener</ListenerArn></member></Listeners></ModifyListenerResult>
  <ResponseMetadata><RequestId>11111111-2222-3333-4444-555555555555</RequestId></ResponseMetadata>
</ModifyListenerResponse>`

const listenerNotFound = `<ErrorResponse xmlns="http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/">
  <Error><Type>Sender</Type><Code>ListenerNotFound</Code><Message>One or more listeners not found</Message></Error>
  <RequestId>11111111-2222-3333-4444-555555555555</RequestId>
</ErrorResponse>`

func elbClient(f interface {
	Do(*http.Request) (*http.Response, error)
}) *elasticloadbalancingv2.Client {
	return elasticloadbalancingv2.New(elasticloadbalancingv2.Options{
		Region:      "eu-west-1",
		Credentials: credentials.NewStaticCredentialsProvider("AKIDTEST", "test-secret", ""),
		HTTPClient:  f,
		Retryer:     aws.NopRetryer{},
	})
}

const (
	listenerARN = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener/app/lms/50dc6c495c0c9188/f2f7dc8efc522ab2"
	tgCurrent   = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/lms-current/73e2d6bc24d8a067"
	tgNext      = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/lms-next/943f017f100becff"
)

func TestELBv2Switch(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		live    string
		weights map[string]int32
		want    map[string]string
	}{
		{name: "all to live", live: "next", want: map[string]string{
			"Action":                       "ModifyListener",
			"Version":                      "2015-12-01",
			"ListenerArn":                  listenerARN,
			"DefaultActions.member.1.Type": "forward",
			"DefaultActions.member.1.ForwardConfig.TargetGroups.member.1.TargetGroupArn": tgNext,
			"DefaultActions.member.1.ForwardConfig.TargetGroups.member.1.Weight":         "1",
		}},
		{name: "gradual shift", live: "current", weights: map[string]int32{"next": 10, "current": 90}, want: map[string]string{
			"Action":                       "ModifyListener",
			"Version":                      "2015-12-01",
			"ListenerArn":                  listenerARN,
			"DefaultActions.member.1.Type": "forward",
			"DefaultActions.member.1.ForwardConfig.TargetGroups.member.1.TargetGroupArn": tgCurrent,
			"DefaultActions.member.1.ForwardConfig.TargetGroups.member.1.Weight":         "90",
			"DefaultActions.member.1.ForwardConfig.TargetGroups.member.2.TargetGroupArn": tgNext,
			"DefaultActions.member.1.ForwardConfig.TargetGroups.member.2.Weight":         "10",
		}},
		{name: "drain old to zero", live: "next", weights: map[string]int32{"next": 100, "current": 0}, want: map[string]string{
			"Action":                       "ModifyListener",
			"Version":                      "2015-12-01",
			"ListenerArn":                  listenerARN,
			"DefaultActions.member.1.Type": "forward",
			"DefaultActions.member.1.ForwardConfig.TargetGroups.member.1.TargetGroupArn": tgCurrent,
			"DefaultActions.member.1.ForwardConfig.TargetGroups.member.1.Weight":         "0",
			"DefaultActions.member.1.ForwardConfig.TargetGroups.member.2.TargetGroupArn": tgNext,
			"DefaultActions.member.1.ForwardConfig.TargetGroups.member.2.Weight":         "100",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := &elbEndpoint{status: 200, body: modifyListenerOK}
			e := &elbv2.ELBv2{Client: elbClient(f), ListenerARN: listenerARN,
				TargetGroups: map[string]string{"current": tgCurrent, "next": tgNext}}
			if err := e.SwitchWeights(t.Context(), tt.live, tt.weights); err != nil {
				t.Fatal(err)
			}
			if len(f.forms) != 1 {
				t.Fatalf("%d requests sent, want 1", len(f.forms))
			}
			got := map[string]string{}
			for k, v := range f.forms[0] {
				got[k] = strings.Join(v, ",")
			}
			if diff := cmp.Diff(got, tt.want); diff != "" {
				t.Errorf("ModifyListener form (-got +want):\n%s", diff)
			}
		})
	}
}

func TestELBv2SwitchRefused(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		arn     string
		live    string
		weights map[string]int32
		want    error
	}{
		{"unknown live", listenerARN, "redwood", nil, termshift.ErrNotFound},
		{"unknown weighted release", listenerARN, "current", map[string]int32{"current": 50, "redwood": 50}, termshift.ErrNotFound},
		{"live without weight", listenerARN, "next", map[string]int32{"current": 100, "next": 0}, termshift.ErrInvalid},
		{"live missing from weights", listenerARN, "next", map[string]int32{"current": 100}, termshift.ErrInvalid},
		{"weight too high", listenerARN, "next", map[string]int32{"next": 1000}, termshift.ErrInvalid},
		{"negative weight", listenerARN, "next", map[string]int32{"next": 10, "current": -1}, termshift.ErrInvalid},
		{"no listener", "", "next", nil, termshift.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := &elbEndpoint{status: 200, body: modifyListenerOK}
			e := &elbv2.ELBv2{Client: elbClient(f), ListenerARN: tt.arn,
				TargetGroups: map[string]string{"current": tgCurrent, "next": tgNext}}
			err := e.SwitchWeights(t.Context(), tt.live, tt.weights)
			if !errors.Is(err, tt.want) {
				t.Errorf("Switch: %v, want %v", err, tt.want)
			}
			if len(f.forms) != 0 {
				t.Errorf("%d requests sent for a refused switch, want 0", len(f.forms))
			}
		})
	}
}

func TestELBv2SwitchAPIError(t *testing.T) {
	t.Parallel()
	f := &elbEndpoint{status: 400, body: listenerNotFound}
	e := &elbv2.ELBv2{Client: elbClient(f), ListenerARN: listenerARN, TargetGroups: map[string]string{"next": tgNext}}
	err := e.SwitchWeights(t.Context(), "next", nil)
	if err == nil || !strings.Contains(err.Error(), "ListenerNotFound") || !strings.Contains(err.Error(), listenerARN) {
		t.Errorf("Switch against a missing listener: %v; want ListenerNotFound and the listener ARN", err)
	}
}
