package main

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/base64"
	"errors"
	"fmt"
	"hash/fnv"
	"html/template"
	"net/http"
	"net/url"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// The home page is what a QA person previewing a release sees: which
// release and version serve it, large, the courses and the signed-in user's
// enrollments. Plain HTML with forms, no script: it reads the same with
// scripts off. html/template escapes everything it prints.
//
// Signing in: the demo has no passwords. POST /signin names a user and sets
// the cookie SESSION_COOKIE_user (the release's session cookie name from its
// configuration, so releases behind one router keep their own sign-in);
// POST /signout clears it; GET /?user=NAME shows the page as NAME without a
// cookie, for links and scripts.

//go:embed home.html
var homeHTML string

var homeTmpl = template.Must(template.New("home").Parse(homeHTML))

// maxHomeCourses bounds the course list of the home page.
const maxHomeCourses = 100

// CourseSummary is one course of the home page.
type CourseSummary struct {
	CourseID        string
	DisplayName     string
	EnrollmentCount int
}

type homePage struct {
	Release, Version string
	Hue              uint32 // of the header: each release its own colour
	Notice           string
	User             string
	ViaQuery         bool // signed in by ?user=, which the forms carry on
	UserExists       bool
	Enrollments      []Enrollment
	Enrolled         map[string]bool
	EnrollmentsError string
	Courses          []CourseSummary
	MoreCourses      bool
	CoursesError     string
	Now              time.Time
}

func (s *server) userCookie() string { return s.b.cfg.SessionCookie + "_user" }

// signedIn returns the user the request names (?user= first, then the
// cookie), or "" and why not when it names none that is valid.
func (s *server) signedIn(r *http.Request) (user, notice string) {
	name := r.URL.Query().Get("user")
	if name == "" {
		if c, err := r.Cookie(s.userCookie()); err == nil {
			name = c.Value
		}
	}
	if name == "" {
		return "", ""
	}
	if !usernameRE.MatchString(name) {
		return "", "Not signed in: " + fmt.Sprintf("%q", name) + " is not a username (1-150 letters, digits or @.+-_)."
	}
	return name, ""
}

