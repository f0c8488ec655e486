package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"regexp"
	"strconv"
	"sync"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// courseCacheTTL is how long a course outline stays in memcached.
const courseCacheTTL = 30 // seconds

var usernameRE = regexp.MustCompile(`^[\w.@+-]{1,150}$`)

type server struct {
	b   *backends
	log *slog.Logger
}

// newHandler returns the LMS: its JSON API, the home page and the forms it
// posts, with faults (nil: none) applied to every route but /heartbeat.
func newHandler(b *backends, f *faults, log *slog.Logger) http.Handler {
	s := &server{b: b, log: log}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /heartbeat", s.heartbeat)
	mux.HandleFunc("GET /version", s.version)
	mux.HandleFunc("POST /api/enroll", s.enroll)
	mux.HandleFunc("GET /api/courses/{course_id}", s.course)
	mux.HandleFunc("GET /api/users/{username}", s.user)
	mux.HandleFunc("POST /api/writes", s.write)
	mux.HandleFunc("GET /api/writes/{id}", s.lookupWrite)
	mux.HandleFunc("GET /{$}", s.home)
	mux.HandleFunc("POST /signin", s.signin)
	mux.HandleFunc("POST /signout", s.signout)
	mux.HandleFunc("POST /enroll", s.enrollForm)
	return s.session(f.wrap(mux))
}

// session gives every client a session cookie named after the release, so a
// client (and the cutover benchmark) can tell which release answered.
func (s *server) session(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := r.Cookie(s.b.cfg.SessionCookie); err != nil {
			var id [16]byte
			_, _ = rand.Read(id[:])
			http.SetCookie(w, &http.Cookie{
				Name: s.b.cfg.SessionCookie, Value: hex.EncodeToString(id[:]),
				Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode,
			})
		}
		w.Header().Set("X-LMS-Release", s.b.cfg.Release)
		next.ServeHTTP(w, r)
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (s *server) fail(w http.ResponseWriter, status int, msg string, err error) {
	text := msg
	if err != nil {
		text = msg + ": " + s.b.redact.String(err)
		s.log.Error(msg, "err", s.b.redact.String(err))
	}
	writeJSON(w, status, map[string]string{"error": text})
}

// Check names and their order in /heartbeat.
var backendNames = []string{"mysql", "mongo", "rabbitmq", "memcached"}

// Heartbeat checks every backend like edX's /heartbeat and returns "OK" or
// the error for each.
func (b *backends) Heartbeat(ctx context.Context) map[string]string {
	checks := map[string]func(context.Context) error{
		"mysql": func(ctx context.Context) error {
			var one int
			return b.db.QueryRowContext(ctx, "SELECT 1").Scan(&one)
		},
		// Both databases, each with its own credentials: the modulestore
		// (courses) and the forum (where writes go too).
		"mongo": func(ctx context.Context) error {
			if err := b.mongo.Ping(ctx, nil); err != nil {
				return err
			}
			err := b.mdb.Collection(activeVersionsColl).FindOne(ctx, bson.D{}).Err()
			if err != nil && !errors.Is(err, mongo.ErrNoDocuments) {
				return err
			}
			err = b.fdb.Collection(writesColl).FindOne(ctx, bson.D{}).Err()
			if err != nil && !errors.Is(err, mongo.ErrNoDocuments) {
				return fmt.Errorf("forum %s: %w", b.cfg.Forum.Name, err)
			}
			return nil
		},
		"rabbitmq": func(ctx context.Context) error {
			conn, err := b.rabbit.Conn()
			if err != nil {
				return err
			}
			ch, err := conn.Channel()
			if err != nil {
				return err
			}
			return ch.Close()
		},
		"memcached": func(ctx context.Context) error {
			key := "heartbeat:" + b.cfg.Release
			val := strconv.FormatInt(time.Now().UnixNano(), 10)
			if err := b.cache.Set(&memcache.Item{Key: key, Value: []byte(val), Expiration: 60}); err != nil {
				return err
			}
			it, err := b.cache.Get(key)
			if err != nil {
				return err
			}
			if string(it.Value) != val {
				return errors.New("read back a different value than written")
			}
			return nil
		},
	}
	out := make(map[string]string, len(checks))
	var mu sync.Mutex
	var wg sync.WaitGroup
	for name, check := range checks {
		wg.Go(func() {
			cctx, cancel := context.WithTimeout(ctx, 4*time.Second)
			defer cancel()
			res := "OK"
			if err := check(cctx); err != nil {
				res = b.redact.String(err)
			}
			mu.Lock()
			out[name] = res
			mu.Unlock()
		})
	}
	wg.Wait()
	return out
}

func (s *server) heartbeat(w http.ResponseWriter, r *http.Request) {
	res := s.b.Heartbeat(r.Context())
	status := http.StatusOK
	for _, name := range backendNames {
		if res[name] != "OK" {
			status = http.StatusServiceUnavailable
			s.log.Warn("heartbeat failed", "backend", name, "err", res[name])
		}
	}
	writeJSON(w, status, res)
}

func (s *server) version(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"release": s.b.cfg.Release, "version": s.b.cfg.Version})
}

