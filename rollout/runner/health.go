package runner

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

// WaitHealthy polls rawURL every interval until it answers 200, or ctx is
// done; the error then says the last status or error seen.
func WaitHealthy(ctx context.Context, rawURL string, interval time.Duration) error {
	u, err := url.Parse(rawURL)
	if err != nil {
		return fmt.Errorf("wait healthy: parse url: %w", err)
	}
	shown := u.Redacted()
	if interval <= 0 {
		interval = 200 * time.Millisecond
	}
	client := &http.Client{
		Timeout:   max(interval, 2*time.Second),
		Transport: &http.Transport{DisableKeepAlives: true},
	}
	last := "no answer yet"
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
		if err != nil {
			return fmt.Errorf("wait healthy %s: %w", shown, err)
		}
		resp, err := client.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = "status " + resp.Status
		} else if ctx.Err() == nil {
			last = err.Error()
		}
		t := time.NewTimer(interval)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("wait healthy %s: %w; last seen: %s", shown, ctx.Err(), last)
		case <-t.C:
		}
	}
}