func (s *server) home(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	h := fnv.New32a()
	h.Write([]byte(s.b.cfg.Release))
	p := homePage{Release: s.b.cfg.Release, Version: s.b.cfg.Version, Hue: h.Sum32() % 360, Now: time.Now().UTC()}
	p.User, p.Notice = s.signedIn(r)
	p.ViaQuery = p.User != "" && r.URL.Query().Get("user") != ""
	if n := s.takeFlash(w, r); n != "" && p.Notice == "" {
		p.Notice = n
	}
	status := http.StatusOK
	if p.User != "" {
		p.Enrolled = map[string]bool{}
		u, err := s.b.LookupUser(ctx, p.User)
		switch {
		case errors.Is(err, errUserNotFound):
		case err != nil:
			p.EnrollmentsError = s.b.redact.String(err)
			s.log.Error("home page: read user", "err", p.EnrollmentsError)
			status = http.StatusServiceUnavailable
		default:
			p.UserExists, p.Enrollments = true, u.Enrollments
			for _, e := range u.Enrollments {
				p.Enrolled[e.CourseID] = e.IsActive
			}
		}
	}
	courses, more, err := s.b.ListCourses(ctx, maxHomeCourses)
	if err != nil {
		p.CoursesError = s.b.redact.String(err)
		s.log.Error("home page: list courses", "err", p.CoursesError)
		status = http.StatusServiceUnavailable
	}
	p.Courses, p.MoreCourses = courses, more

	var buf bytes.Buffer
	if err := homeTmpl.Execute(&buf, p); err != nil {
		s.fail(w, http.StatusInternalServerError, "render home page", err)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// backHome answers a form post with a redirect to the home page, carrying a
// ?user= the form came with, and leaves a notice for the person in a
// one-time cookie (not in the URL, so a link cannot put words on the page).
func (s *server) backHome(w http.ResponseWriter, r *http.Request, notice string) {
	target := "/"
	if u := r.URL.Query().Get("user"); u != "" && usernameRE.MatchString(u) {
		target += "?" + url.Values{"user": {u}}.Encode()
	}
	if notice != "" {
		http.SetCookie(w, &http.Cookie{Name: s.flashCookie(), Value: base64.RawURLEncoding.EncodeToString([]byte(notice)),
			Path: "/", MaxAge: 60, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}

func (s *server) flashCookie() string { return s.b.cfg.SessionCookie + "_notice" }

// takeFlash returns the notice a redirect left and clears it.
func (s *server) takeFlash(w http.ResponseWriter, r *http.Request) string {
	c, err := r.Cookie(s.flashCookie())
	if err != nil {
		return ""
	}
	http.SetCookie(w, &http.Cookie{Name: s.flashCookie(), Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	b, err := base64.RawURLEncoding.DecodeString(c.Value)
	if err != nil || len(b) > 1000 {
		return ""
	}
	return string(b)
}

func (s *server) signin(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
	name := r.PostFormValue("username")
	if !usernameRE.MatchString(name) {
		s.backHome(w, r, fmt.Sprintf("Not signed in: %q is not a username (1-150 letters, digits or @.+-_).", name))
		return
	}
	http.SetCookie(w, &http.Cookie{Name: s.userCookie(), Value: name, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode})
	s.backHome(w, r, "")
}

func (s *server) signout(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: s.userCookie(), Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// enrollForm is the home page's Enroll button: it enrolls the signed-in user
// and goes back to the page.
func (s *server) enrollForm(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
	user, notice := s.signedIn(r)
	if user == "" {
		s.backHome(w, r, "Sign in to enroll. "+notice)
		return
	}
	key, err := parseCourseID(r.PostFormValue("course_id"))
	if err != nil {
		s.backHome(w, r, "Not enrolled: "+err.Error())
		return
	}
	if _, err := s.b.Enroll(r.Context(), user, key); err != nil {
		s.log.Error("home page: enroll", "err", s.b.redact.String(err))
		s.backHome(w, r, "Not enrolled: "+s.b.redact.String(err))
		return
	}
	s.backHome(w, r, "Enrolled in "+key.String()+".")
}

// ListCourses returns the published courses, ordered by id, with their
// active enrollment counts, at most limit of them; more says whether there
// are others.
func (b *backends) ListCourses(ctx context.Context, limit int) (courses []CourseSummary, more bool, err error) {
	cur, err := b.mdb.Collection(activeVersionsColl).Find(ctx, bson.D{},
		options.Find().SetSort(bson.D{{Key: "org", Value: 1}, {Key: "course", Value: 1}, {Key: "run", Value: 1}}).SetLimit(int64(limit+1)))
	if err != nil {
		return nil, false, fmt.Errorf("list courses in %s.%s: %w", b.cfg.Mongo.Name, activeVersionsColl, err)
	}
	var keys []CourseKey
	for cur.Next(ctx) {
		var av struct {
			Org    string `bson:"org"`
			Course string `bson:"course"`
			Run    string `bson:"run"`
		}
		if err := cur.Decode(&av); err != nil {
			cur.Close(ctx)
			return nil, false, fmt.Errorf("list courses in %s.%s: %w", b.cfg.Mongo.Name, activeVersionsColl, err)
		}
		keys = append(keys, CourseKey{av.Org, av.Course, av.Run})
	}
	if err := errors.Join(cur.Err(), cur.Close(ctx)); err != nil {
		return nil, false, fmt.Errorf("list courses in %s.%s: %w", b.cfg.Mongo.Name, activeVersionsColl, err)
	}
	if len(keys) > limit {
		keys, more = keys[:limit], true
	}
	counts := map[string]int{}
	rows, err := b.db.QueryContext(ctx, `SELECT course_id, COUNT(*) FROM student_courseenrollment WHERE is_active = 1 GROUP BY course_id`)
	if err != nil {
		return nil, false, fmt.Errorf("count enrollments: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var n int
		if err := rows.Scan(&id, &n); err != nil {
			return nil, false, fmt.Errorf("count enrollments: %w", err)
		}
		counts[id] = n
	}
	if err := rows.Err(); err != nil {
		return nil, false, fmt.Errorf("count enrollments: %w", err)
	}
	for _, k := range keys {
		c, err := loadCourse(ctx, b.mdb, k)
		if errors.Is(err, errCourseNotFound) {
			continue // no published version: not a course students see
		}
		if err != nil {
			return nil, false, err
		}
		courses = append(courses, CourseSummary{CourseID: k.String(), DisplayName: c.DisplayName, EnrollmentCount: counts[k.String()]})
	}
	return courses, more, nil
}
