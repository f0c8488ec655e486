package analysis

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/termshift/termshift"
	"github.com/termshift/termshift/rollout/router/builtin"
)

// Admin reads the built-in router's counters from the admin address of
// `termshift serve` (builtin.TrafficPath), with the admin address's
// credentials when it has some.
type Admin struct {
	// Addr is the admin address, host:port.
	Addr   string
	Client *http.Client
	// Token or User and Password: router.admin_auth.
	Token    termshift.Secret
	User     string
	Password termshift.Secret
}

// Traffic returns the router's counters per release.
func (a *Admin) Traffic(ctx context.Context) (map[string]builtin.Traffic, error) {
	u := "http://" + a.Addr + builtin.TrafficPath
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("read the router's counters: admin address %q: %w", a.Addr, err)
	}
	switch {
	case a.Token != "":
		req.Header.Set("Authorization", "Bearer "+a.Token.Reveal())
	case a.Password != "":
		req.SetBasicAuth(a.User, a.Password.Reveal())
	}
	c := a.Client
	if c == nil {
		c = &http.Client{Timeout: 10 * time.Second}
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("read the router's counters from %s: %w", u, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("read the router's counters from %s: %w", u, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("read the router's counters from %s: status %d: %s", u, resp.StatusCode, strings.TrimSpace(string(body)))
	}
	var out map[string]builtin.Traffic
	if err := json.Unmarshal(body, &out); err != nil {
		return nil, fmt.Errorf("read the router's counters from %s: %w", u, err)
	}
	return out, nil
}
