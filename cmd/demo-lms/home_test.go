package main

import (
	"context"
	"html/template"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
)

// page GETs a page and returns its status and body, failing unless it is
// HTML.
func page(t *testing.T, c *http.Client, u string) (int, string) {
	t.Helper()
	resp, body := do(t, c, "GET", u, "", "")
	if ct := resp.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Fatalf("GET %s: Content-Type %q, want HTML", u, ct)
	}
	return resp.StatusCode, string(body)
}

// escaped is s as html/template prints it in text ('+' becomes &#43;).
func escaped(t *testing.T, s string) string {
	t.Helper()
	var b strings.Builder
	if err := template.Must(template.New("").Parse("{{.}}")).Execute(&b, s); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func mustContain(t *testing.T, body string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(body, w) {
			t.Errorf("page does not contain %q:\n%s", w, body)
		}
	}
}

func TestHomePage(t *testing.T) {
	t.Parallel()
	cfg, b, srv := startLMS(t, "2.0", nil)
	ctx := context.Background()
	plain := CourseKey{"MITx", "6.002x", "T" + suffix(t)}
	hostile := CourseKey{"Evil", "X1", "T" + suffix(t)}
	seedCourse(t, b.mdb, plain, 1)
	seedCourseNamed(t, b.mdb, hostile, `<script>alert("owned")</script> & <b>Co</b>`, 1)
	if _, err := b.Enroll(ctx, "ada", plain); err != nil {
		t.Fatal(err)
	}
	c := srv.Client()
	plainID, hostileID := escaped(t, plain.String()), escaped(t, hostile.String())

	t.Run("release, version and courses, escaped", func(t *testing.T) {
		code, body := page(t, c, srv.URL+"/")
		if code != http.StatusOK {
			t.Fatalf("GET / = %d\n%s", code, body)
		}
		mustContain(t, body,
			"<title>"+cfg.Release+" · demo LMS 2.0</title>",
			"<h1>"+cfg.Release+" · demo LMS 2.0</h1>",
			"release <strong>"+cfg.Release+"</strong>, version <strong>2.0</strong>",
			"<td>Circuits and Electronics</td>",
			"<code>"+plainID+"</code>",
			`&lt;script&gt;alert(&#34;owned&#34;)&lt;/script&gt; &amp; &lt;b&gt;Co&lt;/b&gt;`,
			"Not signed in",
			`<form method="post" action="/signin">`,
		)
		if strings.Contains(body, "<script") || strings.Contains(body, "<b>Co") {
			t.Errorf("the hostile course title reached the page unescaped:\n%s", body)
		}
	})

	t.Run("a user's enrollments by ?user=", func(t *testing.T) {
		code, body := page(t, c, srv.URL+"/?user=ada")
		if code != http.StatusOK {
			t.Fatalf("GET /?user=ada = %d\n%s", code, body)
		}
		mustContain(t, body, "Signed in as <strong>ada</strong>.", "Your enrollments", "<td><code>"+plainID+"</code></td><td>audit</td><td>yes</td>",
			`action="/enroll?user=ada"`)
	})

	t.Run("a hostile user name is refused, escaped", func(t *testing.T) {
		code, body := page(t, c, srv.URL+"/?user="+url.QueryEscape(`<img src=x onerror=alert(1)>`))
		if code != http.StatusOK || strings.Contains(body, "<img") {
			t.Fatalf("GET /?user=<img..> = %d, unescaped or failed:\n%s", code, body)
		}
		mustContain(t, body, "Not signed in: &#34;&lt;img src=x onerror=alert(1)&gt;&#34; is not a username")
	})

	t.Run("sign in, enroll, sign out with the forms", func(t *testing.T) {
		jar, err := cookiejar.New(nil)
		if err != nil {
			t.Fatal(err)
		}
		browser := &http.Client{Transport: c.Transport, Jar: jar}
		post := func(path string, form url.Values) string {
			t.Helper()
			resp, body := do(t, browser, "POST", srv.URL+path, "application/x-www-form-urlencoded", form.Encode())
			if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != "/" {
				t.Fatalf("POST %s ended at %s with %d, want the home page:\n%s", path, resp.Request.URL, resp.StatusCode, body)
			}
			return string(body)
		}
		body := post("/signin", url.Values{"username": {"grace"}})
		mustContain(t, body, "Signed in as <strong>grace</strong> (no account yet", "No enrollments yet.")
		u, err := url.Parse(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		var signedIn bool
		for _, ck := range jar.Cookies(u) {
			signedIn = signedIn || (ck.Name == cfg.SessionCookie+"_user" && ck.Value == "grace")
		}
		if !signedIn {
			t.Errorf("cookies %v: want %s_user=grace", jar.Cookies(u), cfg.SessionCookie)
		}
		body = post("/enroll", url.Values{"course_id": {hostile.String()}})
		mustContain(t, body, "Enrolled in "+hostileID+".", "Signed in as <strong>grace</strong>.", "<td><code>"+hostileID+"</code></td><td>audit</td>")
		// The notice shows once.
		_, body = page(t, browser, srv.URL+"/")
		if strings.Contains(body, "Enrolled in") {
			t.Errorf("the notice shows again on the next visit")
		}
		body = post("/enroll", url.Values{"course_id": {"not-a-course"}})
		mustContain(t, body, "Not enrolled: course id &#34;not-a-course&#34;")
		body = post("/signin", url.Values{"username": {"bad name"}})
		mustContain(t, body, "Not signed in: &#34;bad name&#34; is not a username", "Signed in as <strong>grace</strong>.")
		body = post("/signout", nil)
		mustContain(t, body, "Not signed in")
		body = post("/enroll", url.Values{"course_id": {plain.String()}})
		mustContain(t, body, "Sign in to enroll.")
	})

	t.Run("JSON stays JSON", func(t *testing.T) {
		resp, body := do(t, c, "GET", srv.URL+"/version", "", "")
		if resp.Header.Get("Content-Type") != "application/json" || !strings.Contains(string(body), `"version":"2.0"`) {
			t.Errorf("/version = %s %s", resp.Header.Get("Content-Type"), body)
		}
		if resp, _ := do(t, c, "GET", srv.URL+"/nope", "", ""); resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET /nope = %d, want 404", resp.StatusCode)
		}
	})
}
