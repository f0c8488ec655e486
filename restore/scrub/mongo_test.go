package scrub_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/termshift/termshift"
	"github.com/termshift/termshift/restore/scrub"
)

// fixturePosts is more than two read batches.
const fixturePosts = 2345

type mongoFixture struct {
	db   *mongo.Database
	opts scrub.MongoOptions
}

func newMongoFixture(t *testing.T) mongoFixture {
	t.Helper()
	uri := termshift.RequireLocalSetting(t, "TERMSHIFT_MONGO_URI")
	ctx := context.Background()
	client, err := mongo.Connect(options.Client().ApplyURI(uri))
	if err != nil {
		t.Fatal(err)
	}
	name := unique(t, "scrub_test_")
	db := client.Database(name)
	t.Cleanup(func() {
		if err := db.Drop(context.Background()); err != nil {
			t.Errorf("drop %s: %v", name, err)
		}
		client.Disconnect(context.Background())
	})
	var posts []any
	for i := range fixturePosts {
		doc := bson.D{
			{Key: "_id", Value: bson.NewObjectID()},
			{Key: "_type", Value: "Comment"},
			{Key: "author_username", Value: fmt.Sprintf("learner%d", i%50)},
			{Key: "body", Value: fmt.Sprintf("My phone is +44 20 7946 0%03d, call me", i%1000)},
			{Key: "ip_address", Value: fmt.Sprintf("10.0.%d.%d", i/250, i%250)},
		}
		if i%2 == 0 { // threads have titles, comments do not
			doc = append(doc, bson.E{Key: "title", Value: fmt.Sprintf("Question %d about week 3", i)})
		}
		posts = append(posts, doc)
	}
	if _, err := db.Collection("contents").InsertMany(ctx, posts); err != nil {
		t.Fatal(err)
	}
	users := []any{
		bson.D{{Key: "_id", Value: "101"}, {Key: "username", Value: "learner1"}, {Key: "email", Value: "ada@gmail.com"}, {Key: "password", Value: "pbkdf2$x"}, {Key: "profile", Value: bson.D{{Key: "phone", Value: "+44 1"}}}},
		bson.D{{Key: "_id", Value: "102"}, {Key: "username", Value: "learner2"}, {Key: "email", Value: "bob@yahoo.com"}, {Key: "password", Value: "pbkdf2$y"}, {Key: "profile", Value: bson.D{{Key: "phone", Value: nil}}}},
		bson.D{{Key: "_id", Value: "103"}, {Key: "username", Value: "learner3"}, {Key: "email", Value: nil}},
		bson.D{{Key: "_id", Value: "104"}, {Key: "username", Value: "learner4"}, {Key: "email", Value: "cy@corp.example"}, {Key: "profile", Value: bson.A{bson.D{{Key: "phone", Value: "+44 2"}}}}},
	}
	if _, err := db.Collection("users").InsertMany(ctx, users); err != nil {
		t.Fatal(err)
	}
	return mongoFixture{db: db, opts: scrub.MongoOptions{
		URI:      termshift.Secret(uri),
		Database: name,
		Salt:     termshift.Secret(unique(t, "salt-")),
	}}
}

