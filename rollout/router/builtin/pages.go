package builtin

import (
	"bytes"
	"html/template"
	"net/http"
	"strings"
)

// The router's own answers on the public address. They name no release the
// caller did not name itself: a refusal is the same whether the release
// exists or not, and the 404 of an unknown preview lists nothing.

var pageTemplate = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>{{.Title}}</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:4rem auto;padding:0 1rem;color:#222}h1{font-size:1.4rem}</style>
</head><body><main><h1>{{.Title}}</h1><p>{{.Text}}</p>{{if .Stop}}<p><a href="{{.Stop}}">Stop previewing</a> and go back to the public site.</p>{{end}}</main></body></html>
`))

type pageData struct {
	Title, Text, Stop string
}

// page answers with a small HTML page to browsers and one plain line to
// everything else (curl, test suites).
func page(w http.ResponseWriter, req *http.Request, code int, title, text string) {
	writePage(w, req, code, pageData{Title: title, Text: text})
}

func writePage(w http.ResponseWriter, req *http.Request, code int, d pageData) {
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	if !strings.Contains(req.Header.Get("Accept"), "text/html") {
		h.Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(code)
		_, _ = w.Write([]byte(d.Text + "\n"))
		return
	}
	var b bytes.Buffer
	if err := pageTemplate.Execute(&b, d); err != nil {
		h.Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(code)
		_, _ = w.Write([]byte(d.Text + "\n"))
		return
	}
	h.Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	_, _ = w.Write(b.Bytes())
}

// refused is the 403 of a preview that is not allowed.
func refused(w http.ResponseWriter, req *http.Request, why string) {
	writePage(w, req, http.StatusForbidden, pageData{
		Title: "Preview not allowed",
		Text:  "Preview refused: " + why + ".",
		Stop:  stopPath,
	})
}

// unknownRelease is the 404 of an allowed preview of a release that does
// not run. It names only what the caller asked for.
func unknownRelease(w http.ResponseWriter, req *http.Request, d decision) {
	text := "No running release is called " + releaseShown(d.asked) + " (asked by " + d.how + "). The releases that run are listed on the termshift dashboard of the admin address."
	stop := ""
	if d.how == byCookie || d.how == byGrant {
		stop = stopPath
	}
	writePage(w, req, http.StatusNotFound, pageData{Title: "Unknown release", Text: text, Stop: stop})
}
