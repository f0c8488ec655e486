package mongo

import (
	"fmt"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// Metadata is a collection's .metadata.json (or the metadata string of an
// archive's prelude): old style ({"options":..,"indexes":[{"v":1,..,"ns":..}]})
// or canonical extended JSON with uuid, collectionName and type.
type Metadata struct {
	CollectionName string  // empty in old dumps
	Type           string  // "collection", "view", "timeseries", or empty
	UUID           string  // as dumped; not preserved on restore
	Options        bson.D  // create options: capped, collation, viewOn, pipeline, ...
	Indexes        []Index // in dump order, _id_ included
}

// Index is one index spec, its key order kept.
type Index struct {
	Name string
	Key  bson.D
	// Spec is the whole spec as createIndexes takes it: key, name and options
	// (unique, sparse, expireAfterSeconds, partialFilterExpression, ...),
	// without "v" and "ns", which name the source version and database.
	Spec bson.D
}

// Kind names the index's kind for messages: "hashed", "text", "2dsphere",
// "wildcard", or "" for an ordinary ascending/descending index.
func (ix Index) Kind() string {
	for _, e := range ix.Key {
		if strings.Contains(e.Key, "$**") {
			return "wildcard"
		}
		if s, ok := e.Value.(string); ok {
			return s
		}
	}
	return ""
}

// IsView reports whether the metadata describes a view (no data of its own).
func (m *Metadata) IsView() bool {
	if m.Type == "view" {
		return true
	}
	for _, e := range m.Options {
		if e.Key == "viewOn" {
			return true
		}
	}
	return false
}

// ParseMetadata decodes a metadata document; name is the file named in
// errors.
func ParseMetadata(data []byte, name string) (*Metadata, error) {
	var doc bson.D
	if err := bson.UnmarshalExtJSON(data, false, &doc); err != nil {
		return nil, &FormatError{File: name, Offset: 0, Msg: "decode collection metadata (extended JSON)", Err: err}
	}
	m := &Metadata{}
	bad := func(format string, args ...any) error {
		return &FormatError{File: name, Offset: 0, Msg: "collection metadata: " + fmt.Sprintf(format, args...)}
	}
	for _, e := range doc {
		switch e.Key {
		case "collectionName", "type", "uuid":
			s, ok := e.Value.(string)
			if !ok {
				return nil, bad("%q is %T, want a string", e.Key, e.Value)
			}
			switch e.Key {
			case "collectionName":
				m.CollectionName = s
			case "type":
				m.Type = s
			default:
				m.UUID = s
			}
		case "options":
			opts, ok := e.Value.(bson.D)
			if !ok {
				return nil, bad("\"options\" is %T, want a document", e.Value)
			}
			m.Options = opts
		case "indexes":
			list, ok := e.Value.(bson.A)
			if !ok {
				return nil, bad("\"indexes\" is %T, want an array", e.Value)
			}
			for i, v := range list {
				spec, ok := v.(bson.D)
				if !ok {
					return nil, bad("index %d is %T, want a document", i, v)
				}
				ix, err := parseIndex(spec)
				if err != nil {
					return nil, bad("index %d: %v", i, err)
				}
				m.Indexes = append(m.Indexes, ix)
			}
		}
	}
	return m, nil
}

func parseIndex(spec bson.D) (Index, error) {
	var ix Index
	for _, e := range spec {
		switch e.Key {
		case "v", "ns":
			continue
		case "key":
			key, ok := e.Value.(bson.D)
			if !ok || len(key) == 0 {
				return ix, fmt.Errorf("\"key\" is %T, want a non-empty document", e.Value)
			}
			ix.Key = key
		case "name":
			s, ok := e.Value.(string)
			if !ok || s == "" {
				return ix, fmt.Errorf("\"name\" is %T, want a non-empty string", e.Value)
			}
			ix.Name = s
		}
		ix.Spec = append(ix.Spec, e)
	}
	if ix.Key == nil {
		return ix, fmt.Errorf("no \"key\"")
	}
	if ix.Name == "" {
		return ix, fmt.Errorf("no \"name\"")
	}
	return ix, nil
}

// createOptions are the metadata's options as a create command takes them:
// idIndex is left to the server, it names the source database in its "ns";
// "create", which old dumps repeat in the options, is the command's own.
func (m *Metadata) createOptions() bson.D {
	var out bson.D
	for _, e := range m.Options {
		if e.Key == "idIndex" || e.Key == "create" {
			continue
		}
		out = append(out, e)
	}
	return out
}
