package elbv2_test

import (
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/termshift/termshift/rollout/router"
	"github.com/termshift/termshift/rollout/router/elbv2"
)

// rulesEndpoint answers ModifyListener, DescribeRules, CreateRule and
// DeleteRule as ELBv2 would, and records every form.
type rulesEndpoint struct {
	mu       sync.Mutex
	forms    []url.Values
	existing string // <member> elements DescribeRules lists
}

const ns = `xmlns="http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/"`

func (f *rulesEndpoint) Do(req *http.Request) (*http.Response, error) {
	b, _ := io.ReadAll(req.Body)
	form, err := url.ParseQuery(string(b))
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	f.forms = append(f.forms, form)
	f.mu.Unlock()
	meta := `<ResponseMetadata><RequestId>11111111-2222-3333-4444-555555555555</RequestId></ResponseMetadata>`
	var body string
	switch a := form.Get("Action"); a {
	case "ModifyListener":
		body = modifyListenerOK
	case "DescribeRules":
		body = `<DescribeRulesResponse ` + ns + `><DescribeRulesResult><Rules>` + f.existing + `</Rules></DescribeRulesResult>` + meta + `</DescribeRulesResponse>`
	default:
		body = `<` + a + `Response ` + ns + `><` + a + `Result><Rules><member><RuleArn>arn:rule/new</RuleArn></member></Rules></` + a + `Result>` + meta + `</` + a + `Response>`
	}
	return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"text/xml"}}, Body: io.NopCloser(strings.NewReader(body)), Request: req}, nil
}

// calls lists each request as "Action key=value ..." with the keys that
// matter, in order.
func (f *rulesEndpoint) calls() []string {
	var out []string
	for _, form := range f.forms {
		keys := make([]string, 0, len(form))
		for k := range form {
			if k != "Action" && k != "Version" && k != "ListenerArn" {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		line := form.Get("Action")
		for _, k := range keys {
			k2 := strings.NewReplacer("Conditions.member.", "C", "Actions.member.1.", "A.", "HttpHeaderConfig.", "", "SourceIpConfig.", "",
				"FixedResponseConfig.", "", "DefaultActions.member.1.ForwardConfig.TargetGroups.member.1.", "default.").Replace(k)
			line += " " + k2 + "=" + strings.TrimPrefix(form.Get(k), "arn:aws:elasticloadbalancing:eu-west-1:123456789012:")
		}
		out = append(out, line)
	}
	return out
}

func TestELBv2PreviewRules(t *testing.T) {
	t.Parallel()
	tgOld := "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/lms-old/1"
	f := &rulesEndpoint{existing: `<member><RuleArn>arn:rule/a</RuleArn><Priority>40000</Priority></member>` +
		`<member><RuleArn>arn:rule/b</RuleArn><Priority>40001</Priority></member>` +
		`<member><RuleArn>arn:rule/other</RuleArn><Priority>10</Priority></member>` +
		`<member><RuleArn>arn:rule/default</RuleArn><Priority>default</Priority><IsDefault>true</IsDefault></member>`}
	e := &elbv2.ELBv2{Client: elbClient(f), ListenerARN: listenerARN,
		TargetGroups: map[string]string{"current": tgCurrent, "next": tgNext, "old": tgOld},
		Allow:        []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.0.2.7/32")}}
	u := &url.URL{Scheme: "http", Host: "10.0.0.9:80"}
	table := router.Table{Live: "current", Backends: []router.Backend{{Release: "current", URL: u}, {Release: "next", URL: u}, {Release: "old", URL: u}},
		Maintenance: &router.Maintenance{RetryAfter: time.Second, Releases: []string{"old"}}}
	if err := e.Switch(t.Context(), table); err != nil {
		t.Fatal(err)
	}
	refusal := "preview refused: previews of a release that is not live are open only to allowed networks\n"
	want := []string{
		"ModifyListener default.TargetGroupArn=targetgroup/lms-current/73e2d6bc24d8a067 default.Weight=1 DefaultA.Type=forward",
		"DescribeRules",
		// The first bank is in use: the new rules go into the second.
		"CreateRule A.TargetGroupArn=targetgroup/lms-current/73e2d6bc24d8a067 A.Type=forward C1.Field=http-header C1.HttpHeaderName=X-Termshift-Release C1.Values.member.1=current Priority=40100",
		"CreateRule A.TargetGroupArn=targetgroup/lms-next/943f017f100becff A.Type=forward C1.Field=http-header C1.HttpHeaderName=X-Termshift-Release C1.Values.member.1=next C2.Field=source-ip C2.Values.member.1=10.0.0.0/8 C2.Values.member.2=192.0.2.7/32 Priority=40101",
		"CreateRule A.ContentType=text/plain A.MessageBody=down for maintenance, back soon\n A.StatusCode=503 A.Type=fixed-response C1.Field=http-header C1.HttpHeaderName=X-Termshift-Release C1.Values.member.1=old C2.Field=source-ip C2.Values.member.1=10.0.0.0/8 C2.Values.member.2=192.0.2.7/32 Priority=40102",
		"CreateRule A.ContentType=text/plain A.MessageBody=" + refusal + " A.StatusCode=403 A.Type=fixed-response C1.Field=http-header C1.HttpHeaderName=X-Termshift-Release C1.Values.member.1=* Priority=40103",
		// Then the former rules, never another tool's.
		"DeleteRule RuleArn=arn:rule/a",
		"DeleteRule RuleArn=arn:rule/b",
	}
	if diff := cmp.Diff(f.calls(), want); diff != "" {
		t.Errorf("requests (-got +want):\n%s", diff)
	}

	// More networks than one rule's condition takes: one rule per four.
	f2 := &rulesEndpoint{}
	e.Client = elbClient(f2)
	e.Allow = nil
	for _, c := range []string{"10.0.0.0/8", "10.1.0.0/16", "10.2.0.0/16", "10.3.0.0/16", "10.4.0.0/16"} {
		e.Allow = append(e.Allow, netip.MustParsePrefix(c))
	}
	table.Maintenance = nil
	if err := e.Switch(t.Context(), table); err != nil {
		t.Fatal(err)
	}
	var creates []string
	for _, c := range f2.calls() {
		if strings.HasPrefix(c, "CreateRule") {
			creates = append(creates, c)
		}
	}
	// live, next ×2, old ×2, refusal; into the first bank, which was free.
	if len(creates) != 6 || !strings.Contains(creates[0], "Priority=40000") || !strings.Contains(creates[2], "C2.Values.member.1=10.4.0.0/16") {
		t.Errorf("rules with five networks:\n%s", strings.Join(creates, "\n"))
	}
}
