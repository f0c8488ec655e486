package analysis

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/termshift/termshift"
)

// Query is a PromQL query whose single value must meet Condition, e.g.
// `sum(rate(http_requests_total{release="{{release}}",code=~"5.."}[{{window}}]))`
// with Condition "< 0.5". In the query, {{release}} is the canary release,
// {{live}} the live one and {{window}} the step's interval in seconds
// ("120s").
type Query struct {
	Name      string
	Query     string
	Condition string
}

// condition is a parsed Condition: an operator and a bound.
type condition struct {
	op    string
	bound float64
}

var operators = []string{"<=", ">=", "==", "!=", "<", ">"}

// ParseCondition reads "OP NUMBER" with OP one of < <= > >= == !=.
func ParseCondition(s string) (condition, error) {
	t := strings.TrimSpace(s)
	for _, op := range operators {
		if rest, ok := strings.CutPrefix(t, op); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			if err != nil || math.IsNaN(v) {
				break
			}
			return condition{op: op, bound: v}, nil
		}
	}
	return condition{}, fmt.Errorf("condition %q: want an operator (< <= > >= == !=) and a number, e.g. \"< 0.01\": %w", s, termshift.ErrInvalid)
}

func (c condition) holds(v float64) bool {
	switch c.op {
	case "<":
		return v < c.bound
	case "<=":
		return v <= c.bound
	case ">":
		return v > c.bound
	case ">=":
		return v >= c.bound
	case "==":
		return v == c.bound
	}
	return v != c.bound
}

// QueryResult is one query's outcome; Err says why it could not be told.
type QueryResult struct {
	Name      string  `json:"name"`
	Condition string  `json:"condition"`
	Value     float64 `json:"value"`
	Passed    bool    `json:"passed"`
	Err       string  `json:"error,omitempty"`
}

// Prometheus runs instant queries through the Prometheus HTTP API
// (GET /api/v1/query).
type Prometheus struct {
	// URL is the server's base URL, e.g. http://prometheus:9090.
	URL    string
	Client *http.Client
}

// Validate refuses queries without a name or a query, and bad conditions.
func Validate(queries []Query) error {
	for i, q := range queries {
		if strings.TrimSpace(q.Name) == "" || strings.TrimSpace(q.Query) == "" {
			return fmt.Errorf("progressive.prometheus.queries[%d]: name and query are required: %w", i, termshift.ErrInvalid)
		}
		if _, err := ParseCondition(q.Condition); err != nil {
			return fmt.Errorf("progressive.prometheus.queries[%d] (%s): %w", i, q.Name, err)
		}
	}
	return nil
}

// Check runs every query for a step at time at and says which met its
// condition. A query that fails, or answers no single value, is reported
// with Err: the step cannot be told.
func (p *Prometheus) Check(ctx context.Context, queries []Query, canary, live string, window time.Duration, at time.Time) []QueryResult {
	out := make([]QueryResult, 0, len(queries))
	for _, q := range queries {
		r := QueryResult{Name: q.Name, Condition: q.Condition}
		cond, err := ParseCondition(q.Condition)
		if err != nil {
			r.Err = err.Error()
			out = append(out, r)
			continue
		}
		text := strings.NewReplacer("{{release}}", canary, "{{live}}", live,
			"{{window}}", strconv.FormatInt(int64(math.Ceil(window.Seconds())), 10)+"s").Replace(q.Query)
		v, err := p.Query(ctx, text, at)
		if err != nil {
			r.Err = err.Error()
		} else {
			r.Value, r.Passed = v, cond.holds(v)
		}
		out = append(out, r)
	}
	return out
}

// apiResponse is the envelope of every Prometheus HTTP API answer.
type apiResponse struct {
	Status    string          `json:"status"`
	ErrorType string          `json:"errorType"`
	Error     string          `json:"error"`
	Data      json.RawMessage `json:"data"`
}

type queryData struct {
	ResultType string          `json:"resultType"`
	Result     json.RawMessage `json:"result"`
}

// Query runs an instant query and returns its single value: a scalar, or a
// vector of exactly one sample.
func (p *Prometheus) Query(ctx context.Context, query string, at time.Time) (float64, error) {
	u, err := url.Parse(strings.TrimSuffix(p.URL, "/") + "/api/v1/query")
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return 0, fmt.Errorf("prometheus url %q: want http(s)://HOST[:PORT]: %w", p.URL, termshift.ErrInvalid)
	}
	form := url.Values{"query": {query}}
	if !at.IsZero() {
		form.Set("time", strconv.FormatFloat(float64(at.UnixMilli())/1000, 'f', 3, 64))
	}
	u.RawQuery = form.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return 0, err
	}
	c := p.Client
	if c == nil {
		c = &http.Client{Timeout: 10 * time.Second}
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, fmt.Errorf("prometheus query: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return 0, fmt.Errorf("prometheus query: %w", err)
	}
	var ar apiResponse
	if err := json.Unmarshal(body, &ar); err != nil {
		return 0, fmt.Errorf("prometheus query: status %d, not the API's JSON: %.200s", resp.StatusCode, body)
	}
	if ar.Status != "success" {
		return 0, fmt.Errorf("prometheus query: %s: %s", ar.ErrorType, ar.Error)
	}
	var d queryData
	if err := json.Unmarshal(ar.Data, &d); err != nil {
		return 0, fmt.Errorf("prometheus query: data: %w", err)
	}
	switch d.ResultType {
	case "scalar":
		var pair []json.RawMessage
		if err := json.Unmarshal(d.Result, &pair); err != nil || len(pair) != 2 {
			return 0, fmt.Errorf("prometheus query: scalar result %s: want [time, \"value\"]", d.Result)
		}
		return sampleValue(pair[1])
	case "vector":
		var vec []struct {
			Value []json.RawMessage `json:"value"`
		}
		if err := json.Unmarshal(d.Result, &vec); err != nil {
			return 0, fmt.Errorf("prometheus query: vector result: %w", err)
		}
		if len(vec) != 1 || len(vec[0].Value) != 2 {
			return 0, fmt.Errorf("prometheus query returned %d series, want exactly 1 (aggregate it, e.g. sum(...))", len(vec))
		}
		return sampleValue(vec[0].Value[1])
	}
	return 0, fmt.Errorf("prometheus query returned a %s, want a scalar or a vector of one sample", d.ResultType)
}

// sampleValue reads a sample's value, a JSON string ("0.5", "NaN", "+Inf").
func sampleValue(raw json.RawMessage) (float64, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return 0, fmt.Errorf("prometheus query: value %s: want a string", raw)
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, fmt.Errorf("prometheus query: value %q: %w", s, err)
	}
	if math.IsNaN(v) {
		return 0, fmt.Errorf("prometheus query: value is NaN (no traffic in the window?)")
	}
	return v, nil
}
