package scrub

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/termshift/termshift"
)

// MongoOptions says which database to scrub.
type MongoOptions struct {
	URI      termshift.Secret
	Database string
	// Salt keys the hash action, as in MySQLOptions.
	Salt   termshift.Secret
	Logger *slog.Logger
}

// mongoBatch is how many documents one read handles; mongoWriteBatch how
// many updates go in one bulk write. FerretDB's SQLite backend stops
// answering update commands of ~100 statements, and 50 costs MongoDB little.
const (
	mongoBatch      = 1000
	mongoWriteBatch = 50
)

// ScrubMongo applies the mongo rules to opts.Database. Documents are read in
// _id order in batches and rewritten with one bulk write per batch; only
// documents that have a scrubbed field are touched, and a missing field is
// not added. {{id}} is the document's _id: an ObjectID's hex, a string as
// is. Rules on collections that do not exist are skipped with a warning.
// A field inside an array is not rewritten: the report warns how many
// documents were left so.
func ScrubMongo(ctx context.Context, rules []Rule, opts MongoOptions) (*Report, error) {
	started := time.Now()
	if err := ValidateRules(rules); err != nil {
		return nil, err
	}
	rules = forService(rules, termshift.MongoDB)
	if needsSalt(rules) && opts.Salt.Reveal() == "" {
		return nil, fmt.Errorf("scrub MongoDB database %s: hash rules need a salt: %w", termshift.Quote(opts.Database), termshift.ErrInvalid)
	}
	logger := loggerOr(opts.Logger).With("database", opts.Database)
	client, db, exists, err := openMongo(ctx, opts)
	if err != nil {
		return nil, err
	}
	defer client.Disconnect(context.WithoutCancel(ctx))

	plans, warnings := planMongo(db, exists, rules)
	rep := &Report{Warnings: warnings}
	for _, w := range warnings {
		logger.Warn(w)
	}
	for _, p := range plans {
		counts, inArrays, err := scrubCollection(ctx, db.Collection(p.coll), p.rules, opts.Salt)
		if err != nil {
			rep.Seconds = time.Since(started).Seconds()
			return rep, fmt.Errorf("scrub MongoDB collection %s.%s: %w", opts.Database, p.coll, err)
		}
		for i, r := range p.rules {
			rep.Tables = append(rep.Tables, TableScrub{Table: r.Table, Column: r.Column, Action: r.Action, Rows: counts[i]})
			if counts[i] == 0 && inArrays[i] == 0 {
				rep.Warnings = append(rep.Warnings, fmt.Sprintf("%s: no document of %s.%s has field %s", r, opts.Database, r.Table, r.Column))
			}
			if inArrays[i] > 0 {
				rep.Warnings = append(rep.Warnings, fmt.Sprintf("%s: %d documents hold the field inside an array, left as they are", r, inArrays[i]))
			}
		}
		logger.Info("scrubbed", "collection", p.coll, "rules", len(p.rules))
	}
	rep.Seconds = time.Since(started).Seconds()
	return rep, nil
}

// openMongo connects and returns the database's collections.
func openMongo(ctx context.Context, opts MongoOptions) (*mongo.Client, *mongo.Database, map[string]bool, error) {
	if err := termshift.ValidateMongoDatabase(opts.Database); err != nil {
		return nil, nil, nil, fmt.Errorf("scrub: %w", err)
	}
	copts := options.Client().ApplyURI(opts.URI.Reveal())
	if err := copts.Validate(); err != nil {
		// Not wrapped: the driver's message may quote the URI.
		return nil, nil, nil, fmt.Errorf("scrub MongoDB database %s: invalid URI: %w", termshift.Quote(opts.Database), termshift.ErrInvalid)
	}
	client, err := mongo.Connect(copts)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("scrub MongoDB database %s: connect to %s: %w", termshift.Quote(opts.Database), strings.Join(copts.Hosts, ","), err)
	}
	// A database exists while it has collections. (listDatabases is not
	// used: FerretDB can take minutes to answer it on a busy server.)
	db := client.Database(opts.Database)
	names, err := db.ListCollectionNames(ctx, bson.D{})
	if err == nil && len(names) == 0 {
		err = fmt.Errorf("database does not exist or holds no collection: %w", termshift.ErrNotFound)
	}
	if err != nil {
		client.Disconnect(context.WithoutCancel(ctx))
		return nil, nil, nil, fmt.Errorf("scrub MongoDB database %s on %s: %w", termshift.Quote(opts.Database), strings.Join(copts.Hosts, ","), err)
	}
	exists := map[string]bool{}
	for _, n := range names {
		exists[n] = true
	}
	return client, db, exists, nil
}

