package scrub

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
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

// Batch limits of the copy a scrub writes: documents and bytes per
// insertMany.
const (
	mongoBatchDocs  = 1000
	mongoBatchBytes = 8 << 20
)

// scrubPrefix names the copy a scrub writes before it takes the
// collection's place; asidePrefix the collection while a server without
// renameCollection's dropTarget swaps them. (FerretDB refuses to rename a
// collection whose name holds a dot.)
const (
	scrubPrefix = "termshift_scrub_"
	asidePrefix = "termshift_unscrubbed_"
)

// ScrubMongo applies the mongo rules to opts.Database. Only fields a
// document has are rewritten; a missing field is not added. {{id}} is the
// document's _id: an ObjectID's hex, a string as is. Rules on collections
// that do not exist are skipped with a warning. A field inside an array is
// not rewritten: the report warns how many documents were left so.
//
// Each collection is rewritten as a copy: its documents are read once
// through one cursor, scrubbed in memory, and written with unordered
// insertMany batches into a new collection with the same options; its
// indexes are built after the data, and renameCollection (dropTarget) puts
// the copy in the collection's place in one step. A scrub that fails leaves
// the collection as it was. This is one read and one bulk insert per
// document, where updates cost a server a write each: on FerretDB 1.24's SQLite backend
// an update scans the whole collection (100 updateOne by _id took 1.5 s on
// 2,000 documents and 12 s on 16,000), and pipeline updates are refused.
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

	recovered, err := recoverCopies(ctx, db, exists)
	if err != nil {
		return nil, fmt.Errorf("scrub MongoDB database %s: %w", opts.Database, err)
	}
	plans, warnings := planMongo(db, exists, rules)
	rep := &Report{Warnings: append(recovered, warnings...)}
	for _, w := range warnings {
		logger.Warn(w)
	}
	for _, p := range plans {
		counts, inArrays, err := scrubCollection(ctx, db, p.coll, p.rules, opts.Salt)
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

// scrubCollection rewrites one collection as a scrubbed copy and returns,
// per rule, how many documents it rewrote and how many held the field
// inside an array.
func scrubCollection(ctx context.Context, db *mongo.Database, name string, rules []Rule, salt termshift.Secret) (counts, inArrays []int64, err error) {
	specs, err := db.ListCollectionSpecifications(ctx, bson.D{{Key: "name", Value: name}})
	if err != nil {
		return nil, nil, fmt.Errorf("read its options: %w", err)
	}
	if len(specs) != 1 {
		return nil, nil, fmt.Errorf("read its options: the server lists %d collections of that name: %w", len(specs), termshift.ErrNotFound)
	}
	if specs[0].Type != "" && specs[0].Type != "collection" {
		return nil, nil, fmt.Errorf("it is a %s, not a collection: scrub the collection it reads from: %w", specs[0].Type, termshift.ErrInvalid)
	}
	src := db.Collection(name)
	tmpName := scrubPrefix + name
	tmp := db.Collection(tmpName)
	if err := tmp.Drop(ctx); err != nil {
		return nil, nil, fmt.Errorf("drop %s left by an earlier scrub: %w", tmpName, err)
	}
	create := bson.D{{Key: "create", Value: tmpName}}
	if len(specs[0].Options) > 0 {
		var o bson.D
		if err := bson.Unmarshal(specs[0].Options, &o); err != nil {
			return nil, nil, fmt.Errorf("decode its options: %w", err)
		}
		create = append(create, o...)
	}
	if err := db.RunCommand(ctx, create).Err(); err != nil {
		return nil, nil, fmt.Errorf("create the scrubbed copy %s: %w", tmpName, err)
	}
	swapped := false
	defer func() {
		if !swapped {
			tmp.Drop(context.WithoutCancel(ctx))
		}
	}()

	counts, inArrays, err = copyScrubbed(ctx, src, tmp, rules, salt)
	if err != nil {
		return nil, nil, err
	}
	if err := copyIndexes(ctx, src, tmp); err != nil {
		return nil, nil, err
	}
	if err := replaceWithCopy(ctx, db, tmpName, name); err != nil {
		return nil, nil, err
	}
	swapped = true
	return counts, inArrays, nil
}

// replaceWithCopy puts the verified copy in the collection's place: with
// renameCollection's dropTarget, in one step. A server without it
// (FerretDB) gets three: the collection is renamed aside, the copy takes its
// name, the collection set aside is dropped. A failed rename is undone; a
// scrub killed between the steps is finished by the next (recoverCopies).
func replaceWithCopy(ctx context.Context, db *mongo.Database, tmpName, name string) error {
	admin := db.Client().Database("admin")
	rename := func(from, to string, dropTarget bool) error {
		cmd := bson.D{{Key: "renameCollection", Value: db.Name() + "." + from}, {Key: "to", Value: db.Name() + "." + to}}
		if dropTarget {
			cmd = append(cmd, bson.E{Key: "dropTarget", Value: true})
		}
		return admin.RunCommand(ctx, cmd).Err()
	}
	err := rename(tmpName, name, true)
	var ce mongo.CommandError
	if err == nil || !errors.As(err, &ce) || (ce.Code != codeNotImplemented && ce.Code != codeCommandNotSupported) {
		if err != nil {
			return fmt.Errorf("put the scrubbed copy in place: %w", err)
		}
		return nil
	}
	aside := asidePrefix + name
	if err := rename(name, aside, false); err != nil {
		return fmt.Errorf("rename the collection aside for its scrubbed copy: %w", err)
	}
	if err := rename(tmpName, name, false); err != nil {
		if undo := rename(aside, name, false); undo != nil {
			return fmt.Errorf("rename the scrubbed copy %s to %s: %w; renaming the collection back from %s failed too (the next scrub does it): %v", tmpName, name, err, aside, undo)
		}
		return fmt.Errorf("rename the scrubbed copy %s to %s: %w", tmpName, name, err)
	}
	if err := db.Collection(aside).Drop(ctx); err != nil {
		return fmt.Errorf("drop the unscrubbed collection %s: %w", aside, err)
	}
	return nil
}

// Server error codes of a command or option a server does not implement.
const (
	codeCommandNotSupported = 115
	codeNotImplemented      = 238
)

// recoverCopies finishes what a scrub killed while swapping left: an
// unscrubbed collection set aside (asidePrefix) is dropped when its name is
// taken again, replaced by its verified copy when that copy is there, and
// renamed back otherwise. A copy beside its collection is unfinished; the
// next scrub of that collection drops it.
func recoverCopies(ctx context.Context, db *mongo.Database, exists map[string]bool) ([]string, error) {
	var notes []string
	for n := range exists {
		orig, ok := strings.CutPrefix(n, asidePrefix)
		if !ok {
			continue
		}
		admin := db.Client().Database("admin")
		rename := func(from, to string) error {
			return admin.RunCommand(ctx, bson.D{{Key: "renameCollection", Value: db.Name() + "." + from}, {Key: "to", Value: db.Name() + "." + to}}).Err()
		}
		switch {
		case exists[orig]:
			notes = append(notes, fmt.Sprintf("collection %s: dropped the unscrubbed collection an interrupted scrub left as %s", orig, n))
		case exists[scrubPrefix+orig]:
			if err := rename(scrubPrefix+orig, orig); err != nil {
				return nil, fmt.Errorf("finish an interrupted scrub of %s: %w", orig, err)
			}
			delete(exists, scrubPrefix+orig)
			notes = append(notes, fmt.Sprintf("collection %s: put in place the scrubbed copy an interrupted scrub left", orig))
		default:
			if err := rename(n, orig); err != nil {
				return nil, fmt.Errorf("undo an interrupted scrub of %s: %w", orig, err)
			}
			delete(exists, n)
			exists[orig] = true
			notes = append(notes, fmt.Sprintf("collection %s: renamed back from %s, where an interrupted scrub left it unscrubbed", orig, n))
			continue
		}
		if err := db.Collection(n).Drop(ctx); err != nil {
			return nil, fmt.Errorf("drop %s left by an interrupted scrub: %w", n, err)
		}
		delete(exists, n)
		exists[orig] = true
	}
	return notes, nil
}

// copyScrubbed reads every document of src once, scrubs it and inserts it
// into dst; an inserter sends each batch while the cursor reads on. Every
// document read is in dst when it returns: an insertMany that does not take
// a whole batch is an error. (The copy is not counted again: FerretDB
// counts by reading the whole collection.)
func copyScrubbed(ctx context.Context, src, dst *mongo.Collection, rules []Rule, salt termshift.Secret) (counts, inArrays []int64, err error) {
	counts = make([]int64, len(rules))
	inArrays = make([]int64, len(rules))
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	batches := make(chan []any, 2)
	inserted := make(chan error, 1)
	go func() {
		defer close(inserted)
		opts := options.InsertMany().SetOrdered(false)
		for b := range batches {
			res, err := dst.InsertMany(ctx, b, opts)
			if err == nil && len(res.InsertedIDs) != len(b) {
				err = fmt.Errorf("the server took %d of %d documents", len(res.InsertedIDs), len(b))
			}
			if err != nil {
				cancel(err)
				inserted <- err
				for range batches { // let the reader finish
				}
				return
			}
		}
	}()
	read, readErr := func() (int64, error) {
		defer close(batches)
		cur, err := src.Find(ctx, bson.D{}, options.Find().SetBatchSize(mongoBatchDocs))
		if err != nil {
			return 0, fmt.Errorf("read documents: %w", err)
		}
		defer cur.Close(context.WithoutCancel(ctx))
		var read int64
		batch := make([]any, 0, mongoBatchDocs)
		size := 0
		send := func() error {
			select {
			case batches <- batch:
			case <-ctx.Done():
				return context.Cause(ctx)
			}
			batch, size = make([]any, 0, mongoBatchDocs), 0
			return nil
		}
		for cur.Next(ctx) {
			var doc bson.D
			if err := bson.Unmarshal(cur.Current, &doc); err != nil {
				return read, fmt.Errorf("decode document %d: %w", read, err)
			}
			read++
			id := lookup(doc, "_id")
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
				setPath(doc, r.Column, nv)
				counts[i]++
			}
			batch = append(batch, doc)
			size += len(cur.Current)
			if len(batch) == mongoBatchDocs || size >= mongoBatchBytes {
				if err := send(); err != nil {
					return read, err
				}
			}
		}
		if err := cur.Err(); err != nil {
			return read, fmt.Errorf("read after %d documents: %w", read, err)
		}
		if len(batch) > 0 {
			return read, send()
		}
		return read, nil
	}()
	if err, sent := <-inserted; sent {
		return nil, nil, fmt.Errorf("write the scrubbed copy after reading %d documents: %w", read, err)
	}
	if readErr != nil {
		return nil, nil, readErr
	}
	return counts, inArrays, nil
}

