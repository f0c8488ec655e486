package builtin_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/termshift/termshift/rollout/router"
	"github.com/termshift/termshift/rollout/router/builtin"
)

// A switch into a maintenance window returns only once the request the
// live release was serving has finished; new public requests get 503
// meanwhile.
func TestMaintenanceSwitchDrainsRequestsInFlight(t *testing.T) {
	t.Parallel()
	entered, release := make(chan struct{}), make(chan struct{})
	var finished atomic.Bool
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			close(entered)
			<-release
			finished.Store(true)
		}
		w.WriteHeader(http.StatusCreated)
	}))
	t.Cleanup(slow.Close)
	u, _ := url.Parse(slow.URL)
	rt := builtin.New(builtin.Options{})
	rt.Update("live", []router.Backend{{Release: "live", URL: u}})

	inFlight := make(chan int)
	go func() {
		rec := httptest.NewRecorder()
		rt.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/slow", nil))
		inFlight <- rec.Code
	}()
	<-entered
	switched := make(chan error)
	go func() {
		switched <- rt.Switch(context.Background(), router.Table{Live: "live", Backends: []router.Backend{{Release: "live", URL: u}},
			Maintenance: &router.Maintenance{RetryAfter: time.Second}})
	}()
	// Once the window is on, new public requests get 503 without waiting.
	for {
		rec := httptest.NewRecorder()
		rt.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/fast", nil))
		if rec.Code == http.StatusServiceUnavailable {
			break
		}
	}
	select {
	case err := <-switched:
		t.Fatalf("the switch returned (%v) while a request was still in flight", err)
	default:
	}
	close(release)
	if err := <-switched; err != nil {
		t.Fatal(err)
	}
	if !finished.Load() {
		t.Error("the switch returned before the request in flight finished")
	}
	if code := <-inFlight; code != http.StatusCreated {
		t.Errorf("the request in flight got %d, want its answer 201", code)
	}
}

// A request that never finishes fails the drain once its context ends.
func TestDrainGivesUp(t *testing.T) {
	t.Parallel()
	entered, release := make(chan struct{}), make(chan struct{})
	stuck := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-release
	}))
	t.Cleanup(func() { close(release); stuck.Close() })
	u, _ := url.Parse(stuck.URL)
	rt := builtin.New(builtin.Options{})
	rt.Update("live", []router.Backend{{Release: "live", URL: u}})
	go rt.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
	<-entered
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := rt.Drain(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("drain with a request stuck: %v, want the context's error", err)
	}
}
