package rabbitmq

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/termshift/termshift"
	"github.com/termshift/termshift/restore"
)

// definitions is the part of a definitions export (GET /api/definitions,
// GET /api/definitions/{vhost}, rabbitmqctl export_definitions) that a
// restore reads. Objects of a vhost-scoped export carry no vhost field.
type definitions struct {
	RabbitVersion    string            `json:"rabbit_version"`
	Users            []json.RawMessage `json:"users"`
	Vhosts           []vhostDef        `json:"vhosts"`
	Permissions      []json.RawMessage `json:"permissions"`
	TopicPermissions []json.RawMessage `json:"topic_permissions"`
	Parameters       []json.RawMessage `json:"parameters"`
	GlobalParameters []json.RawMessage `json:"global_parameters"`
	Policies         []policyDef       `json:"policies"`
	Queues           []queueDef        `json:"queues"`
	Exchanges        []exchangeDef     `json:"exchanges"`
	Bindings         []bindingDef      `json:"bindings"`
}

type vhostDef struct {
	Name string `json:"name"`
}

type queueDef struct {
	Name       string         `json:"name"`
	Vhost      string         `json:"vhost"`
	Type       string         `json:"type"`
	Durable    bool           `json:"durable"`
	AutoDelete autoDelete     `json:"auto_delete"`
	Arguments  map[string]any `json:"arguments"`
}

type exchangeDef struct {
	Name       string         `json:"name"`
	Vhost      string         `json:"vhost"`
	Type       string         `json:"type"`
	Durable    bool           `json:"durable"`
	AutoDelete autoDelete     `json:"auto_delete"`
	Internal   bool           `json:"internal"`
	Arguments  map[string]any `json:"arguments"`
}

type bindingDef struct {
	Source          string         `json:"source"`
	Vhost           string         `json:"vhost"`
	Destination     string         `json:"destination"`
	DestinationType string         `json:"destination_type"`
	RoutingKey      string         `json:"routing_key"`
	Arguments       map[string]any `json:"arguments"`
}

type policyDef struct {
	Name       string         `json:"name"`
	Vhost      string         `json:"vhost"`
	Pattern    string         `json:"pattern"`
	ApplyTo    string         `json:"apply-to"`
	Priority   int            `json:"priority"`
	Definition map[string]any `json:"definition"`
}

// autoDelete reads auto_delete, which some RabbitMQ versions export as the
// string "undefined" (meaning true, as the management API treats it).
type autoDelete json.RawMessage

func (a *autoDelete) UnmarshalJSON(data []byte) error {
	*a = append((*a)[:0], data...)
	return nil
}

func (a autoDelete) value() (bool, error) {
	switch string(a) {
	case "true", `"undefined"`, `"true"`:
		return true, nil
	case "", "false", "null", `"false"`:
		return false, nil
	}
	return false, fmt.Errorf("auto_delete: want true or false, got %s", []byte(a))
}

// parseDefinitions decodes a definitions file; name is used in errors, which
// give the line and column of a syntax or type error.
func parseDefinitions(name string, data []byte) (*definitions, error) {
	var d definitions
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&d); err != nil {
		var syn *json.SyntaxError
		var typ *json.UnmarshalTypeError
		switch {
		case errors.As(err, &syn):
			line, col := lineCol(data, syn.Offset)
			return nil, fmt.Errorf("%s:%d:%d: malformed definitions JSON: %v: %w", name, line, col, syn, termshift.ErrInvalid)
		case errors.As(err, &typ):
			line, col := lineCol(data, typ.Offset)
			return nil, fmt.Errorf("%s:%d:%d: field %s: %v: %w", name, line, col, typ.Field, typ, termshift.ErrInvalid)
		case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF):
			line, col := lineCol(data, int64(len(data)))
			return nil, fmt.Errorf("%s:%d:%d: definitions JSON ends early: %w", name, line, col, termshift.ErrInvalid)
		default:
			return nil, fmt.Errorf("%s: read definitions: %v: %w", name, err, termshift.ErrInvalid)
		}
	}
	if dec.More() {
		line, col := lineCol(data, dec.InputOffset())
		return nil, fmt.Errorf("%s:%d:%d: data after the definitions object: %w", name, line, col, termshift.ErrInvalid)
	}
	if err := d.check(); err != nil {
		return nil, fmt.Errorf("%s: %w: %w", name, err, termshift.ErrInvalid)
	}
	return &d, nil
}

// check reports the first value the decoder could not judge, naming the
// object it belongs to.
func (d *definitions) check() error {
	for _, q := range d.Queues {
		if _, err := q.AutoDelete.value(); err != nil {
			return fmt.Errorf("queue %s in vhost %s: %w", termshift.Quote(q.Name), termshift.Quote(q.Vhost), err)
		}
	}
	for _, e := range d.Exchanges {
		if _, err := e.AutoDelete.value(); err != nil {
			return fmt.Errorf("exchange %s in vhost %s: %w", termshift.Quote(e.Name), termshift.Quote(e.Vhost), err)
		}
	}
	return nil
}