func (f mongoFixture) count(t *testing.T, coll string, filter bson.D) int64 {
	t.Helper()
	n, err := f.db.Collection(coll).CountDocuments(context.Background(), filter)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestScrubMongo(t *testing.T) {
	t.Parallel()
	f := newMongoFixture(t)
	ctx := context.Background()
	rules := []scrub.Rule{
		{Service: "mongo", Table: "contents", Column: "body", Action: "fixed", Value: "Scrubbed post body."},
		{Service: "mongo", Table: "contents", Column: "title", Action: "fixed", Value: "Scrubbed title"},
		{Service: "mongo", Table: "contents", Column: "ip_address", Action: "hash"},
		{Service: "mongo", Table: "users", Column: "email", Action: "email"},
		{Service: "mongo", Table: "users", Column: "password", Action: "unusable_password"},
		{Service: "mongo", Table: "users", Column: "profile.phone", Action: "null"},
		{Service: "mongo", Table: "notifications", Column: "email", Action: "email"}, // no such collection
		{Service: "mysql", Table: "auth_user", Column: "email", Action: "email"},     // not MongoDB's: ignored
	}
	ipHashes := map[bson.ObjectID]string{}
	cur, err := f.db.Collection("contents").Find(ctx, bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	var docs []struct {
		ID bson.ObjectID `bson:"_id"`
		IP string        `bson:"ip_address"`
	}
	if err := cur.All(ctx, &docs); err != nil {
		t.Fatal(err)
	}
	for _, d := range docs {
		h := sha256.Sum256([]byte(f.opts.Salt.Reveal() + d.IP))
		ipHashes[d.ID] = hex.EncodeToString(h[:])
	}

	before, err := scrub.LeftoversMongo(ctx, rules, f.opts)
	if err != nil {
		t.Fatal(err)
	}
	wantBefore := map[string]int64{
		"contents.body": fixturePosts, "contents.title": (fixturePosts + 1) / 2, "contents.ip_address": fixturePosts,
		"users.email": 3, "users.password": 2, "users.profile.phone": 2,
	}
	if diff := cmp.Diff(leftoverMap(before), wantBefore); diff != "" {
		t.Errorf("leftovers before (-got +want):\n%s", diff)
	}

	rep, err := scrub.ScrubMongo(ctx, rules, f.opts)
	if err != nil {
		t.Fatal(err)
	}
	gotRows := map[string]int64{}
	for _, ts := range rep.Tables {
		gotRows[ts.Table+"."+ts.Column] = ts.Rows
	}
	wantRows := map[string]int64{
		"contents.body": fixturePosts, "contents.title": (fixturePosts + 1) / 2, "contents.ip_address": fixturePosts,
		"users.email": 3, "users.password": 2, "users.profile.phone": 1, // user 102's phone was null already
	}
	if diff := cmp.Diff(gotRows, wantRows); diff != "" {
		t.Errorf("report rows (-got +want):\n%s", diff)
	}
	joined := strings.Join(rep.Warnings, "\n")
	if !strings.Contains(joined, "notifications") || !strings.Contains(joined, "inside an array") {
		t.Errorf("warnings %q, want the missing collection and the array", rep.Warnings)
	}

	if got := f.count(t, "contents", bson.D{}); got != fixturePosts {
		t.Errorf("%d posts after scrub, want %d", got, fixturePosts)
	}
	if got := f.count(t, "contents", bson.D{{Key: "body", Value: "Scrubbed post body."}}); got != fixturePosts {
		t.Errorf("%d scrubbed bodies, want %d", got, fixturePosts)
	}
	// Comments had no title and did not get one.
	if got := f.count(t, "contents", bson.D{{Key: "title", Value: bson.D{{Key: "$exists", Value: true}}}}); got != (fixturePosts+1)/2 {
		t.Errorf("%d posts with a title, want %d", got, (fixturePosts+1)/2)
	}
	if got := f.count(t, "contents", bson.D{{Key: "author_username", Value: "learner7"}}); got == 0 {
		t.Error("author_username was changed; it must be kept")
	}
	cur, err = f.db.Collection("contents").Find(ctx, bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	docs = nil
	if err := cur.All(ctx, &docs); err != nil {
		t.Fatal(err)
	}
	for _, d := range docs {
		if d.IP != ipHashes[d.ID] {
			t.Fatalf("post %s ip_address = %q, want salted sha256 %q", d.ID.Hex(), d.IP, ipHashes[d.ID])
		}
	}

	var users []bson.M
	cur, err = f.db.Collection("users").Find(ctx, bson.D{}, options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}))
	if err != nil {
		t.Fatal(err)
	}
	if err := cur.All(ctx, &users); err != nil {
		t.Fatal(err)
	}
	wantEmails := []any{"user101@example.invalid", "user102@example.invalid", nil, "user104@example.invalid"}
	for i, u := range users {
		if u["email"] != wantEmails[i] {
			t.Errorf("user %v email %v, want %v", u["_id"], u["email"], wantEmails[i])
		}
		if pw, ok := u["password"].(string); ok && (len(pw) != 41 || pw[0] != '!') {
			t.Errorf("user %v password %q, want an unusable one", u["_id"], pw)
		}
	}
	if _, has := users[2]["password"]; has {
		t.Error("a password field was added to a user without one")
	}
	nullPhone := bson.D{{Key: "$and", Value: bson.A{
		bson.D{{Key: "_id", Value: "101"}},
		bson.D{{Key: "profile.phone", Value: bson.D{{Key: "$exists", Value: true}}}},
		bson.D{{Key: "profile.phone", Value: nil}},
	}}}
	if got := f.count(t, "users", nullPhone); got != 1 {
		t.Errorf("user 101 profile.phone is not null (%d matches)", got)
	}

	after, err := scrub.LeftoversMongo(ctx, rules, f.opts)
	if err != nil {
		t.Fatal(err)
	}
	// The phone inside user 104's array is left, and Leftovers sees it.
	wantAfter := map[string]int64{
		"contents.body": 0, "contents.title": 0, "contents.ip_address": 0,
		"users.email": 0, "users.password": 0, "users.profile.phone": 1,
	}
	if diff := cmp.Diff(leftoverMap(after), wantAfter); diff != "" {
		t.Errorf("leftovers after (-got +want):\n%s", diff)
	}
}

func TestScrubMongoRefusals(t *testing.T) {
	t.Parallel()
	f := newMongoFixture(t)
	ctx := context.Background()
	noSalt := f.opts
	noSalt.Salt = ""
	missing := f.opts
	missing.Database = unique(t, "scrub_absent_")
	badName := f.opts
	badName.Database = "a.b"
	tests := []struct {
		name    string
		rules   []scrub.Rule
		opts    scrub.MongoOptions
		wantErr error
	}{
		{"hash without salt", []scrub.Rule{{Service: "mongo", Table: "users", Column: "email", Action: "hash"}}, noSalt, termshift.ErrInvalid},
		{"bad rule", []scrub.Rule{{Service: "mongo", Table: "users", Column: "_id", Action: "null"}}, f.opts, termshift.ErrInvalid},
		{"missing database", []scrub.Rule{{Service: "mongo", Table: "users", Column: "email", Action: "email"}}, missing, termshift.ErrNotFound},
		{"bad database name", nil, badName, termshift.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := scrub.ScrubMongo(ctx, tt.rules, tt.opts)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("error %v, want %v", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), f.opts.URI.Reveal()) {
				t.Errorf("error leaks the URI: %v", err)
			}
		})
	}
	if got := f.count(t, "users", bson.D{{Key: "email", Value: "ada@gmail.com"}}); got != 1 {
		t.Errorf("refused scrubs changed data")
	}
}

