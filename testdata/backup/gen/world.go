package main

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// The fake production: every generator builds the same world from the same
// seed, so the MySQL schemas and the Mongo databases agree (forum authors
// are LMS users, studentmodule rows point at the modulestore's problems).

const seed = 20261120

// snapshotTime is when the nightly backup ran; every timestamp is before it.
var snapshotTime = time.Date(2026, 11, 20, 2, 0, 0, 0, time.UTC)

var firstNames = strings.Fields(`Amara Ben Chiara Dmitri Elena Farid Grace Hiroshi Ines Jamal Kaia Lars Mei Nikhil Olga Pablo
Quinn Rosa Samir Tove Umar Valentina Wei Ximena Yusuf Zofia Aiden Beatriz Chen Dalia Emeka Fatima Gustavo Hana Ivan Julia
Kofi Leila Mateo Nadia Oscar Priya Rafael Sofia Tomas Uma Viktor Wanjiru Yara Zane`)

var lastNames = strings.Fields(`Abara Bergstrom Castellano Dubois Eriksen Fontaine Gallagher Hakimi Ibarra Jansen Kowalski
Lindqvist Moreau Nakamura Okafor Petrov Quintero Rahman Sandoval Takahashi Urquhart Varga Whitfield Xiong Yilmaz Zielinski
Achebe Brennan Carvalho Delacroix Esposito Ferreira Grigoryan Horvath Iwasaki Jovanovic Kuznetsova Laurent Mbeki Novak`)

var emailDomains = strings.Fields(`gmail.com gmail.com gmail.com yahoo.com outlook.com hotmail.com mit.edu harvard.edu
berkeley.edu stanford.edu protonmail.com icloud.com ox.ac.uk tum.de`)

var countries = strings.Fields(`US US US IN BR GB DE FR NG MX CN EG ES CA JP KE PK ID TR PL`)

var cities = strings.Fields(`Boston Cambridge Lagos Mumbai Berlin Paris Toronto Nairobi Madrid Tokyo Lima Cairo Austin Seattle`)

// User is one auth_user with its profile.
type User struct {
	ID                           int
	Username, First, Last, Email string
	Password                     string
	Joined, LastLogin            time.Time
	Staff                        bool
	YearOfBirth                  int
	Gender, Education, Country   string
	City, Address, Phone, Goals  string
}

// Block is one modulestore block.
type Block struct {
	Type, ID, Name string
	Definition     bson.ObjectID
	Children       []*Block
}

// Course is one course-v1 course and its published structure.
type Course struct {
	Org, Number, Run, Name string
	Structure, Draft       bson.ObjectID
	ActiveID               bson.ObjectID
	Root                   *Block
	Problems               []*Block
	Edited                 time.Time
}

func (c *Course) ID() string { return "course-v1:" + c.Org + "+" + c.Number + "+" + c.Run }

func (c *Course) Usage(b *Block) string {
	return "block-v1:" + c.Org + "+" + c.Number + "+" + c.Run + "+type@" + b.Type + "+block@" + b.ID
}

// Blocks lists the course's blocks depth first.
func (c *Course) Blocks() []*Block {
	var out []*Block
	var walk func(b *Block)
	walk = func(b *Block) {
		out = append(out, b)
		for _, ch := range b.Children {
			walk(ch)
		}
	}
	walk(c.Root)
	return out
}

// Enrollment is one student_courseenrollment.
type Enrollment struct {
	ID      int
	User    *User
	Course  *Course
	Created time.Time
	Active  bool
	Mode    string
}

// StudentModule is one courseware_studentmodule.
type StudentModule struct {
	ID                int
	User              *User
	Course            *Course
	Block             *Block
	State             string
	Grade, MaxGrade   float64
	Created, Modified time.Time
}

// Task is one demo_tasks row the LMS worker recorded.
type Task struct {
	ID, TaskID, Name, Args string
	Received               time.Time
}