// lineCol turns a byte offset into a 1-based line and column (in bytes).
// json reports the offset after the offending byte, so the column points at
// it.
func lineCol(data []byte, offset int64) (line, col int) {
	if offset > int64(len(data)) {
		offset = int64(len(data))
	}
	before := data[:offset]
	line = 1 + bytes.Count(before, []byte("\n"))
	col = int(offset) - (bytes.LastIndexByte(before, '\n') + 1)
	if col < 1 {
		col = 1
	}
	return line, col
}

// vhosts lists every vhost the file names, in the vhosts section or on an
// object, sorted.
func (d *definitions) vhosts() []string {
	set := map[string]bool{}
	for _, v := range d.Vhosts {
		set[v.Name] = true
	}
	for _, q := range d.Queues {
		set[q.Vhost] = true
	}
	for _, e := range d.Exchanges {
		set[e.Vhost] = true
	}
	for _, b := range d.Bindings {
		set[b.Vhost] = true
	}
	for _, p := range d.Policies {
		set[p.Vhost] = true
	}
	delete(set, "")
	out := make([]string, 0, len(set))
	for v := range set {
		out = append(out, v)
	}
	sort.Strings(out)
	return out
}

// scoped reports whether the file is a vhost-scoped export: objects without
// a vhost field.
func (d *definitions) scoped() bool {
	for _, q := range d.Queues {
		if q.Vhost != "" {
			return false
		}
	}
	for _, e := range d.Exchanges {
		if e.Vhost != "" {
			return false
		}
	}
	return len(d.Queues)+len(d.Exchanges) > 0 || len(d.Vhosts) == 0
}

// vhostSet is what a restore takes from the file: one vhost's objects.
type vhostSet struct {
	exchanges []exchangeDef
	queues    []queueDef
	bindings  []bindingDef
	policies  []policyDef
}

// builtinExchanges are the exchanges every vhost has already: the default
// exchange and the amq.* ones the server declares.
var builtinExchanges = map[string]bool{
	"": true, "amq.direct": true, "amq.fanout": true, "amq.topic": true, "amq.headers": true,
	"amq.match": true, "amq.rabbitmq.trace": true, "amq.rabbitmq.log": true,
}

// reserved reports a name clients cannot declare: "amq." is the server's.
func reserved(name string) bool { return strings.HasPrefix(name, "amq.") }

const reservedReason = "names starting with \"amq.\" are reserved for the server and cannot be declared"

// selectVhost picks the objects of vhost from (objects without a vhost
// field belong to every vhost: a vhost-scoped export). Queues and
// exchanges with reserved names are skipped, with the bindings that need
// a skipped queue; the built-in exchanges are left out silently, every
// vhost has them.
func (d *definitions) selectVhost(from string) (vhostSet, []restore.SkippedObject) {
	in := func(v string) bool { return v == "" || v == from }
	var s vhostSet
	var skipped []restore.SkippedObject
	for _, e := range d.Exchanges {
		switch {
		case !in(e.Vhost) || builtinExchanges[e.Name]:
		case reserved(e.Name):
			skipped = append(skipped, restore.SkippedObject{Kind: "exchange", Name: e.Name, Reason: reservedReason})
		default:
			s.exchanges = append(s.exchanges, e)
		}
	}
	skippedQueue := map[string]bool{}
	for _, q := range d.Queues {
		switch {
		case !in(q.Vhost):
		case reserved(q.Name):
			skippedQueue[q.Name] = true
			reason := reservedReason
			if strings.HasPrefix(q.Name, "amq.gen-") {
				reason += " (a server-named queue: its client declares a new one when it connects)"
			}
			skipped = append(skipped, restore.SkippedObject{Kind: "queue", Name: q.Name, Reason: reason})
		default:
			s.queues = append(s.queues, q)
		}
	}
	for _, b := range d.Bindings {
		// Bindings from the default exchange are implicit, one per queue.
		if !in(b.Vhost) || b.Source == "" {
			continue
		}
		if b.DestinationType == "queue" && skippedQueue[b.Destination] {
			skipped = append(skipped, restore.SkippedObject{Kind: "binding", Name: b.Source + " -> " + b.Destination,
				Reason: "its queue " + termshift.Quote(b.Destination) + " is skipped"})
			continue
		}
		s.bindings = append(s.bindings, b)
	}
	for _, p := range d.Policies {
		if in(p.Vhost) {
			s.policies = append(s.policies, p)
		}
	}
	return s, skipped
}

// bindingKey identifies a binding: its ends, routing key and arguments.
func bindingKey(source, destType, dest, routingKey string, args map[string]any) string {
	a, err := json.Marshal(args) // maps marshal with sorted keys
	if err != nil || len(args) == 0 {
		a = []byte("{}")
	}
	return strings.Join([]string{source, destType, dest, routingKey, string(a)}, "\x00")
}
