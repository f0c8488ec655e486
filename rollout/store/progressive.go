package store

import "time"

// Statuses of a progressive cutover.
const (
	// ProgressRunning: the split holds the current step's weight and the
	// analysis runs at the end of each interval.
	ProgressRunning = "running"
	// ProgressPaused: the split holds its weight; no analysis, no
	// promotion, until `cutover --resume`.
	ProgressPaused = "paused"
	// ProgressRolledBack: an analysis failed; the split went to 0 on its own.
	ProgressRolledBack = "rolled-back"
	// ProgressAborted: an operator sent the traffic back (`cutover --abort`).
	ProgressAborted = "aborted"
	// ProgressPromoted: the release took 100% and became live.
	ProgressPromoted = "promoted"
)

// Requests a steering command leaves for the running progressive cutover.
const (
	RequestPromote = "promote"
)

// Progressive is a progressive cutover of a release sharing the live
// release's data: where it stands, so that another terminal can steer it
// and a restarted command continues it. Serve routes Percent of public
// traffic to Release while it is active.
type Progressive struct {
	Release string `json:"release"`
	// From is the live release when it started: the split is between the two.
	From  string `json:"from"`
	Steps []int  `json:"steps"`
	// Step is the index in Steps of the current step; Percent the weight
	// routed now (0 once rolled back or aborted).
	Step    int       `json:"step"`
	Percent int       `json:"percent"`
	Since   time.Time `json:"since"` // when the current step's weight was applied
	Started time.Time `json:"started"`
	// Interval is how long each step runs before its analysis.
	Interval time.Duration `json:"interval_ns"`
	Status   string        `json:"status"`
	// Why says what set the status: the failed metric and its value, who
	// paused, aborted or promoted.
	Why string `json:"why,omitempty"`
	// Failures counts the failed analyses of the current step.
	Failures int `json:"failures,omitempty"`
	// Request is what a steering command asked of the running command
	// (RequestPromote), "" when nothing.
	Request string `json:"request,omitempty"`
	// Thresholds of the analysis, as the command that started it set them.
	MaxErrorRate float64       `json:"max_error_rate"` // percent of 5xx answers
	MaxP99       time.Duration `json:"max_p99_ns"`
	MinRequests  uint64        `json:"min_requests"`
	FailureLimit int           `json:"failure_limit"`
	// History is one line per analysed step, newest last.
	History []ProgressStep `json:"history,omitempty"`
}

// ProgressStep is the outcome of one analysis.
type ProgressStep struct {
	At      time.Time `json:"at"`
	Percent int       `json:"percent"`
	Verdict string    `json:"verdict"` // pass, fail, inconclusive
	Detail  string    `json:"detail"`
}

// Active reports whether the progressive cutover still steers traffic
// (running or paused).
func (p *Progressive) Active() bool {
	return p != nil && (p.Status == ProgressRunning || p.Status == ProgressPaused)
}