type collPlan struct {
	coll  string
	rules []Rule
}

func planMongo(db *mongo.Database, exists map[string]bool, rules []Rule) ([]collPlan, []string) {
	var plans []collPlan
	var warnings []string
	idx := map[string]int{}
	for _, r := range rules {
		if !exists[r.Table] {
			warnings = append(warnings, fmt.Sprintf("skipped %s: collection %s does not exist in database %s", r, r.Table, db.Name()))
			continue
		}
		i, ok := idx[r.Table]
		if !ok {
			i = len(plans)
			idx[r.Table] = i
			plans = append(plans, collPlan{coll: r.Table})
		}
		plans[i].rules = append(plans[i].rules, r)
	}
	return plans, warnings
}

// hasAnyField matches documents holding at least one of the rules' fields.
func hasAnyField(rules []Rule) bson.D {
	var or bson.A
	for _, r := range rules {
		or = append(or, bson.D{{Key: r.Column, Value: bson.D{{Key: "$exists", Value: true}}}})
	}
	return bson.D{{Key: "$or", Value: or}}
}

// scrubCollection returns, per rule, how many documents it rewrote and how
// many held the field inside an array.
func scrubCollection(ctx context.Context, coll *mongo.Collection, rules []Rule, salt termshift.Secret) (counts, inArrays []int64, err error) {
	counts = make([]int64, len(rules))
	inArrays = make([]int64, len(rules))
	filter := hasAnyField(rules)
	total, err := coll.CountDocuments(ctx, filter)
	if err != nil {
		return nil, nil, fmt.Errorf("count documents: %w", err)
	}
	proj := bson.D{{Key: "_id", Value: 1}}
	for _, r := range rules {
		proj = append(proj, bson.E{Key: r.Column, Value: 1})
	}
	var seen int64
	var last any
	for {
		// Each batch is a fresh query after the last _id seen, so rewritten
		// documents are never read twice (a second hash would hash a hash).
		f := filter
		if last != nil {
			f = bson.D{{Key: "$and", Value: bson.A{filter, bson.D{{Key: "_id", Value: bson.D{{Key: "$gt", Value: last}}}}}}}
		}
		cur, err := coll.Find(ctx, f, options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}).SetLimit(mongoBatch).SetProjection(proj))
		if err != nil {
			return nil, nil, fmt.Errorf("read after %d documents: %w", seen, err)
		}
		var docs []bson.D
		if err := cur.All(ctx, &docs); err != nil {
			return nil, nil, fmt.Errorf("read after %d documents: %w", seen, err)
		}
		if len(docs) == 0 {
			break
		}
		var models []mongo.WriteModel
		for _, doc := range docs {
			id := lookup(doc, "_id")
			set := bson.D{}
			for i, r := range rules {
				v, found, arr := lookupPath(doc, r.Column)
				if arr {
					inArrays[i]++
					continue
				}
				if !found {
					continue
				}
				nv, ok := scrubValue(r, v, id.v, salt)
				if !ok {
					continue
				}
				set = append(set, bson.E{Key: r.Column, Value: nv})
				counts[i]++
			}
			if len(set) > 0 {
				models = append(models, mongo.NewUpdateOneModel().
					SetFilter(bson.D{{Key: "_id", Value: id.v}}).
					SetUpdate(bson.D{{Key: "$set", Value: set}}))
			}
			last = id.v
		}
		seen += int64(len(docs))
		for start := 0; start < len(models); start += mongoWriteBatch {
			end := min(start+mongoWriteBatch, len(models))
			if _, err := coll.BulkWrite(ctx, models[start:end]); err != nil {
				return nil, nil, fmt.Errorf("write after %d documents: %w", seen, err)
			}
		}
		if len(docs) < mongoBatch {
			break
		}
	}
	if seen < total {
		// $gt compares within one BSON type only.
		return nil, nil, fmt.Errorf("scrubbed %d of %d documents: _id values of several types: %w", seen, total, termshift.ErrRefused)
	}
	return counts, inArrays, nil
}

type found struct {
	v  any
	ok bool
}

func lookup(doc bson.D, key string) found {
	for _, e := range doc {
		if e.Key == key {
			return found{v: e.Value, ok: true}
		}
	}
	return found{}
}

