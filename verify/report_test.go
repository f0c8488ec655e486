package verify

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// junitDoc is how a CI reader sees WriteJUnit's output.
type junitDoc struct {
	XMLName  xml.Name `xml:"testsuites"`
	Tests    int      `xml:"tests,attr"`
	Failures int      `xml:"failures,attr"`
	Errors   int      `xml:"errors,attr"`
	Skipped  int      `xml:"skipped,attr"`
	Suites   []struct {
		Name     string `xml:"name,attr"`
		Tests    int    `xml:"tests,attr"`
		Failures int    `xml:"failures,attr"`
		Errors   int    `xml:"errors,attr"`
		Skipped  int    `xml:"skipped,attr"`
		Time     string `xml:"time,attr"`
		Cases    []struct {
			Classname string `xml:"classname,attr"`
			Name      string `xml:"name,attr"`
			Time      string `xml:"time,attr"`
			Failure   *struct {
				Message string `xml:"message,attr"`
			} `xml:"failure"`
			Error *struct {
				Message string `xml:"message,attr"`
			} `xml:"error"`
			Skipped *struct {
				Message string `xml:"message,attr"`
			} `xml:"skipped"`
			SystemOut string `xml:"system-out"`
		} `xml:"testcase"`
	} `xml:"testsuite"`
}

func parseJUnit(t *testing.T, r *Report) junitDoc {
	t.Helper()
	var buf bytes.Buffer
	if err := r.WriteJUnit(&buf); err != nil {
		t.Fatalf("WriteJUnit: %v", err)
	}
	var doc junitDoc
	if err := xml.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatalf("parse junit: %v\n%s", err, buf.String())
	}
	if len(doc.Suites) != 1 {
		t.Fatalf("junit has %d testsuites, want 1", len(doc.Suites))
	}
	return doc
}

func sampleReport() *Report {
	return &Report{
		Release: "next",
		Started: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		Seconds: 1.5,
		Results: []Result{
			{Check: "connectivity", Target: "mysql edxapp_next", Status: Pass, Detail: "connected", Duration: 12 * time.Millisecond},
			{Check: "isolation", Target: "mysql edxapp_next", Status: Fail, Detail: "\"edxapp_next\" can use schema \"edxapp_current\"\nsecond line <&>", Duration: time.Second},
			{Check: "isolation", Target: "mongo modulestore_next", Status: Warn, Detail: notEnforced},
			{Check: "health", Target: "/heartbeat", Status: Skip, Detail: "release not deployed"},
			{Check: "isolation", Target: "rabbitmq /celery_next", Status: Unknown, Detail: "could not tell: vhost \"celery_current\": timeout"},
		},
	}
}

func TestReportCountsAndFailed(t *testing.T) {
	t.Parallel()
	r := sampleReport()
	if diff := cmp.Diff(r.Counts(), map[Status]int{Pass: 1, Warn: 1, Fail: 1, Skip: 1, Unknown: 1}); diff != "" {
		t.Errorf("Counts (-got +want):\n%s", diff)
	}
	if !r.Failed() {
		t.Errorf("Failed() = false with a failing result")
	}
	r.Results = r.Results[2:]
	if r.Failed() {
		t.Errorf("Failed() = true with only warn, skip and unknown")
	}
	if u := r.Unknowns(); len(u) != 1 || u[0].Target != "rabbitmq /celery_next" {
		t.Errorf("Unknowns() = %+v", u)
	}
	if !strings.Contains(r.Summary(), "UNPROVEN") {
		t.Errorf("summary %q: an unknown is no pass", r.Summary())
	}
	if diff := cmp.Diff((&Report{}).Counts(), map[Status]int{Pass: 0, Warn: 0, Fail: 0, Skip: 0, Unknown: 0}); diff != "" {
		t.Errorf("empty Counts (-got +want):\n%s", diff)
	}
}