func (f mongoFixture) collections(t *testing.T) []string {
	t.Helper()
	names, err := f.db.ListCollectionNames(context.Background(), bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(names)
	return names
}

// TestScrubMongoKeepsIndexes: the scrubbed copy that replaces a collection
// has its indexes, and no copy is left behind.
func TestScrubMongoKeepsIndexes(t *testing.T) {
	t.Parallel()
	f := newMongoFixture(t)
	ctx := context.Background()
	users := f.db.Collection("users")
	if _, err := users.Indexes().CreateOne(ctx, mongo.IndexModel{Keys: bson.D{{Key: "username", Value: 1}}, Options: options.Index().SetName("username_1").SetUnique(true)}); err != nil {
		t.Fatal(err)
	}
	rules := []scrub.Rule{{Service: "mongo", Table: "users", Column: "email", Action: "email"}}
	if _, err := scrub.ScrubMongo(ctx, rules, f.opts); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(f.collections(t), []string{"contents", "users"}); diff != "" {
		t.Errorf("collections after scrub (-got +want):\n%s", diff)
	}
	cur, err := users.Indexes().List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var specs []bson.M
	if err := cur.All(ctx, &specs); err != nil {
		t.Fatal(err)
	}
	var unique bool
	for _, s := range specs {
		if s["name"] == "username_1" {
			unique, _ = s["unique"].(bool)
		}
	}
	if !unique {
		t.Errorf("indexes after scrub %v, want the unique username_1 kept", specs)
	}
	// The unique index holds on the copy: a second learner1 is refused.
	if _, err := users.InsertOne(ctx, bson.D{{Key: "_id", Value: "999"}, {Key: "username", Value: "learner1"}}); !mongo.IsDuplicateKeyError(err) {
		t.Errorf("insert of a duplicate username: %v, want a duplicate key error", err)
	}
}

// TestScrubMongoFinishesInterruptedSwap: what a scrub killed while putting
// its copy in place leaves is repaired by the next one, and never loses the
// collection.
func TestScrubMongoFinishesInterruptedSwap(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rules := []scrub.Rule{{Service: "mongo", Table: "users", Column: "email", Action: "email"}}
	rename := func(t *testing.T, f mongoFixture, from, to string) {
		t.Helper()
		cmd := bson.D{{Key: "renameCollection", Value: f.db.Name() + "." + from}, {Key: "to", Value: f.db.Name() + "." + to}}
		if err := f.db.Client().Database("admin").RunCommand(ctx, cmd).Err(); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name  string
		setup func(t *testing.T, f mongoFixture)
	}{
		// Killed after renaming the collection aside, before the copy took its name.
		{"aside and copy", func(t *testing.T, f mongoFixture) {
			rename(t, f, "users", "termshift_unscrubbed_users")
			if _, err := f.db.Collection("termshift_scrub_users").InsertOne(ctx, bson.D{{Key: "_id", Value: "101"}, {Key: "email", Value: "user101@example.invalid"}}); err != nil {
				t.Fatal(err)
			}
		}},
		// Killed after the copy took its name, before the aside was dropped.
		{"aside beside its collection", func(t *testing.T, f mongoFixture) {
			if _, err := f.db.Collection("termshift_unscrubbed_users").InsertOne(ctx, bson.D{{Key: "_id", Value: "101"}, {Key: "email", Value: "ada@gmail.com"}}); err != nil {
				t.Fatal(err)
			}
		}},
		// Killed while copying: the copy is unfinished.
		{"unfinished copy", func(t *testing.T, f mongoFixture) {
			if _, err := f.db.Collection("termshift_scrub_users").InsertOne(ctx, bson.D{{Key: "_id", Value: "101"}}); err != nil {
				t.Fatal(err)
			}
		}},
		// Only the aside is left: it is the unscrubbed collection, renamed back.
		{"aside alone", func(t *testing.T, f mongoFixture) {
			rename(t, f, "users", "termshift_unscrubbed_users")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newMongoFixture(t)
			tt.setup(t, f)
			if _, err := scrub.ScrubMongo(ctx, rules, f.opts); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(f.collections(t), []string{"contents", "users"}); diff != "" {
				t.Errorf("collections after scrub (-got +want):\n%s", diff)
			}
			left, err := scrub.LeftoversMongo(ctx, rules, f.opts)
			if err != nil {
				t.Fatal(err)
			}
			if n := left[0].Count; n != 0 {
				t.Errorf("%d emails left unscrubbed", n)
			}
			if got := f.count(t, "users", bson.D{{Key: "email", Value: "user101@example.invalid"}}); got != 1 {
				t.Errorf("user 101 email scrubbed %d times, want once", got)
			}
		})
	}
}