// lookupPath follows a dotted path through embedded documents. inArray is
// true when the path goes through an array.
func lookupPath(doc bson.D, path string) (v any, ok, inArray bool) {
	cur := any(doc)
	for _, seg := range strings.Split(path, ".") {
		switch d := cur.(type) {
		case bson.D:
			f := lookup(d, seg)
			if !f.ok {
				return nil, false, false
			}
			cur = f.v
		case bson.A:
			return nil, false, true
		default:
			return nil, false, false
		}
	}
	if _, isArr := cur.(bson.A); isArr {
		return nil, false, true
	}
	return cur, true, false
}

// scrubValue returns the new value of one field; ok is false when the value
// is to be left alone (null stays null for email, hash and passwords).
func scrubValue(r Rule, v, id any, salt termshift.Secret) (any, bool) {
	if v == nil && r.Action != ActionFixed {
		return nil, false
	}
	switch r.Action {
	case ActionFixed:
		return r.Value, true
	case ActionNull:
		return nil, true
	case ActionEmail:
		return strings.Replace(r.EmailTemplate(), idPlaceholder, idString(id), 1), true
	case ActionHash:
		h := sha256.Sum256([]byte(salt.Reveal() + valueString(v)))
		return hex.EncodeToString(h[:]), true
	case ActionUnusablePassword:
		return unusablePassword(), true
	}
	panic("scrub: unvalidated action " + r.Action)
}

func idString(id any) string {
	switch v := id.(type) {
	case bson.ObjectID:
		return v.Hex()
	case string:
		return v
	case int32:
		return strconv.FormatInt(int64(v), 10)
	case int64:
		return strconv.FormatInt(v, 10)
	}
	return fmt.Sprint(id)
}

// valueString is what a hash is computed over: a string as is (the same
// input as MySQL's), any other value as its extended JSON.
func valueString(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	b, err := bson.MarshalExtJSON(bson.D{{Key: "v", Value: v}}, true, false)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

const passwordChars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

// unusablePassword is Django's make_password(None): "!" and 40 random
// letters and digits.
func unusablePassword() string {
	out := make([]byte, 0, unusablePasswordLen)
	out = append(out, '!')
	b := make([]byte, 64)
	for len(out) < unusablePasswordLen {
		rand.Read(b) // never fails (crypto/rand since Go 1.24)
		for _, c := range b {
			// 248 = 4*62: dropping the rest keeps every character equally likely.
			if c < 248 && len(out) < unusablePasswordLen {
				out = append(out, passwordChars[int(c)%len(passwordChars)])
			}
		}
	}
	return string(out)
}

// LeftoversMongo counts, per rule whose collection exists, the values that
// still look like production data, by the same tests as LeftoversMySQL
// (a hash is 64 lowercase hex characters). It never reads the values out.
func LeftoversMongo(ctx context.Context, rules []Rule, opts MongoOptions) ([]Leftover, error) {
	if err := ValidateRules(rules); err != nil {
		return nil, err
	}
	rules = forService(rules, termshift.MongoDB)
	client, db, exists, err := openMongo(ctx, opts)
	if err != nil {
		return nil, err
	}
	defer client.Disconnect(context.WithoutCancel(ctx))
	var out []Leftover
	for _, r := range rules {
		if !exists[r.Table] {
			continue
		}
		n, err := db.Collection(r.Table).CountDocuments(ctx, leftoverFilter(r))
		if err != nil {
			return nil, fmt.Errorf("count leftovers of %s in %s: %w", r, opts.Database, err)
		}
		out = append(out, Leftover{Table: r.Table, Column: r.Column, Count: n})
	}
	return out, nil
}

func leftoverFilter(r Rule) bson.D {
	notMatching := func(pattern string) bson.D {
		return bson.D{{Key: "$and", Value: bson.A{
			bson.D{{Key: r.Column, Value: bson.D{{Key: "$exists", Value: true}, {Key: "$ne", Value: nil}}}},
			bson.D{{Key: r.Column, Value: bson.D{{Key: "$not", Value: bson.Regex{Pattern: pattern}}}}},
		}}}
	}
	switch r.Action {
	case ActionFixed:
		return bson.D{{Key: r.Column, Value: bson.D{{Key: "$exists", Value: true}, {Key: "$nin", Value: bson.A{r.Value, nil}}}}}
	case ActionNull:
		return bson.D{{Key: r.Column, Value: bson.D{{Key: "$ne", Value: nil}}}}
	case ActionEmail:
		return notMatching(regexp.QuoteMeta(r.EmailSuffix()) + "$")
	case ActionUnusablePassword:
		return notMatching("^!")
	case ActionHash:
		return notMatching("^[0-9a-f]{64}$")
	}
	panic("scrub: unvalidated action " + r.Action)
}