func TestWriteJUnit(t *testing.T) {
	t.Parallel()
	doc := parseJUnit(t, sampleReport())
	s := doc.Suites[0]
	type counts struct{ Tests, Failures, Errors, Skipped int }
	if diff := cmp.Diff(counts{doc.Tests, doc.Failures, doc.Errors, doc.Skipped}, counts{5, 1, 1, 1}); diff != "" {
		t.Errorf("testsuites counts (-got +want):\n%s", diff)
	}
	if diff := cmp.Diff(counts{s.Tests, s.Failures, s.Errors, s.Skipped}, counts{5, 1, 1, 1}); diff != "" {
		t.Errorf("testsuite counts (-got +want):\n%s", diff)
	}
	if s.Name != "termshift verify next" || s.Time != "1.500" {
		t.Errorf("testsuite name=%q time=%q, want %q %q", s.Name, s.Time, "termshift verify next", "1.500")
	}
	type tc struct{ Class, Name, Time, Failure, Error, Skipped, Out string }
	var got []tc
	for _, c := range s.Cases {
		x := tc{Class: c.Classname, Name: c.Name, Time: c.Time, Out: c.SystemOut}
		if c.Failure != nil {
			x.Failure = c.Failure.Message
		}
		if c.Error != nil {
			x.Error = c.Error.Message
		}
		if c.Skipped != nil {
			x.Skipped = c.Skipped.Message
		}
		got = append(got, x)
	}
	want := []tc{
		{Class: "connectivity", Name: "mysql edxapp_next", Time: "0.012", Out: "connected"},
		{Class: "isolation", Name: "mysql edxapp_next", Time: "1.000", Failure: "\"edxapp_next\" can use schema \"edxapp_current\"; second line <&>"},
		{Class: "isolation", Name: "mongo modulestore_next", Time: "0.000", Out: "warn: not enforced by this server"},
		{Class: "health", Name: "/heartbeat", Time: "0.000", Skipped: "release not deployed"},
		{Class: "isolation", Name: "rabbitmq /celery_next", Time: "0.000", Error: "could not tell: vhost \"celery_current\": timeout"},
	}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("testcases (-got +want):\n%s", diff)
	}
}

func TestWriteText(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	if err := sampleReport().WriteText(&buf); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(buf.String(), "\n"), "\n")
	if len(lines) != 7 {
		t.Fatalf("got %d lines, want header, 5 rows and a summary:\n%s", len(lines), buf.String())
	}
	// Aligned: every row's STATUS column starts where the header's does.
	col := strings.Index(lines[0], "STATUS")
	for _, l := range lines[1:6] {
		st := strings.Fields(l[col:])[0]
		if st != "pass" && st != "fail" && st != "warn" && st != "skip" && st != "unknown" {
			t.Errorf("row %q: status column at %d holds %q", l, col, st)
		}
	}
	if diff := cmp.Diff(lines[6], "verify next FAILED: 1 pass, 1 warn, 1 fail, 1 skip, 1 unknown in 1.5s"); diff != "" {
		t.Errorf("summary (-got +want):\n%s", diff)
	}
	if strings.Count(buf.String(), "second line") != 1 || strings.Contains(lines[2], "\n") {
		t.Errorf("a multi-line detail must stay on its row:\n%s", buf.String())
	}
}

func TestWriteJSONRoundTrip(t *testing.T) {
	t.Parallel()
	r := sampleReport()
	var buf bytes.Buffer
	if err := r.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), `"seconds": 0.012`) {
		t.Errorf("durations should be seconds in JSON:\n%s", buf.String())
	}
	var back Report
	if err := json.Unmarshal(buf.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(&back, r); diff != "" {
		t.Errorf("round trip (-got +want):\n%s", diff)
	}
	if err := json.Unmarshal([]byte(`{"results":[{"seconds":"x"}]}`), &back); err == nil {
		t.Errorf("unmarshal of a bad result: no error")
	}
}