// Submission is one xqueue queue_submission.
type Submission struct {
	ID                int
	User              *User
	Course            *Course
	Block             *Block
	Queue             string
	Arrival, Returned time.Time
	Score             float64
	Key               string
}

// Post is one forum content: a CommentThread or a Comment.
type Post struct {
	ID       bson.ObjectID
	Thread   *Post // nil for threads
	Author   *User
	Course   *Course
	Title    string
	Body     string
	Created  time.Time
	Comments int
}

// World is the fake production.
type World struct {
	rng         *rand.Rand
	Users       []*User
	Courses     []*Course
	Enrollments []*Enrollment
	Modules     []*StudentModule
	Tasks       []*Task
	Submissions []*Submission
	Posts       []*Post
}

func (w *World) oid() bson.ObjectID {
	var id bson.ObjectID
	ts := uint32(snapshotTime.Unix()) - uint32(w.rng.IntN(86400*400))
	id[0], id[1], id[2], id[3] = byte(ts>>24), byte(ts>>16), byte(ts>>8), byte(ts)
	for i := 4; i < 12; i++ {
		id[i] = byte(w.rng.IntN(256))
	}
	return id
}

func (w *World) hex(n int) string {
	const digits = "0123456789abcdef"
	b := make([]byte, n)
	for i := range b {
		b[i] = digits[w.rng.IntN(16)]
	}
	return string(b)
}

func (w *World) pick(list []string) string { return list[w.rng.IntN(len(list))] }

// between returns a time in [from, to), at microsecond precision.
func (w *World) between(from, to time.Time) time.Time {
	d := to.Sub(from)
	return from.Add(time.Duration(w.rng.Int64N(int64(d)))).Truncate(time.Microsecond)
}

func (w *World) uuid() string {
	h := w.hex(32)
	return h[0:8] + "-" + h[8:12] + "-4" + h[13:16] + "-a" + h[17:20] + "-" + h[20:32]
}

// NewWorld builds the whole fake production deterministically.
func NewWorld() *World {
	w := &World{rng: rand.New(rand.NewPCG(seed, seed))}
	w.makeUsers(500)
	w.makeCourses()
	w.makeEnrollments()
	w.makeModules(5000)
	w.makeTasks(300)
	w.makeSubmissions(400)
	w.makePosts(60, 140)
	return w
}

