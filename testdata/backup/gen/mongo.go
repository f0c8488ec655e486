package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// writeMongoDump writes a mongodump-format directory: DB/COLL.bson (the
// documents back to back) and DB/COLL.metadata.json (indexes in canonical
// extended JSON, the collection's UUID), as mongodump 100.x does.
func writeMongoDump(dir, modulestore, forum string, w *World) (map[string]int, error) {
	counts := map[string]int{}
	for _, c := range mongoCollections(modulestore, forum, w) {
		if err := os.MkdirAll(filepath.Join(dir, c.db), 0o755); err != nil {
			return nil, err
		}
		var buf bytes.Buffer
		for _, d := range c.docs {
			b, err := bson.Marshal(d)
			if err != nil {
				return nil, fmt.Errorf("encode %s.%s: %w", c.db, c.name, err)
			}
			buf.Write(b)
		}
		base := filepath.Join(dir, c.db, c.name)
		if err := os.WriteFile(base+".bson", buf.Bytes(), 0o644); err != nil {
			return nil, err
		}
		indexes := bson.A{bson.D{{Key: "v", Value: int32(2)}, {Key: "key", Value: bson.D{{Key: "_id", Value: int32(1)}}}, {Key: "name", Value: "_id_"}}}
		for _, ix := range c.indexes {
			indexes = append(indexes, ix)
		}
		meta := bson.D{{Key: "indexes", Value: indexes}, {Key: "uuid", Value: w.hex(32)},
			{Key: "collectionName", Value: c.name}, {Key: "type", Value: "collection"}}
		js, err := bson.MarshalExtJSON(meta, true, false)
		if err != nil {
			return nil, fmt.Errorf("encode %s.%s metadata: %w", c.db, c.name, err)
		}
		if err := os.WriteFile(base+".metadata.json", js, 0o644); err != nil {
			return nil, err
		}
		counts[c.db+"."+c.name] = len(c.docs)
	}
	return counts, nil
}

type collection struct {
	db, name string
	docs     []bson.D
	indexes  []bson.D
}

func index(name string, unique bool, keys ...bson.E) bson.D {
	d := bson.D{{Key: "v", Value: int32(2)}, {Key: "key", Value: bson.D(keys)}, {Key: "name", Value: name}}
	if unique {
		d = append(d, bson.E{Key: "unique", Value: true})
	}
	return d
}

func one(k string) bson.E   { return bson.E{Key: k, Value: int32(1)} }
func minus(k string) bson.E { return bson.E{Key: k, Value: int32(-1)} }

