package main

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// The split modulestore's collections, as in edx-platform: active_versions
// maps a course key to its published structure; structures hold the block
// tree. Children are {block_type, block_id} documents rather than edX's
// [type, id] pairs because FerretDB 1.x refuses nested arrays.
const (
	activeVersionsColl = "modulestore.active_versions"
	structuresColl     = "modulestore.structures"
)

var courseIDRE = regexp.MustCompile(`^course-v1:([A-Za-z0-9._-]+)\+([A-Za-z0-9._-]+)\+([A-Za-z0-9._-]+)$`)

// CourseKey is a parsed course-v1:ORG+COURSE+RUN.
type CourseKey struct{ Org, Course, Run string }

func parseCourseID(id string) (CourseKey, error) {
	m := courseIDRE.FindStringSubmatch(id)
	if m == nil || len(id) > 200 {
		return CourseKey{}, fmt.Errorf("course id %q: want course-v1:ORG+COURSE+RUN", id)
	}
	return CourseKey{m[1], m[2], m[3]}, nil
}

func (k CourseKey) String() string { return "course-v1:" + k.Org + "+" + k.Course + "+" + k.Run }

// Course is the outline /api/courses returns.
type Course struct {
	CourseID        string    `json:"course_id"`
	DisplayName     string    `json:"display_name"`
	Org             string    `json:"org"`
	Course          string    `json:"course"`
	Run             string    `json:"run"`
	StructureID     string    `json:"structure_id"`
	Chapters        []Outline `json:"chapters"`
	EnrollmentCount int       `json:"enrollment_count"`
}

// Outline is one block of the course tree with its children.
type Outline struct {
	Type        string    `json:"type"`
	ID          string    `json:"id"`
	DisplayName string    `json:"display_name"`
	Children    []Outline `json:"children,omitempty"`
}

type blockRef struct {
	Type string `bson:"block_type"`
	ID   string `bson:"block_id"`
}

type block struct {
	Type   string `bson:"block_type"`
	ID     string `bson:"block_id"`
	Fields struct {
		DisplayName string     `bson:"display_name"`
		Children    []blockRef `bson:"children"`
	} `bson:"fields"`
}

// errCourseNotFound: the modulestore has no published version of the course.
var errCourseNotFound = errors.New("course not found")

// loadCourse reads the published structure of a course and flattens its tree.
func loadCourse(ctx context.Context, db *mongo.Database, key CourseKey) (Course, error) {
	var av struct {
		Versions map[string]bson.ObjectID `bson:"versions"`
	}
	err := db.Collection(activeVersionsColl).FindOne(ctx, bson.D{
		{Key: "org", Value: key.Org}, {Key: "course", Value: key.Course}, {Key: "run", Value: key.Run},
	}).Decode(&av)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return Course{}, errCourseNotFound
	}
	if err != nil {
		return Course{}, fmt.Errorf("find %s in %s.%s: %w", key, db.Name(), activeVersionsColl, err)
	}
	sid, ok := av.Versions["published-branch"]
	if !ok {
		return Course{}, errCourseNotFound
	}
	var st struct {
		Root   []string `bson:"root"`
		Blocks []block  `bson:"blocks"`
	}
	err = db.Collection(structuresColl).FindOne(ctx, bson.D{{Key: "_id", Value: sid}}).Decode(&st)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return Course{}, fmt.Errorf("structure %s of %s is missing from %s.%s: %w", sid.Hex(), key, db.Name(), structuresColl, errCourseNotFound)
	}
	if err != nil {
		return Course{}, fmt.Errorf("find structure %s in %s.%s: %w", sid.Hex(), db.Name(), structuresColl, err)
	}
	byRef := make(map[blockRef]block, len(st.Blocks))
	for _, b := range st.Blocks {
		byRef[blockRef{b.Type, b.ID}] = b
	}
	if len(st.Root) != 2 {
		return Course{}, fmt.Errorf("structure %s of %s: root is %v, want [type, id]", sid.Hex(), key, st.Root)
	}
	root, ok := byRef[blockRef{st.Root[0], st.Root[1]}]
	if !ok {
		return Course{}, fmt.Errorf("structure %s of %s: root block %s is missing", sid.Hex(), key, strings.Join(st.Root, "/"))
	}
	var outline func(b block, depth int) Outline
	outline = func(b block, depth int) Outline {
		o := Outline{Type: b.Type, ID: b.ID, DisplayName: b.Fields.DisplayName}
		if depth > 8 { // a cycle in corrupt data must not recurse forever
			return o
		}
		for _, ref := range b.Fields.Children {
			if child, ok := byRef[ref]; ok {
				o.Children = append(o.Children, outline(child, depth+1))
			}
		}
		return o
	}
	top := outline(root, 0)
	return Course{
		CourseID:    key.String(),
		DisplayName: root.Fields.DisplayName,
		Org:         key.Org,
		Course:      key.Course,
		Run:         key.Run,
		StructureID: sid.Hex(),
		Chapters:    top.Children,
	}, nil
}