func (w *World) makeUsers(n int) {
	seen := map[string]bool{}
	start := time.Date(2019, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 1; i <= n; i++ {
		first, last := w.pick(firstNames), w.pick(lastNames)
		var username string
		for {
			switch w.rng.IntN(3) {
			case 0:
				username = strings.ToLower(first + last[:1] + fmt.Sprint(w.rng.IntN(100)))
			case 1:
				username = strings.ToLower(first[:1] + last + fmt.Sprint(w.rng.IntN(1000)))
			default:
				username = strings.ToLower(first + "_" + last)
			}
			if !seen[username] {
				seen[username] = true
				break
			}
		}
		domain := w.pick(emailDomains)
		local := strings.ToLower(first + "." + last)
		if w.rng.IntN(2) == 0 {
			local = username
		}
		joined := w.between(start, snapshotTime.AddDate(0, 0, -30))
		u := &User{
			ID: i, Username: username, First: first, Last: last,
			Email:       local + "@" + domain,
			Password:    "pbkdf2_sha256$600000$" + w.hex(22) + "$" + w.hex(43) + "=",
			Joined:      joined,
			LastLogin:   w.between(joined, snapshotTime),
			Staff:       i <= 5,
			YearOfBirth: 1950 + w.rng.IntN(56),
			Gender:      w.pick([]string{"f", "m", "o", ""}),
			Education:   w.pick([]string{"p", "m", "b", "a", "hs", "jhs", "none", ""}),
			Country:     w.pick(countries),
			City:        w.pick(cities),
			Address:     fmt.Sprintf("%d %s Street", 1+w.rng.IntN(999), w.pick(lastNames)),
			Phone:       fmt.Sprintf("+1-%03d-555-%04d", 200+w.rng.IntN(700), w.rng.IntN(10000)),
			Goals:       w.pick([]string{"Career change", "Learn for fun", "Prepare for grad school", "Teach my students", ""}),
		}
		w.Users = append(w.Users, u)
	}
}

var courseSpecs = []struct{ org, number, run, name string }{
	{"MITx", "6.002x", "2026_Fall", "Circuits and Electronics"},
	{"HarvardX", "CS50", "2026_Fall", "Introduction to Computer Science"},
	{"MITx", "18.01x", "2026_Fall", "Single Variable Calculus"},
	{"BerkeleyX", "CS169.1x", "2026_Fall", "Agile Development Using Ruby on Rails"},
	{"edX", "DemoX", "Demo_Course", "Demonstration Course"},
}

func (w *World) makeCourses() {
	for _, s := range courseSpecs {
		c := &Course{Org: s.org, Number: s.number, Run: s.run, Name: s.name,
			Structure: w.oid(), Draft: w.oid(), ActiveID: w.oid(),
			Edited: w.between(snapshotTime.AddDate(0, -3, 0), snapshotTime)}
		block := func(typ, name string) *Block {
			return &Block{Type: typ, ID: w.hex(32), Name: name, Definition: w.oid()}
		}
		c.Root = &Block{Type: "course", ID: "course", Name: s.name, Definition: w.oid()}
		chapters := 4 + w.rng.IntN(3)
		for ci := range chapters {
			ch := block("chapter", fmt.Sprintf("Week %d", ci+1))
			c.Root.Children = append(c.Root.Children, ch)
			for si := range 2 + w.rng.IntN(2) {
				seq := block("sequential", fmt.Sprintf("Lecture %d.%d", ci+1, si+1))
				ch.Children = append(ch.Children, seq)
				for vi := range 2 + w.rng.IntN(2) {
					v := block("vertical", fmt.Sprintf("Unit %d.%d.%d", ci+1, si+1, vi+1))
					seq.Children = append(seq.Children, v)
					v.Children = append(v.Children, block("html", "Reading"))
					if vi%2 == 0 {
						v.Children = append(v.Children, block("video", "Lecture video"))
					}
					p := block("problem", fmt.Sprintf("Exercise %d.%d.%d", ci+1, si+1, vi+1))
					v.Children = append(v.Children, p)
					c.Problems = append(c.Problems, p)
				}
			}
		}
		w.Courses = append(w.Courses, c)
	}
}

func (w *World) makeEnrollments() {
	id := 0
	for _, u := range w.Users {
		// 1-5 courses each, about 4 on average: ~2000 enrollments.
		n := 1 + w.rng.IntN(5)
		if w.rng.IntN(4) > 0 && n < 5 {
			n++
		}
		for _, ci := range w.rng.Perm(len(w.Courses))[:n] {
			id++
			w.Enrollments = append(w.Enrollments, &Enrollment{
				ID: id, User: u, Course: w.Courses[ci],
				Created: w.between(u.Joined, snapshotTime),
				Active:  w.rng.IntN(20) > 0,
				Mode:    w.pick([]string{"audit", "audit", "audit", "verified", "honor"}),
			})
		}
	}
}

func (w *World) makeModules(n int) {
	seen := map[[3]int]bool{}
	for len(w.Modules) < n {
		e := w.Enrollments[w.rng.IntN(len(w.Enrollments))]
		ci := 0
		for i, c := range w.Courses {
			if c == e.Course {
				ci = i
			}
		}
		pi := w.rng.IntN(len(e.Course.Problems))
		k := [3]int{e.User.ID, ci, pi}
		if seen[k] {
			continue
		}
		seen[k] = true
		created := w.between(e.Created, snapshotTime)
		attempts := 1 + w.rng.IntN(3)
		maxGrade := float64(1 + w.rng.IntN(3))
		grade := float64(w.rng.IntN(int(maxGrade) + 1))
		state := fmt.Sprintf(`{"attempts": %d, "seed": %d, "done": true, "correct_map": {"%s_2_1": {"correctness": "%s", "npoints": null}}, "student_answers": {"%s_2_1": "%d"}, "last_submission_time": "%s", "score": {"raw_earned": %g, "raw_possible": %g}}`,
			attempts, 1+w.rng.IntN(999), e.Course.Problems[pi].ID, map[bool]string{true: "correct", false: "incorrect"}[grade == maxGrade],
			e.Course.Problems[pi].ID, w.rng.IntN(100), created.Format(time.RFC3339), grade, maxGrade)
		w.Modules = append(w.Modules, &StudentModule{
			ID: len(w.Modules) + 1, User: e.User, Course: e.Course, Block: e.Course.Problems[pi],
			State: state, Grade: grade, MaxGrade: maxGrade,
			Created: created, Modified: w.between(created, snapshotTime),
		})
	}
}

func (w *World) makeTasks(n int) {
	for i := 1; i <= n; i++ {
		e := w.Enrollments[len(w.Enrollments)-n+i-1]
		w.Tasks = append(w.Tasks, &Task{
			TaskID: w.uuid(), Name: "common.djangoapps.student.tasks.send_enrollment_confirmation",
			Args:     fmt.Sprintf(`[[%q,%q],{"mode":%q}]`, e.User.Username, e.Course.ID(), e.Mode),
			Received: e.Created.Add(time.Duration(50+w.rng.IntN(2000)) * time.Millisecond).Truncate(time.Microsecond),
		})
	}
}

func (w *World) makeSubmissions(n int) {
	for i := 1; i <= n; i++ {
		m := w.Modules[w.rng.IntN(len(w.Modules))]
		arrival := m.Modified
		w.Submissions = append(w.Submissions, &Submission{
			ID: i, User: m.User, Course: m.Course, Block: m.Block,
			Queue:   w.pick([]string{"MITx-6.002x", "HarvardX-CS50-python", "BerkeleyX-autograder"}),
			Arrival: arrival, Returned: arrival.Add(time.Duration(2+w.rng.IntN(60)) * time.Second),
			Score: m.Grade / m.MaxGrade, Key: w.hex(32),
		})
	}
}

var threadTitles = []string{"Stuck on the homework", "Clarification on lecture", "Typo in the notes?", "Study group",
	"Is the deadline extended?", "Great explanation!", "Grader marks my answer wrong", "Recommended reading", "Exam tips"}

var sentences = []string{"I tried the approach from the lecture but my answer is off by a factor of two.",
	"Could someone explain why the second step holds?", "Thanks, that fixed it for me.",
	"You need to convert the units before plugging in.", "Same problem here, any hints?",
	"The staff answer in the wiki covers this.", "I found the textbook chapter helpful.",
	"Check the sign convention in part (b).", "Anyone in the Boston area want to meet up?"}

func (w *World) makePosts(threads, comments int) {
	for range threads {
		e := w.Enrollments[w.rng.IntN(len(w.Enrollments))]
		w.Posts = append(w.Posts, &Post{ID: w.oid(), Author: e.User, Course: e.Course,
			Title: w.pick(threadTitles), Body: w.pick(sentences) + " " + w.pick(sentences),
			Created: w.between(e.Created, snapshotTime)})
	}
	for range comments {
		th := w.Posts[w.rng.IntN(threads)]
		author := w.Users[w.rng.IntN(len(w.Users))]
		th.Comments++
		w.Posts = append(w.Posts, &Post{ID: w.oid(), Thread: th, Author: author, Course: th.Course,
			Body: w.pick(sentences) + " @" + th.Author.Username, Created: w.between(th.Created, snapshotTime)})
	}
}
