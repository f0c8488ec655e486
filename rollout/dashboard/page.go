// Package dashboard renders the release dashboard that `termshift serve`
// shows on its admin address under /_termshift/: every release (version,
// live, rollback target, running, healthy, how to preview it), each
// release's namespaces with their restore proof, the latest verify report
// of each release (failures first), the last journal entries, and live
// traffic per release from the router's own counters. It is read-only:
// nothing in it changes state. The page is server-rendered with
// html/template and embedded assets, readable with scripts off; a small
// script refreshes it from a JSON endpoint every few seconds.
package dashboard

import (
	"cmp"
	"fmt"
	"hash/fnv"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/termshift/termshift/rollout/router"
	"github.com/termshift/termshift/rollout/store"
	"github.com/termshift/termshift/verify"
)

// JournalShown is how many journal entries the page lists, newest first.
const JournalShown = 50

// Data is everything one page shows, gathered by the admin server.
type Data struct {
	Environment string
	Now         time.Time
	// State is nil when it could not be read; StateError says why.
	State      *store.State
	StateError string
	// Journal is the whole journal, oldest first.
	Journal      []store.Entry
	JournalError string
	// Releases are the releases the environment file defines, in order.
	Releases []ReleaseSpec
	Router   RouterView
	// Health by release: "" (not checked), "healthy", or why not.
	Health  map[string]string
	Traffic map[string]Rates
	Preview PreviewView
	// Redact removes every secret the environment knows from a text; every
	// text of the page passes through it.
	Redact func(string) string
}

// ReleaseSpec is a release as the environment file defines it.
type ReleaseSpec struct {
	Name, Version string
}

// RouterView is what the router routes now.
type RouterView struct {
	Live         string
	Maintenance  bool
	HeldPreviews []string
	Running      bool // serve's router is up (always, on serve's own page)
}

// PreviewView says how a release is previewed on the public address.
type PreviewView struct {
	PublicURL string // scheme://host[:port]
	Scheme    string
	Host      string // router.host, "" when host-name previews are off
	Port      string // the public port for host-name links, "" for the default
	Header    string
	Grants    bool // a grant key is configured
	Allow     []string
}

// Page is the view the template renders and the JSON endpoint returns.
type Page struct {
	Environment string            `json:"environment"`
	Generated   string            `json:"generated"`
	Shape       string            `json:"shape"`
	Errors      []string          `json:"errors,omitempty"`
	Live        string            `json:"live"`
	Rollback    string            `json:"rollback_target"`
	LiveSince   string            `json:"live_since,omitempty"`
	Maintenance string            `json:"maintenance,omitempty"`
	Progressive string            `json:"progressive,omitempty"`
	Releases    []ReleaseRow      `json:"releases"`
	Journal     []JournalRow      `json:"journal"`
	JournalNote string            `json:"journal_note"`
	Preview     PreviewView       `json:"preview"`
	StopURL     string            `json:"stop_url"`
	Values      map[string]string `json:"values"`
}

// ReleaseRow is one release and everything the page says of it.
type ReleaseRow struct {
	Name        string         `json:"name"`
	Version     string         `json:"version"`
	Roles       []string       `json:"roles"` // live, rollback target, retired, torn down
	Running     bool           `json:"running"`
	Health      string         `json:"health"`
	Steps       string         `json:"steps"`
	PreviewURL  string         `json:"preview_url,omitempty"`
	HostURL     string         `json:"host_url,omitempty"`
	Header      string         `json:"header"`
	Namespaces  []NamespaceRow `json:"namespaces"`
	Verify      *VerifyView    `json:"verify,omitempty"`
	Traffic     Rates          `json:"traffic"`
	Previewable bool           `json:"previewable"`
}

// NamespaceRow is a namespace with its restore proof.
type NamespaceRow struct {
	Service   string `json:"service"`
	Logical   string `json:"logical"`
	Name      string `json:"name"`
	Status    string `json:"status"`
	Isolation string `json:"isolation,omitempty"`
	Proof     string `json:"proof"`
	Error     string `json:"error,omitempty"`
}

// VerifyView is a release's latest verify report.
type VerifyView struct {
	At      string      `json:"at"`
	Verdict string      `json:"verdict"` // passed, failed, partial
	Summary string      `json:"summary"`
	Results []ResultRow `json:"results"`
}

// ResultRow is one check's result.
type ResultRow struct {
	Check  string `json:"check"`
	Target string `json:"target"`
	Status string `json:"status"`
	Detail string `json:"detail"`
}

// JournalRow is one journal entry.
type JournalRow struct {
	Time    string `json:"time"`
	Actor   string `json:"actor"`
	Command string `json:"command"`
	Release string `json:"release"`
	Step    string `json:"step"`
	Outcome string `json:"outcome"`
	Reason  string `json:"reason"`
	Detail  string `json:"detail"`
}

