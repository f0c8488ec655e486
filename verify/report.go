package verify

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// Status is the outcome of one check on one target.
type Status string

// The statuses a check reports. Only fail makes a report fail; warn is a
// pass that a human should read; skip says why a check does not apply
// (nothing to check: no other release to be isolated from, no smoke checks,
// a namespace never restored); unknown says the check could not run where
// it matters (the server could not tell, no server was configured, it timed
// out or was cut short). An unknown is no pass: the cutover gate refuses a
// release whose latest verify has one unless the operator waives that check
// by name, with a reason.
const (
	Pass    Status = "pass"
	Warn    Status = "warn"
	Fail    Status = "fail"
	Skip    Status = "skip"
	Unknown Status = "unknown"
)

// Result is one check on one target: a namespace, a config file, a URL.
// Detail never holds a secret or a value read from a release's data.
type Result struct {
	Check    string        `json:"check"`
	Target   string        `json:"target"`
	Status   Status        `json:"status"`
	Detail   string        `json:"detail,omitempty"`
	Duration time.Duration `json:"-"`
}

type resultJSON struct {
	Check   string  `json:"check"`
	Target  string  `json:"target"`
	Status  Status  `json:"status"`
	Detail  string  `json:"detail,omitempty"`
	Seconds float64 `json:"seconds"`
}

// MarshalJSON writes the duration as seconds, which every reader of the
// report (jq, dashboards, state.json) understands without Go's units.
func (r Result) MarshalJSON() ([]byte, error) {
	return json.Marshal(resultJSON{r.Check, r.Target, r.Status, r.Detail, r.Duration.Seconds()})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (r *Result) UnmarshalJSON(b []byte) error {
	var w resultJSON
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*r = Result{Check: w.Check, Target: w.Target, Status: w.Status, Detail: w.Detail,
		Duration: time.Duration(w.Seconds * float64(time.Second))}
	return nil
}

// Report is what Run found, as data: the lead stores it in state and prints
// it as text, JSON or JUnit.
type Report struct {
	Release string    `json:"release"`
	Started time.Time `json:"started"`
	Seconds float64   `json:"seconds"`
	Results []Result  `json:"results"`
}

// Failed reports whether any result failed.
func (r *Report) Failed() bool {
	for _, res := range r.Results {
		if res.Status == Fail {
			return true
		}
	}
	return false
}

// Counts returns how many results have each status; every status is present.
func (r *Report) Counts() map[Status]int {
	c := map[Status]int{Pass: 0, Warn: 0, Fail: 0, Skip: 0, Unknown: 0}
	for _, res := range r.Results {
		c[res.Status]++
	}
	return c
}

// Summary is the report's one-line verdict.
func (r *Report) Summary() string {
	c := r.Counts()
	verdict := "PASSED"
	if r.Failed() {
		verdict = "FAILED"
	}
	unknown := ""
	if c[Unknown] > 0 {
		verdict = "UNPROVEN"
		if r.Failed() {
			verdict = "FAILED"
		}
		unknown = fmt.Sprintf(", %d unknown", c[Unknown])
	}
	return fmt.Sprintf("verify %s %s: %d pass, %d warn, %d fail, %d skip%s in %.1fs",
		r.Release, verdict, c[Pass], c[Warn], c[Fail], c[Skip], unknown, r.Seconds)
}

// Unknowns lists the results of checks that could not run where it
// matters.
func (r *Report) Unknowns() []Result {
	var out []Result
	for _, res := range r.Results {
		if res.Status == Unknown {
			out = append(out, res)
		}
	}
	return out
}

// oneLine keeps a detail on one table row: details may carry driver errors
// with newlines.
func oneLine(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "; ")
	s = strings.ReplaceAll(s, "\n", "; ")
	return strings.ReplaceAll(s, "\t", " ")
}

// WriteText writes an aligned table, CHECK TARGET STATUS DURATION DETAIL,
// then the summary line.
func (r *Report) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CHECK\tTARGET\tSTATUS\tDURATION\tDETAIL")
	for _, res := range r.Results {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", res.Check, oneLine(res.Target), res.Status,
			res.Duration.Round(time.Millisecond), oneLine(res.Detail))
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write verify report: %w", err)
	}
	if _, err := fmt.Fprintln(w, r.Summary()); err != nil {
		return fmt.Errorf("write verify report: %w", err)
	}
	return nil
}

// WriteJSON writes the report as one indented JSON document.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(r); err != nil {
		return fmt.Errorf("write verify report as json: %w", err)
	}
	return nil
}

// JUnit XML, as Jenkins, GitLab and GitHub test reporters read it.
type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Skipped  int          `xml:"skipped,attr"`
	Time     string       `xml:"time,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name      string      `xml:"name,attr"`
	Tests     int         `xml:"tests,attr"`
	Failures  int         `xml:"failures,attr"`
	Errors    int         `xml:"errors,attr"`
	Skipped   int         `xml:"skipped,attr"`
	Time      string      `xml:"time,attr"`
	Timestamp string      `xml:"timestamp,attr,omitempty"`
	Cases     []junitCase `xml:"testcase"`
}

type junitCase struct {
	Classname string        `xml:"classname,attr"`
	Name      string        `xml:"name,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *junitMessage `xml:"failure,omitempty"`
	Error     *junitMessage `xml:"error,omitempty"`
	Skipped   *junitMessage `xml:"skipped,omitempty"`
	SystemOut string        `xml:"system-out,omitempty"`
}

type junitMessage struct {
	Message string `xml:"message,attr"`
	Text    string `xml:",chardata"`
}

func junitSeconds(s float64) string { return fmt.Sprintf("%.3f", s) }

// WriteJUnit writes the report as JUnit XML: one testsuite for the release,
// one testcase per result (classname = check, name = target). A warning is a
// passed testcase whose system-out says why it warned.
func (r *Report) WriteJUnit(w io.Writer) error {
	c := r.Counts()
	suite := junitSuite{
		Name:     "termshift verify " + r.Release,
		Tests:    len(r.Results),
		Failures: c[Fail],
		Errors:   c[Unknown],
		Skipped:  c[Skip],
		Time:     junitSeconds(r.Seconds),
	}
	if !r.Started.IsZero() {
		suite.Timestamp = r.Started.UTC().Format("2006-01-02T15:04:05")
	}
	for _, res := range r.Results {
		tc := junitCase{Classname: res.Check, Name: res.Target, Time: junitSeconds(res.Duration.Seconds())}
		switch res.Status {
		case Fail:
			tc.Failure = &junitMessage{Message: oneLine(res.Detail), Text: res.Detail}
		case Unknown:
			tc.Error = &junitMessage{Message: oneLine(res.Detail), Text: res.Detail}
		case Skip:
			tc.Skipped = &junitMessage{Message: oneLine(res.Detail)}
		case Warn:
			tc.SystemOut = "warn: " + res.Detail
		default:
			tc.SystemOut = res.Detail
		}
		suite.Cases = append(suite.Cases, tc)
	}
	doc := junitSuites{Tests: suite.Tests, Failures: suite.Failures, Errors: suite.Errors, Skipped: suite.Skipped,
		Time: suite.Time, Suites: []junitSuite{suite}}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return fmt.Errorf("write verify report as junit: %w", err)
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return fmt.Errorf("write verify report as junit: %w", err)
	}
	if _, err := io.WriteString(w, "\n"); err != nil {
		return fmt.Errorf("write verify report as junit: %w", err)
	}
	return nil
}