// Enrollment is one row of student_courseenrollment as the API shows it.
type Enrollment struct {
	Username string    `json:"username,omitempty"`
	CourseID string    `json:"course_id"`
	Mode     string    `json:"mode"`
	IsActive bool      `json:"is_active"`
	Created  time.Time `json:"created"`
	TaskID   string    `json:"task_id,omitempty"`
}

func (s *server) enroll(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Username string `json:"username"`
		CourseID string `json:"course_id"`
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct == "application/json" {
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			s.fail(w, http.StatusBadRequest, "request body is not a JSON object with username and course_id", nil)
			return
		}
	} else {
		if err := r.ParseForm(); err != nil {
			s.fail(w, http.StatusBadRequest, "request body is not a form", nil)
			return
		}
		in.Username, in.CourseID = r.PostForm.Get("username"), r.PostForm.Get("course_id")
	}
	if !usernameRE.MatchString(in.Username) {
		s.fail(w, http.StatusBadRequest, "username must be 1-150 letters, digits or @.+-_", nil)
		return
	}
	key, err := parseCourseID(in.CourseID)
	if err != nil {
		s.fail(w, http.StatusBadRequest, err.Error(), nil)
		return
	}
	e, err := s.b.Enroll(r.Context(), in.Username, key)
	if err != nil {
		s.fail(w, http.StatusServiceUnavailable, "enroll", err)
		return
	}
	writeJSON(w, http.StatusCreated, e)
}