// copyIndexes builds src's indexes on dst, after its data.
func copyIndexes(ctx context.Context, src, dst *mongo.Collection) error {
	cur, err := src.Indexes().List(ctx)
	if err != nil {
		return fmt.Errorf("list indexes: %w", err)
	}
	var specs bson.A
	for cur.Next(ctx) {
		var spec bson.D
		if err := bson.Unmarshal(cur.Current, &spec); err != nil {
			return fmt.Errorf("decode an index: %w", err)
		}
		keep := bson.D{}
		name := ""
		for _, e := range spec {
			switch e.Key {
			case "v", "ns":
				continue
			case "name":
				name, _ = e.Value.(string)
			}
			keep = append(keep, e)
		}
		if name != "_id_" {
			specs = append(specs, keep)
		}
	}
	if err := cur.Err(); err != nil {
		return fmt.Errorf("list indexes: %w", err)
	}
	if len(specs) == 0 {
		return nil
	}
	if err := dst.Database().RunCommand(ctx, bson.D{{Key: "createIndexes", Value: dst.Name()}, {Key: "indexes", Value: specs}}).Err(); err != nil {
		return fmt.Errorf("build the indexes on the scrubbed copy: %w", err)
	}
	return nil
}

// setPath replaces the value at a dotted path that lookupPath found (so
// every step is an embedded document).
func setPath(doc bson.D, path string, v any) {
	seg, rest, nested := strings.Cut(path, ".")
	for i := range doc {
		if doc[i].Key != seg {
			continue
		}
		if !nested {
			doc[i].Value = v
			return
		}
		if d, ok := doc[i].Value.(bson.D); ok {
			setPath(d, rest, v)
		}
		return
	}
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