func mongoCollections(modulestore, forum string, w *World) []collection {
	editor := int32(1)
	av := collection{db: modulestore, name: "modulestore.active_versions",
		indexes: []bson.D{index("org_1_course_1_run_1", true, one("org"), one("course"), one("run"))}}
	st := collection{db: modulestore, name: "modulestore.structures",
		indexes: []bson.D{index("original_version_1", false, one("original_version")), index("previous_version_1", false, one("previous_version"))}}
	defs := collection{db: modulestore, name: "modulestore.definitions"}
	for _, c := range w.Courses {
		av.docs = append(av.docs, bson.D{{Key: "_id", Value: c.ActiveID}, {Key: "org", Value: c.Org}, {Key: "course", Value: c.Number},
			{Key: "run", Value: c.Run}, {Key: "edited_by", Value: editor}, {Key: "edited_on", Value: c.Edited},
			{Key: "versions", Value: bson.D{{Key: "draft-branch", Value: c.Draft}, {Key: "published-branch", Value: c.Structure}}},
			{Key: "schema_version", Value: int32(1)}, {Key: "search_targets", Value: bson.D{{Key: "wiki_slug", Value: c.Org + "." + c.Number + "." + c.Run}}},
			{Key: "last_update", Value: c.Edited}})
		var blocks bson.A
		for _, b := range c.Blocks() {
			children := bson.A{}
			for _, ch := range b.Children {
				children = append(children, bson.D{{Key: "block_type", Value: ch.Type}, {Key: "block_id", Value: ch.ID}})
			}
			fields := bson.D{{Key: "display_name", Value: b.Name}, {Key: "children", Value: children}}
			if b.Type == "course" {
				fields = append(fields, bson.E{Key: "start", Value: time.Date(2026, 9, 2, 0, 0, 0, 0, time.UTC)},
					bson.E{Key: "end", Value: time.Date(2026, 12, 18, 0, 0, 0, 0, time.UTC)})
			}
			blocks = append(blocks, bson.D{{Key: "block_type", Value: b.Type}, {Key: "block_id", Value: b.ID},
				{Key: "definition", Value: b.Definition}, {Key: "fields", Value: fields}, {Key: "defaults", Value: bson.D{}},
				{Key: "edit_info", Value: bson.D{{Key: "edited_on", Value: c.Edited}, {Key: "edited_by", Value: editor},
					{Key: "previous_version", Value: nil}, {Key: "update_version", Value: c.Structure}, {Key: "source_version", Value: nil}}}})
			var data string
			switch b.Type {
			case "problem":
				data = `<problem><p>` + b.Name + `: what is 2 + 2?</p><numericalresponse answer="4"><formulaequationinput/></numericalresponse></problem>`
			case "html":
				data = `<p>Read section ` + b.Name + ` of the textbook before the lecture.</p>`
			case "video":
				data = `<video youtube_id_1_0="` + b.ID[:11] + `"/>`
			}
			def := bson.D{{Key: "_id", Value: b.Definition}, {Key: "block_type", Value: b.Type}, {Key: "fields", Value: bson.D{}},
				{Key: "edit_info", Value: bson.D{{Key: "edited_on", Value: c.Edited}, {Key: "edited_by", Value: editor},
					{Key: "previous_version", Value: nil}, {Key: "original_version", Value: b.Definition}}},
				{Key: "schema_version", Value: int32(1)}}
			if data != "" {
				def[2].Value = bson.D{{Key: "data", Value: data}}
			}
			defs.docs = append(defs.docs, def)
		}
		structure := func(id bson.ObjectID) bson.D {
			return bson.D{{Key: "_id", Value: id}, {Key: "root", Value: bson.A{"course", "course"}},
				{Key: "previous_version", Value: nil}, {Key: "original_version", Value: c.Structure},
				{Key: "edited_by", Value: editor}, {Key: "edited_on", Value: c.Edited},
				{Key: "blocks", Value: blocks}, {Key: "schema_version", Value: int32(1)}}
		}
		st.docs = append(st.docs, structure(c.Structure), structure(c.Draft))
	}

	contents := collection{db: forum, name: "contents", indexes: []bson.D{
		index("comment_thread_id_1_sk_1", false, one("comment_thread_id"), one("sk")),
		index("author_id_1_course_id_1", false, one("author_id"), one("course_id")),
		index("_type_1_course_id_1_pinned_-1_created_at_-1", false, one("_type"), one("course_id"), minus("pinned"), minus("created_at")),
	}}
	authors := map[int]*User{}
	for _, p := range w.Posts {
		authors[p.Author.ID] = p.Author
		votes := bson.D{{Key: "up", Value: bson.A{}}, {Key: "down", Value: bson.A{}}, {Key: "up_count", Value: int32(0)},
			{Key: "down_count", Value: int32(0)}, {Key: "count", Value: int32(0)}, {Key: "point", Value: int32(0)}}
		d := bson.D{{Key: "_id", Value: p.ID}, {Key: "votes", Value: votes}, {Key: "visible", Value: true},
			{Key: "abuse_flaggers", Value: bson.A{}}, {Key: "historical_abuse_flaggers", Value: bson.A{}},
			{Key: "anonymous", Value: false}, {Key: "anonymous_to_peers", Value: false},
			{Key: "at_position_list", Value: bson.A{}}, {Key: "body", Value: p.Body},
			{Key: "course_id", Value: p.Course.ID()}, {Key: "author_id", Value: fmt.Sprint(p.Author.ID)},
			{Key: "author_username", Value: p.Author.Username}, {Key: "created_at", Value: p.Created}, {Key: "updated_at", Value: p.Created}}
		if p.Thread == nil {
			d = append(d, bson.E{Key: "_type", Value: "CommentThread"}, bson.E{Key: "thread_type", Value: "discussion"},
				bson.E{Key: "context", Value: "course"}, bson.E{Key: "title", Value: p.Title},
				bson.E{Key: "commentable_id", Value: "course"}, bson.E{Key: "comment_count", Value: int32(p.Comments)},
				bson.E{Key: "closed", Value: false}, bson.E{Key: "pinned", Value: false},
				bson.E{Key: "last_activity_at", Value: p.Created})
		} else {
			d = append(d, bson.E{Key: "_type", Value: "Comment"}, bson.E{Key: "comment_thread_id", Value: p.Thread.ID},
				bson.E{Key: "parent_ids", Value: bson.A{}}, bson.E{Key: "sk", Value: p.ID.Hex()},
				bson.E{Key: "endorsed", Value: false})
		}
		contents.docs = append(contents.docs, d)
	}
	users := collection{db: forum, name: "users", indexes: []bson.D{
		index("username_1", true, one("username")), index("external_id_1", true, one("external_id"))}}
	for _, u := range w.Users { // in id order, so the dump is reproducible
		if authors[u.ID] == nil {
			continue
		}
		users.docs = append(users.docs, bson.D{{Key: "_id", Value: fmt.Sprint(u.ID)}, {Key: "external_id", Value: fmt.Sprint(u.ID)},
			{Key: "username", Value: u.Username}, {Key: "email", Value: u.Email}, {Key: "default_sort_key", Value: "date"},
			{Key: "read_states", Value: bson.A{}}})
	}
	return []collection{av, st, defs, contents, users}
}
