package builtin_test

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/termshift/termshift/rollout/router"
	"github.com/termshift/termshift/rollout/router/builtin"
)

// htmlBackend answers each path with a page of its own kind and records
// the Accept-Encoding it was asked for.
func htmlBackend(t *testing.T, release string, seen chan<- string) router.Backend {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case seen <- r.Header.Get("Accept-Encoding"):
		default:
		}
		switch r.URL.Path {
		case "/json":
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"html":"<body>"}`)
		case "/gzip":
			w.Header().Set("Content-Type", "text/html")
			w.Header().Set("Content-Encoding", "gzip")
			zw := gzip.NewWriter(w)
			io.WriteString(zw, "<html><body>compressed "+release+"</body></html>")
			zw.Close()
		case "/nobody":
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			io.WriteString(w, strings.Repeat("<p>x</p>", 10000)+"<body>too late</body>")
		case "/split":
			// The tag arrives in two writes, flushed apart.
			w.Header().Set("Content-Type", "text/html")
			io.WriteString(w, "<html><head><title>t</title></head><BO")
			w.(http.Flusher).Flush()
			time.Sleep(20 * time.Millisecond)
			io.WriteString(w, `dy data-x="a>b">split `+release+`</body></html>`)
		default:
			body := `<!doctype html><html><head><title>` + release + `</title></head><body class="home"><h1>` + release + `</h1></body></html>`
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Header().Set("Content-Length", strconv.Itoa(len(body)))
			w.Header().Set("ETag", `"v1"`)
			io.WriteString(w, body)
		}
	}))
	t.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL)
	return router.Backend{Release: release, URL: u}
}

const bannerStart = `<div id="termshift-preview"`

func TestPreviewBanner(t *testing.T) {
	t.Parallel()
	seen := make(chan string, 1)
	r := builtin.New(builtin.Options{Addr: "127.0.0.1:0", Allow: builtin.Loopback, Host: "lms.test"})
	r.Update("current", []router.Backend{htmlBackend(t, "current", nil), htmlBackend(t, "next", seen)})
	addr := serving(t, r)
	c := clientFrom(t, "127.0.0.1", nil)
	c.Transport.(*http.Transport).DisableCompression = true

	get := func(path string, rq request) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://"+addr+path, nil)
		req.Header.Set("Accept-Encoding", "gzip, br")
		if rq.host != "" {
			req.Host = rq.host
		}
		for k, v := range rq.header {
			req.Header.Set(k, v)
		}
		for k, v := range rq.cookie {
			req.AddCookie(&http.Cookie{Name: k, Value: v})
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp, string(b)
	}
	cookie := request{cookie: map[string]string{router.PreviewCookie: "next"}}

	resp, body := get("/", cookie)
	if got := <-seen; got != "identity" {
		t.Errorf("a preview asked the release for Accept-Encoding %q, want identity", got)
	}
	wantStart := `<body class="home">` + bannerStart
	if !strings.Contains(body, wantStart) || !strings.Contains(body, `previewing <strong style="all:unset;font-weight:700">next</strong> - <a href="/_termshift/preview/?clear=1"`) {
		t.Errorf("cookie preview page: want the banner right after <body ...> with a stop link; got %s", body)
	}
	if resp.ContentLength != int64(len(body)) || resp.Header.Get("Content-Length") != strconv.Itoa(len(body)) {
		t.Errorf("Content-Length %d (%q) for a body of %d bytes", resp.ContentLength, resp.Header.Get("Content-Length"), len(body))
	}
	if resp.Header.Get("ETag") != "" {
		t.Errorf("the release's ETag is kept on a changed body")
	}
	if strings.Count(body, bannerStart) != 1 {
		t.Errorf("%d banners", strings.Count(body, bannerStart))
	}

	_, body = get("/", request{host: "next.lms.test:8080"})
	if !strings.Contains(body, `<a href="//lms.test:8080/"`) {
		t.Errorf("host-name preview: want a stop link to the public host; got %s", body)
	}
	_, body = get("/split", cookie)
	if !strings.Contains(body, `<BOdy data-x="a>b">`+bannerStart) {
		t.Errorf("a tag split across writes, with '>' in an attribute: got %s", body)
	}

	untouched := []struct {
		name string
		path string
		rq   request
	}{
		{"public traffic", "/", request{}},
		{"header preview (tools and test suites)", "/", request{header: map[string]string{router.PreviewHeader: "next"}}},
		{"not HTML", "/json", cookie},
		{"no <body> in the first 64 KiB", "/nobody", cookie},
	}
	for _, tt := range untouched {
		if _, body := get(tt.path, tt.rq); strings.Contains(body, bannerStart) {
			t.Errorf("%s got the banner", tt.name)
		}
	}
	resp, body = get("/gzip", cookie)
	if resp.Header.Get("Content-Encoding") != "gzip" || strings.Contains(body, bannerStart) {
		t.Errorf("compressed anyway: Content-Encoding %q; want it passed through untouched", resp.Header.Get("Content-Encoding"))
	}
	zr, err := gzip.NewReader(bytes.NewReader([]byte(body)))
	if err != nil {
		t.Fatalf("compressed answer is no longer gzip: %v", err)
	}
	if plain, _ := io.ReadAll(zr); !strings.Contains(string(plain), "compressed next") {
		t.Errorf("compressed answer: %q", plain)
	}
	// HEAD of a preview: headers as GET would have them, no body.
	req, _ := http.NewRequest(http.MethodHead, "http://"+addr+"/", nil)
	req.AddCookie(&http.Cookie{Name: router.PreviewCookie, Value: "next"})
	if hr, err := c.Do(req); err != nil || hr.StatusCode != 200 {
		t.Errorf("HEAD of a preview: %v %v", hr, err)
	} else {
		hr.Body.Close()
	}
}