// Enroll records the enrollment (creating the user if absent), publishes the
// confirmation task and invalidates the course's cached outline. The task is
// confirmed by the broker before the transaction commits, so an enrollment
// is never recorded without its task.
func (b *backends) Enroll(ctx context.Context, username string, key CourseKey) (Enrollment, error) {
	tx, err := b.db.BeginTx(ctx, nil)
	if err != nil {
		return Enrollment{}, fmt.Errorf("mysql %s: begin: %w", b.cfg.MySQL.Name, err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `INSERT INTO auth_user
(password, is_superuser, username, first_name, last_name, email, is_staff, is_active, date_joined)
VALUES ('!', 0, ?, '', '', ?, 0, 1, UTC_TIMESTAMP(6))
ON DUPLICATE KEY UPDATE id = LAST_INSERT_ID(id)`, username, username+"@example.com")
	if err != nil {
		return Enrollment{}, fmt.Errorf("mysql %s: insert auth_user: %w", b.cfg.MySQL.Name, err)
	}
	uid, err := res.LastInsertId()
	if err != nil {
		return Enrollment{}, fmt.Errorf("mysql %s: insert auth_user: %w", b.cfg.MySQL.Name, err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO student_courseenrollment (course_id, created, is_active, mode, user_id)
VALUES (?, UTC_TIMESTAMP(6), 1, 'audit', ?) ON DUPLICATE KEY UPDATE is_active = 1`, key.String(), uid); err != nil {
		return Enrollment{}, fmt.Errorf("mysql %s: insert student_courseenrollment: %w", b.cfg.MySQL.Name, err)
	}
	e := Enrollment{Username: username, CourseID: key.String(), TaskID: newTaskID()}
	if err := tx.QueryRowContext(ctx, `SELECT mode, is_active, created FROM student_courseenrollment WHERE user_id = ? AND course_id = ?`,
		uid, key.String()).Scan(&e.Mode, &e.IsActive, &e.Created); err != nil {
		return Enrollment{}, fmt.Errorf("mysql %s: read student_courseenrollment: %w", b.cfg.MySQL.Name, err)
	}
	msg, err := celeryMessage(e.TaskID, enrollTaskName, []any{username, key.String()}, map[string]any{"mode": e.Mode})
	if err != nil {
		return Enrollment{}, err
	}
	if err := b.rabbit.Publish(ctx, msg); err != nil {
		return Enrollment{}, fmt.Errorf("rabbitmq: publish to %s: %w", b.cfg.RabbitMQ.Queue, err)
	}
	if err := tx.Commit(); err != nil {
		return Enrollment{}, fmt.Errorf("mysql %s: commit: %w", b.cfg.MySQL.Name, err)
	}
	if err := b.cache.Delete(b.courseCacheKey(key)); err != nil && !errors.Is(err, memcache.ErrCacheMiss) {
		return e, fmt.Errorf("memcached: invalidate %s: %w", key, err)
	}
	return e, nil
}

func (b *backends) courseCacheKey(key CourseKey) string {
	return "course:" + b.cfg.Release + ":" + key.String()
}

func (s *server) course(w http.ResponseWriter, r *http.Request) {
	key, err := parseCourseID(r.PathValue("course_id"))
	if err != nil {
		s.fail(w, http.StatusBadRequest, err.Error(), nil)
		return
	}
	ck := s.b.courseCacheKey(key)
	if it, err := s.b.cache.Get(ck); err == nil {
		w.Header().Set("X-Cache", "hit")
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(it.Value)
		return
	} else if !errors.Is(err, memcache.ErrCacheMiss) {
		s.log.Warn("memcached get failed; serving uncached", "err", s.b.redact.String(err))
	}
	c, err := loadCourse(r.Context(), s.b.mdb, key)
	if errors.Is(err, errCourseNotFound) {
		s.fail(w, http.StatusNotFound, fmt.Sprintf("course %s not found", key), nil)
		return
	}
	if err != nil {
		s.fail(w, http.StatusServiceUnavailable, "load course", err)
		return
	}
	if err := s.b.db.QueryRowContext(r.Context(), `SELECT COUNT(*) FROM student_courseenrollment WHERE course_id = ? AND is_active = 1`,
		key.String()).Scan(&c.EnrollmentCount); err != nil {
		s.fail(w, http.StatusServiceUnavailable, "count enrollments", err)
		return
	}
	if c.Chapters == nil {
		c.Chapters = []Outline{}
	}
	body, err := json.Marshal(c)
	if err != nil {
		s.fail(w, http.StatusInternalServerError, "encode course", err)
		return
	}
	body = append(body, '\n')
	if err := s.b.cache.Set(&memcache.Item{Key: ck, Value: body, Expiration: courseCacheTTL}); err != nil {
		s.log.Warn("memcached set failed", "err", s.b.redact.String(err))
	}
	w.Header().Set("X-Cache", "miss")
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(body)
}

// User is /api/users/{username}.
type User struct {
	Username    string       `json:"username"`
	Email       string       `json:"email"`
	IsActive    bool         `json:"is_active"`
	DateJoined  time.Time    `json:"date_joined"`
	Enrollments []Enrollment `json:"enrollments"`
}

func (s *server) user(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("username")
	if !usernameRE.MatchString(name) {
		s.fail(w, http.StatusBadRequest, "username must be 1-150 letters, digits or @.+-_", nil)
		return
	}
	u, err := s.b.LookupUser(r.Context(), name)
	if errors.Is(err, errUserNotFound) {
		s.fail(w, http.StatusNotFound, fmt.Sprintf("user %q not found", name), nil)
		return
	}
	if err != nil {
		s.fail(w, http.StatusServiceUnavailable, "user "+name, err)
		return
	}
	writeJSON(w, http.StatusOK, u)
}

// errUserNotFound: auth_user has no such username.
var errUserNotFound = errors.New("user not found")

// LookupUser reads a user and their enrollments, oldest first.
func (b *backends) LookupUser(ctx context.Context, name string) (User, error) {
	var u User
	var id int64
	err := b.db.QueryRowContext(ctx, `SELECT id, username, email, is_active, date_joined FROM auth_user WHERE username = ?`, name).
		Scan(&id, &u.Username, &u.Email, &u.IsActive, &u.DateJoined)
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, errUserNotFound
	}
	if err != nil {
		return User{}, fmt.Errorf("read user: %w", err)
	}
	rows, err := b.db.QueryContext(ctx, `SELECT course_id, mode, is_active, created FROM student_courseenrollment WHERE user_id = ? ORDER BY id`, id)
	if err != nil {
		return User{}, fmt.Errorf("read enrollments: %w", err)
	}
	defer rows.Close()
	u.Enrollments = []Enrollment{}
	for rows.Next() {
		var e Enrollment
		var created sql.NullTime
		if err := rows.Scan(&e.CourseID, &e.Mode, &e.IsActive, &created); err != nil {
			return User{}, fmt.Errorf("read enrollments: %w", err)
		}
		e.Created = created.Time
		u.Enrollments = append(u.Enrollments, e)
	}
	if err := rows.Err(); err != nil {
		return User{}, fmt.Errorf("read enrollments: %w", err)
	}
	return u, nil
}
