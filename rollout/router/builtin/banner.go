package builtin

import (
	"bytes"
	"html"
	"io"
	"mime"
	"net"
	"net/http"
	"strconv"
	"strings"
)

// The preview banner: a thin bar "previewing RELEASE - stop" that the router
// puts right after <body ...> of every HTML page it proxies to a browser
// preview (preview cookie, grant cookie, or host name), so a QA person
// always sees which release answers. Public traffic never gets it, nor do
// header previews (test suites and tools get the release's bytes as they
// are).
//
// How: a preview request asks the release for Accept-Encoding: identity,
// so the body is plain HTML. The router then reads at most maxScan bytes,
// looking for the <body> tag; when it finds it, the answer is those bytes,
// the banner, and the rest of the body streamed as it comes, with
// Content-Length raised by the banner's length (or left out when the
// release sent none) and the release's ETag dropped (the bytes differ). An
// answer the release compressed anyway, a HEAD, a partial or empty answer,
// a non-HTML one, or one without <body> in its first maxScan bytes passes
// untouched.

const maxScan = 64 << 10

// wantsBanner: the preview comes from a browser flow.
func (d decision) wantsBanner() bool { return d.how == byCookie || d.how == byGrant || d.how == byHost }

// bannerHTML is the banner of a preview. Stopping a cookie preview clears
// the cookies; a host-name preview stops by going to the public host.
func bannerHTML(d decision, req *http.Request, publicHost string) []byte {
	stop := stopPath
	if d.how == byHost && publicHost != "" {
		host := publicHost
		if _, port, err := net.SplitHostPort(req.Host); err == nil {
			host = net.JoinHostPort(publicHost, port)
		}
		stop = "//" + host + "/"
	}
	return []byte(`<div id="termshift-preview" role="status" style="all:initial;display:block;box-sizing:border-box;width:100%;position:relative;z-index:2147483647;background:#ffd54f;color:#111;font:14px/1.7 system-ui,sans-serif;text-align:center;padding:0 8px">` +
		`previewing <strong style="all:unset;font-weight:700">` + html.EscapeString(d.release) + `</strong> - ` +
		`<a href="` + html.EscapeString(stop) + `" style="all:unset;color:#0645ad;text-decoration:underline;cursor:pointer">stop</a></div>`)
}

// injectBanner rewrites a preview's HTML answer to carry the banner.
func (r *Router) injectBanner(resp *http.Response, d decision) {
	if !d.wantsBanner() || resp.Request.Method == http.MethodHead || resp.StatusCode < 200 ||
		resp.StatusCode == http.StatusNoContent || resp.StatusCode == http.StatusPartialContent || resp.StatusCode == http.StatusNotModified {
		return
	}
	if ce := resp.Header.Get("Content-Encoding"); ce != "" && !strings.EqualFold(ce, "identity") {
		return
	}
	if mt, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type")); err != nil || mt != "text/html" {
		return
	}
	head, at, err := scanBody(resp.Body)
	rest := io.Reader(resp.Body)
	if err != nil && err != io.EOF {
		rest = io.MultiReader(errReader{err})
	} else if err == io.EOF {
		rest = eofReader{}
	}
	if at < 0 {
		resp.Body = readCloser{io.MultiReader(bytes.NewReader(head), rest), resp.Body}
		return
	}
	banner := bannerHTML(d, resp.Request, r.opts.Host)
	resp.Body = readCloser{io.MultiReader(bytes.NewReader(head[:at]), bytes.NewReader(banner), bytes.NewReader(head[at:]), rest), resp.Body}
	if resp.ContentLength >= 0 {
		resp.ContentLength += int64(len(banner))
		resp.Header.Set("Content-Length", strconv.FormatInt(resp.ContentLength, 10))
	} else {
		resp.Header.Del("Content-Length")
	}
	resp.Header.Del("ETag")
	resp.Header.Del("Content-MD5")
}

// scanBody reads from r until the end of the <body ...> tag is in what it
// read, maxScan bytes, or the end; at is the offset just after the tag, or
// -1. err is the reader's error, io.EOF at the end.
func scanBody(r io.Reader) (head []byte, at int, err error) {
	buf := make([]byte, 0, 8<<10)
	for len(buf) < maxScan {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, rerr := r.Read(buf[len(buf):min(cap(buf), maxScan)])
		buf = buf[:len(buf)+n]
		if at := bodyTagEnd(buf); at >= 0 {
			return buf, at, rerr
		}
		if rerr != nil {
			return buf, -1, rerr
		}
	}
	return buf, -1, nil
}

// bodyTagEnd returns the offset after the '>' closing the first <body> tag
// of b (any case, attributes with quoted '>' allowed), or -1.
func bodyTagEnd(b []byte) int {
	for i := 0; i+5 <= len(b); i++ {
		if b[i] != '<' || !bytes.EqualFold(b[i+1:i+5], []byte("body")) {
			continue
		}
		j := i + 5
		if j == len(b) {
			return -1 // the tag may go on in the next read
		}
		if c := b[j]; c != '>' && c != '/' && c != ' ' && c != '\t' && c != '\n' && c != '\r' && c != '\f' {
			continue // <bodyx>, not <body>
		}
		var quote byte
		for ; j < len(b); j++ {
			switch c := b[j]; {
			case quote != 0:
				if c == quote {
					quote = 0
				}
			case c == '"' || c == '\'':
				quote = c
			case c == '>':
				return j + 1
			}
		}
		return -1
	}
	return -1
}

type readCloser struct {
	io.Reader
	io.Closer
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, io.EOF }
