package main

import (
	"bytes"
	"context"
	"errors"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/termshift/termshift"
)

// countFaults sends n requests to path through f and counts the answers
// that carry each X-LMS-Fault value, and the 500s.
func countFaults(t *testing.T, f *faults, path string, n int) (delayed, failed, status500 int) {
	t.Helper()
	h := f.wrap(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	for range n {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		for _, v := range rec.Header().Values("X-LMS-Fault") {
			switch v {
			case "delay":
				delayed++
			case "error":
				failed++
			default:
				t.Fatalf("X-LMS-Fault %q", v)
			}
		}
		if rec.Code == http.StatusInternalServerError {
			status500++
		} else if rec.Code != http.StatusNoContent {
			t.Fatalf("%s answered %d", path, rec.Code)
		}
	}
	return delayed, failed, status500
}

// The shares hold over many requests (statistical bounds: at 1000 draws,
// 0.3 lands in 200-400 and 0.5 in 400-600 with overwhelming probability),
// whatever the seed.
func TestFaultShares(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name            string
		opts            FaultOptions
		delayed, failed [2]int // inclusive bounds
	}{
		{"none", FaultOptions{}, [2]int{0, 0}, [2]int{0, 0}},
		{"errors 0.3", FaultOptions{Rate: 0.3}, [2]int{0, 0}, [2]int{200, 400}},
		{"delay 0.5", FaultOptions{Delay: time.Microsecond, DelayRate: 0.5}, [2]int{400, 600}, [2]int{0, 0}},
		{"both", FaultOptions{Rate: 0.3, Delay: time.Microsecond, DelayRate: 0.5}, [2]int{400, 600}, [2]int{200, 400}},
		{"all", FaultOptions{Rate: 1, Delay: time.Microsecond, DelayRate: 1}, [2]int{1000, 1000}, [2]int{1000, 1000}},
		{"delay rate without delay", FaultOptions{DelayRate: 1}, [2]int{0, 0}, [2]int{0, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFaults(tt.opts)
			delayed, failed, s500 := countFaults(t, f, "/api/writes", 1000)
			if delayed < tt.delayed[0] || delayed > tt.delayed[1] || failed < tt.failed[0] || failed > tt.failed[1] || s500 != failed {
				t.Errorf("seed %d: %d delayed, %d failed (%d answered 500) of 1000; want delayed in %v, failed in %v",
					f.opts.Seed, delayed, failed, s500, tt.delayed, tt.failed)
			}
			if d, e, s := countFaults(t, f, "/heartbeat", 200); d+e+s != 0 {
				t.Errorf("/heartbeat: %d delayed, %d failed, %d answered 500; want none", d, e, s)
			}
		})
	}
}

// Each process draws from its own source: a given seed repeats its
// sequence, and without one two processes differ.
func TestFaultSeeds(t *testing.T) {
	t.Parallel()
	seq := func(f *faults) string {
		var b strings.Builder
		for range 64 {
			if _, fail := f.draw(); fail {
				b.WriteByte('x')
			} else {
				b.WriteByte('.')
			}
		}
		return b.String()
	}
	a, b := seq(newFaults(FaultOptions{Rate: 0.5, Seed: 42})), seq(newFaults(FaultOptions{Rate: 0.5, Seed: 42}))
	if a != b {
		t.Errorf("seed 42 drew %s then %s", a, b)
	}
	f1, f2 := newFaults(FaultOptions{Rate: 0.5}), newFaults(FaultOptions{Rate: 0.5})
	if f1.opts.Seed == 0 || f1.opts.Seed == f2.opts.Seed {
		t.Errorf("random seeds %d and %d: want non-zero and different", f1.opts.Seed, f2.opts.Seed)
	}
}

func TestFaultOptionsRefused(t *testing.T) {
	t.Parallel()
	tests := []struct {
		opts FaultOptions
		want string
	}{
		{FaultOptions{Rate: -0.1}, "--fault-rate"},
		{FaultOptions{Rate: 1.5}, "--fault-rate"},
		{FaultOptions{Rate: math.NaN()}, "--fault-rate"},
		{FaultOptions{DelayRate: 2}, "--fault-delay-rate"},
		{FaultOptions{Delay: -time.Second}, "--fault-delay"},
		{FaultOptions{Delay: 2 * time.Minute}, "--fault-delay"},
	}
	for _, tt := range tests {
		err := tt.opts.Validate()
		if !errors.Is(err, termshift.ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Validate(%+v) = %v, want ErrInvalid naming %s", tt.opts, err, tt.want)
		}
	}
	if err := (FaultOptions{Rate: 0.3, Delay: time.Second, DelayRate: 0.5}).Validate(); err != nil {
		t.Errorf("Validate of good options: %v", err)
	}
	// Through the command line, before the configuration is read.
	err := run(context.Background(), []string{"web", "--config", "missing.json", "--fault-rate", "2"}, &bytes.Buffer{}, quietLog())
	if !errors.Is(err, termshift.ErrInvalid) || !strings.Contains(err.Error(), "--fault-rate 2") {
		t.Errorf("web --fault-rate 2 = %v, want ErrInvalid naming the flag", err)
	}
}

func TestHelp(t *testing.T) {
	t.Parallel()
	tests := []struct {
		mode string
		want []string
	}{
		{"web", []string{"usage: demo-lms web", "-fault-rate", "-fault-delay-rate", "-fault-seed", "but /heartbeat", "X-LMS-Fault"}},
		{"load", []string{"usage: demo-lms load", "-writes", "-acked", "-allow-503", "RUNID-NNNNNNNN"}},
		{"check-writes", []string{"usage: demo-lms check-writes", "-ids", "lost N of M"}},
		{"migrate", []string{"usage: demo-lms migrate", "-config"}},
	}
	for _, tt := range tests {
		var out bytes.Buffer
		if err := run(context.Background(), []string{tt.mode, "--help"}, &out, quietLog()); err != nil {
			t.Errorf("%s --help: %v", tt.mode, err)
		}
		for _, w := range tt.want {
			if !strings.Contains(out.String(), w) {
				t.Errorf("%s --help does not mention %q:\n%s", tt.mode, w, out.String())
			}
		}
	}
}

// On the real LMS: every route but /heartbeat fails at rate 1, and
// /heartbeat stays green.
func TestFaultsOnTheLMS(t *testing.T) {
	t.Parallel()
	_, _, srv := startLMS(t, "1.0", newFaults(FaultOptions{Rate: 1}))
	c := srv.Client()
	for _, path := range []string{"/", "/version", "/api/users/ada", "/api/writes/x-1", "/api/courses/course-v1:a+b+c"} {
		resp, body := do(t, c, "GET", srv.URL+path, "", "")
		if resp.StatusCode != http.StatusInternalServerError || resp.Header.Get("X-LMS-Fault") != "error" {
			t.Errorf("GET %s = %d %s, want an injected 500", path, resp.StatusCode, body)
		}
	}
	for range 20 {
		resp, body := do(t, c, "GET", srv.URL+"/heartbeat", "", "")
		if resp.StatusCode != http.StatusOK || resp.Header.Get("X-LMS-Fault") != "" {
			t.Fatalf("GET /heartbeat = %d %s (fault %q), want 200 untouched", resp.StatusCode, body, resp.Header.Get("X-LMS-Fault"))
		}
	}
}
