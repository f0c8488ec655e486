// Package control is the protocol between the CLI and `termshift serve`: a
// unix socket in the environment's work directory, on which serve answers
// GET /status and POST /apply (converge on state now) with what it applied.
package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"time"

	"github.com/termshift/termshift"
)

// SocketName is the socket's file name in the work directory.
const SocketName = "serve.sock"

// ErrNotRunning: no `termshift serve` answers for this environment.
var ErrNotRunning = errors.New("termshift serve is not running for this environment")

// Status is what serve reports it has applied.
type Status struct {
	PID     int       `json:"pid"`
	Started time.Time `json:"started"`
	Applied time.Time `json:"applied"`
	Listen  string    `json:"listen"`
	// Admin is the address of the dashboard, status and metrics; "" when
	// it could not bind.
	Admin       string            `json:"admin,omitempty"`
	Live        string            `json:"live"`
	Backends    map[string]string `json:"backends"` // release -> URL
	Maintenance bool              `json:"maintenance"`
	// SplitRelease gets SplitPercent of public traffic (a progressive
	// cutover); "" without a split.
	SplitRelease string               `json:"split_release,omitempty"`
	SplitPercent int                  `json:"split_percent,omitempty"`
	Processes    map[string][]ProcRow `json:"processes,omitempty"`
	Errors       []string             `json:"errors,omitempty"`
	// StateError says that serve cannot read the state (a shared state's
	// server does not answer) and since when: it keeps serving the last
	// routing table it applied. "" while the state is read.
	StateError string `json:"state_error,omitempty"`
}

// ProcRow is one supervised process as serve reports it.
type ProcRow struct {
	Name     string `json:"name"`
	PID      int    `json:"pid"`
	Running  bool   `json:"running"`
	Restarts int    `json:"restarts"`
	LastExit string `json:"last_exit,omitempty"`
}

// Client talks to serve through its socket.
type Client struct {
	Socket string
}

// NewClient returns a client for the serve of a work directory.
func NewClient(workDir string) *Client { return &Client{Socket: filepath.Join(workDir, SocketName)} }

// Running reports whether a serve answers on the socket.
func (c *Client) Running() bool {
	conn, err := net.DialTimeout("unix", c.Socket, 500*time.Millisecond)
	if err != nil {
		return false
	}
	conn.Close()
	return true
}

// Status asks serve what it has applied.
func (c *Client) Status(ctx context.Context) (*Status, error) {
	return c.call(ctx, http.MethodGet, "/status")
}

// Apply asks serve to converge on state now and returns what it applied.
// Without serve it returns an error wrapping ErrNotRunning.
func (c *Client) Apply(ctx context.Context) (*Status, error) {
	return c.call(ctx, http.MethodPost, "/apply")
}

func (c *Client) call(ctx context.Context, method, path string) (*Status, error) {
	if !c.Running() {
		return nil, termshift.WithHint(ErrNotRunning, "start it: `termshift serve` (it runs the router and the local releases)")
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://termshift"+path, nil)
	if err != nil {
		return nil, err
	}
	hc := &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", c.Socket)
		},
	}}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("ask termshift serve: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var st Status
	if err := json.Unmarshal(body, &st); err != nil {
		return nil, fmt.Errorf("ask termshift serve: %w", err)
	}
	return &st, nil
}

// Handler serves the protocol: apply converges and returns the status,
// status returns the last one.
func Handler(apply func() (Status, error), status func() Status) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /apply", func(w http.ResponseWriter, r *http.Request) {
		st, err := apply()
		if err != nil {
			st.Errors = append(st.Errors, err.Error())
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(st)
	})
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(status())
	})
	return mux
}
