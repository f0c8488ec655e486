package verify

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// maxBody bounds what a smoke check reads looking for its text.
const maxBody = 4 << 20

// newHTTPClient does not follow redirects: a smoke check asserts the status
// the release answers, and a redirect would drop the preview header on
// another host.
func newHTTPClient() *http.Client {
	return &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// previewDo sends one request to the release through the router's preview
// route and returns the status and up to maxBody bytes of the body.
func previewDo(ctx context.Context, c *http.Client, t Target, method, path string) (int, []byte, error) {
	url := strings.TrimRight(t.RouterURL, "/") + "/" + strings.TrimLeft(path, "/")
	req, err := http.NewRequestWithContext(ctx, method, url, nil)
	if err != nil {
		return 0, nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if t.PreviewHeader != "" {
		req.Header.Set(t.PreviewHeader, t.Release)
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("%s %s: %w", method, url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return resp.StatusCode, nil, fmt.Errorf("%s %s: read body: %w", method, url, err)
	}
	return resp.StatusCode, body, nil
}

func planHealth(t Target, _ Options) []job {
	path := t.HealthPath
	if path == "" {
		path = "/"
	}
	if t.Unreachable != "" {
		return single(path, Unknown, t.Unreachable)
	}
	if t.RouterURL == "" {
		return single(path, Skip, "release not deployed")
	}
	return []job{{target: path, run: func(ctx context.Context) (Status, string) {
		code, _, err := previewDo(ctx, newHTTPClient(), t, http.MethodGet, path)
		if err != nil {
			return Fail, err.Error()
		}
		if code != http.StatusOK {
			return Fail, fmt.Sprintf("GET %s: status %d, want 200", path, code)
		}
		return Pass, fmt.Sprintf("GET %s: 200", path)
	}}}
}

func planSmoke(t Target, _ Options) []job {
	if len(t.Smoke) == 0 {
		return single("-", Skip, "no smoke checks")
	}
	var jobs []job
	for _, sc := range t.Smoke {
		name := sc.Name
		if name == "" {
			name = sc.Path
		}
		if t.Unreachable != "" {
			jobs = append(jobs, single(name, Unknown, t.Unreachable)...)
			continue
		}
		if t.RouterURL == "" {
			jobs = append(jobs, single(name, Skip, "release not deployed")...)
			continue
		}
		jobs = append(jobs, job{target: name, run: func(ctx context.Context) (Status, string) {
			method, want := sc.Method, sc.Status
			if method == "" {
				method = http.MethodGet
			}
			if want == 0 {
				want = http.StatusOK
			}
			code, body, err := previewDo(ctx, newHTTPClient(), t, method, sc.Path)
			if err != nil {
				return Fail, err.Error()
			}
			if code != want {
				return Fail, fmt.Sprintf("%s %s: status %d, want %d", method, sc.Path, code, want)
			}
			if sc.Contains != "" && !bytes.Contains(body, []byte(sc.Contains)) {
				return Fail, fmt.Sprintf("%s %s: %d, but the body (%d bytes) does not contain %q", method, sc.Path, code, len(body), sc.Contains)
			}
			if sc.Contains != "" {
				return Pass, fmt.Sprintf("%s %s: %d, body contains %q", method, sc.Path, code, sc.Contains)
			}
			return Pass, fmt.Sprintf("%s %s: %d", method, sc.Path, code)
		}})
	}
	return jobs
}