// Build turns the gathered data into the page's view, every text redacted.
func Build(d Data) Page {
	red := d.Redact
	if red == nil {
		red = func(s string) string { return s }
	}
	ts := func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format("2006-01-02 15:04:05Z")
	}
	p := Page{Environment: red(d.Environment), Generated: ts(d.Now), Preview: d.Preview, Live: d.Router.Live,
		StopURL: d.Preview.PublicURL + router.PreviewPath + "?clear=1", Values: map[string]string{}}
	if d.StateError != "" {
		p.Errors = append(p.Errors, "The state cannot be read: "+red(d.StateError)+". The page shows what the router knows.")
	}
	if d.JournalError != "" {
		p.Errors = append(p.Errors, "The journal cannot be read: "+red(d.JournalError)+".")
	}
	s := d.State
	if s == nil {
		s = &store.State{}
	}
	if s.Live != "" {
		p.Live = s.Live
	}
	p.Rollback = s.Previous
	p.LiveSince = ts(s.LiveSince)
	if d.Router.Maintenance {
		p.Maintenance = "A maintenance window is on: public traffic gets 503."
		if len(d.Router.HeldPreviews) > 0 {
			p.Maintenance += " Previews of " + strings.Join(d.Router.HeldPreviews, ", ") + " are held too."
		}
	}
	p.Progressive = progressive(s.Progressive, red, ts)

	// Every release the file defines, then any state still knows.
	names := []string{}
	versions := map[string]string{}
	for _, r := range d.Releases {
		names = append(names, r.Name)
		versions[r.Name] = r.Version
	}
	for _, n := range s.Names() {
		if !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	for _, name := range names {
		rs := s.Releases[name]
		row := ReleaseRow{Name: red(name), Version: red(versions[name]), Header: d.Preview.Header + ": " + name, Traffic: d.Traffic[name]}
		if rs != nil {
			if rs.Version != "" {
				row.Version = red(rs.Version)
			}
			row.Running = rs.Running
			row.Steps = red(steps(rs))
			for _, ns := range rs.Namespaces {
				row.Namespaces = append(row.Namespaces, NamespaceRow{Service: string(ns.Service), Logical: red(ns.Logical), Name: red(ns.Name),
					Status: red(ns.Status), Isolation: red(ns.Isolation), Proof: red(proof(ns.Proof)), Error: red(ns.Error)})
			}
			row.Verify = verifyView(rs.Verify, red, ts)
		}
		switch {
		case name == s.Live:
			row.Roles = append(row.Roles, "live")
		case name == s.Previous:
			row.Roles = append(row.Roles, "rollback target")
		case rs != nil && !rs.TornDownAt.IsZero():
			row.Roles = append(row.Roles, "torn down")
		case rs != nil && !rs.RetiredAt.IsZero():
			row.Roles = append(row.Roles, "retired")
		}
		row.Health = red(d.Health[name])
		if row.Health == "" {
			row.Health = "not running"
			if row.Running {
				row.Health = "unknown"
			}
		}
		row.Previewable = row.Running && name != s.Live
		if row.Previewable {
			row.PreviewURL = d.Preview.PublicURL + router.PreviewPath + name
			if d.Preview.Host != "" {
				host := name + "." + d.Preview.Host
				if d.Preview.Port != "" {
					host += ":" + d.Preview.Port
				}
				row.HostURL = d.Preview.Scheme + "://" + host + "/"
			}
		}
		k := "release." + name + "."
		p.Values[k+"health"] = row.Health
		p.Values[k+"running"] = yesNo(row.Running)
		p.Values[k+"rps"] = row.Traffic.RPSText()
		p.Values[k+"errors"] = row.Traffic.ErrorText()
		p.Values[k+"p50"] = row.Traffic.P50Text()
		p.Values[k+"p99"] = row.Traffic.P99Text()
		p.Releases = append(p.Releases, row)
	}
	if none, ok := d.Traffic["none"]; ok && none.Requests > 0 {
		p.Values["release.none.rps"] = none.RPSText()
	}

	n := len(d.Journal)
	first := max(0, n-JournalShown)
	for i := n - 1; i >= first; i-- {
		e := d.Journal[i]
		p.Journal = append(p.Journal, JournalRow{Time: ts(e.Time), Actor: red(e.Actor), Command: red(e.Command), Release: red(e.Release),
			Step: red(e.Step), Outcome: red(e.Outcome), Reason: red(e.Reason), Detail: red(e.Detail)})
	}
	p.JournalNote = fmt.Sprintf("the last %d of %d entries, newest first", len(p.Journal), n)

	// The shape changes when what the page lays out changes; the script
	// reloads the page then, and only updates values otherwise.
	var shape strings.Builder
	fmt.Fprintf(&shape, "%s|%s|%s|%s|%d|%s|%d", p.Live, p.Rollback, p.Maintenance, p.Progressive, n, strings.Join(p.Errors, ";"), s.Revision)
	for _, r := range p.Releases {
		fmt.Fprintf(&shape, "|%s:%v:%d", r.Name, r.Running, len(r.Namespaces))
	}
	h := fnv.New64a()
	h.Write([]byte(shape.String()))
	p.Shape = strconv.FormatUint(h.Sum64(), 36)
	return p
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func steps(rs *store.ReleaseState) string {
	var parts []string
	for _, st := range store.StepOrder {
		if s, ok := rs.Steps[st]; ok {
			parts = append(parts, st+" "+s.Status)
		}
	}
	return strings.Join(parts, ", ")
}

func proof(p *store.Proof) string {
	if p == nil {
		return "no proof"
	}
	var objects int64
	for _, n := range p.Objects {
		objects += n
	}
	s := fmt.Sprintf("%d objects in %d tables or collections", objects, len(p.Objects))
	if len(p.Hashes) > 0 {
		s += fmt.Sprintf(", %d hashed", len(p.Hashes))
	}
	if p.Bytes > 0 {
		s += fmt.Sprintf(", %.1f MB", float64(p.Bytes)/1e6)
	}
	if p.Seconds > 0 {
		s += fmt.Sprintf(" in %.1fs", p.Seconds)
	}
	if p.Source != "" {
		s += " from " + p.Source
	}
	if !p.At.IsZero() {
		s += ", " + p.At.UTC().Format("2006-01-02 15:04Z")
	}
	return s
}

// statusOrder puts failures first, then warnings, skips, passes.
var statusOrder = map[verify.Status]int{verify.Fail: 0, verify.Warn: 1, verify.Skip: 2, verify.Pass: 3}

func verifyView(v *store.VerifyRecord, red func(string) string, ts func(time.Time) string) *VerifyView {
	if v == nil {
		return nil
	}
	out := &VerifyView{At: ts(v.At), Verdict: "passed"}
	switch {
	case !v.Passed:
		out.Verdict = "failed"
	case v.Partial:
		out.Verdict = "partial"
	}
	out.Summary = fmt.Sprintf("%d pass, %d warn, %d fail, %d skip", v.Counts["pass"], v.Counts["warn"], v.Counts["fail"], v.Counts["skip"])
	results := slices.Clone(v.Results)
	slices.SortStableFunc(results, func(a, b verify.Result) int {
		return cmp.Or(cmp.Compare(order(a.Status), order(b.Status)), cmp.Compare(a.Check, b.Check), cmp.Compare(a.Target, b.Target))
	})
	for _, r := range results {
		out.Results = append(out.Results, ResultRow{Check: red(r.Check), Target: red(r.Target), Status: string(r.Status), Detail: red(r.Detail)})
	}
	if len(results) == 0 {
		// A record from before results were kept: its failures as text.
		for _, f := range v.Failed {
			out.Results = append(out.Results, ResultRow{Check: "", Target: "", Status: string(verify.Fail), Detail: red(f)})
		}
	}
	return out
}

func order(s verify.Status) int {
	if o, ok := statusOrder[s]; ok {
		return o
	}
	return 0 // an unknown status is shown with the failures
}

// progressive says where a progressive cutover stands: the share of public
// traffic its release takes now, or how the last one ended (while it still
// concerns the live release).
func progressive(pg *store.Progressive, red func(string) string, ts func(time.Time) string) string {
	if pg == nil {
		return ""
	}
	step := fmt.Sprintf("step %d of %d", pg.Step+1, len(pg.Steps))
	switch pg.Status {
	case store.ProgressRunning:
		return fmt.Sprintf("A progressive cutover is running: %s takes %d%% of public traffic from %s (%s, since %s).",
			red(pg.Release), pg.Percent, red(pg.From), step, ts(pg.Since))
	case store.ProgressPaused:
		return fmt.Sprintf("A progressive cutover is paused: %s keeps %d%% of public traffic from %s (%s): %s.",
			red(pg.Release), pg.Percent, red(pg.From), step, red(pg.Why))
	case store.ProgressRolledBack:
		return fmt.Sprintf("The progressive cutover of %s was rolled back at %s: %s. Its traffic went back to %s.",
			red(pg.Release), step, red(pg.Why), red(pg.From))
	case store.ProgressAborted:
		return fmt.Sprintf("The progressive cutover of %s was aborted at %s: %s. Its traffic went back to %s.",
			red(pg.Release), step, red(pg.Why), red(pg.From))
	}
	return ""
}
