package dashboard

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"html/template"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
)

//go:embed assets
var assets embed.FS

var pageTemplate = template.Must(template.ParseFS(assets, "assets/page.html"))

// Prefix is where the dashboard lives on the admin address.
const Prefix = "/_termshift/"

// Handler serves the dashboard under Prefix: the page, its JSON, and its
// assets. load gathers what the page shows, once per request.
func Handler(load func(ctx context.Context) Data, logger *slog.Logger) http.Handler {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	static, _ := fs.Sub(assets, "assets")
	files := http.StripPrefix(Prefix+"assets/", http.FileServerFS(static))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "the dashboard is read-only: use GET", http.StatusMethodNotAllowed)
			return
		}
		secure(w.Header())
		switch p := strings.TrimPrefix(r.URL.Path, Prefix); {
		case p == "":
			var b bytes.Buffer
			if err := Render(&b, Build(load(r.Context()))); err != nil {
				logger.Error("dashboard: render", "err", err)
				http.Error(w, "the dashboard could not be rendered: "+err.Error(), http.StatusInternalServerError)
				return
			}
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Header().Set("Cache-Control", "no-store")
			_, _ = w.Write(b.Bytes())
		case p == "dashboard.json":
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Cache-Control", "no-store")
			enc := json.NewEncoder(w)
			enc.SetIndent("", " ")
			if err := enc.Encode(Build(load(r.Context()))); err != nil {
				logger.Debug("dashboard: write json", "err", err)
			}
		case strings.HasPrefix(p, "assets/") && p != "assets/page.html":
			w.Header().Set("Cache-Control", "no-cache")
			files.ServeHTTP(w, r)
		default:
			http.NotFound(w, r)
		}
	})
}

// Render writes the page.
func Render(w io.Writer, p Page) error {
	return pageTemplate.Execute(w, p)
}

// secure sets the headers that keep the page from being framed, sniffed,
// or made to run anything but its own script.
func secure(h http.Header) {
	h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
}
