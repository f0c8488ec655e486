// Package rabbitmq restores a RabbitMQ definitions export (GET
// /api/definitions or rabbitmqctl export_definitions) into a release's
// vhost: exchanges, queues, bindings and policies of one source vhost are
// recreated in the target vhost through the management API. Users,
// permissions, topic permissions, runtime and global parameters are never
// imported: the release's own credentials prevail, and parameters (shovels,
// federation upstreams) name production hosts.
package rabbitmq

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	rabbithole "github.com/michaelklishin/rabbit-hole/v2"

	"github.com/termshift/termshift"
	"github.com/termshift/termshift/restore"
)

// Loader restores definitions through a RabbitMQ management API.
type Loader struct {
	ManagementURL string // http://host:15672
	User          string
	Password      termshift.Secret
}

// maxDefinitionsBytes bounds what is read into memory: definitions of even
// large clusters are a few megabytes.
const maxDefinitionsBytes = 256 << 20

// The kinds of objects a restore reports, in the order it creates them.
const (
	kindExchanges = "exchanges"
	kindQueues    = "queues"
	kindBindings  = "bindings"
	kindPolicies  = "policies"
)

// Load recreates the exchanges, queues, bindings and policies of vhost
// req.From of the definitions file at path in src (plain or gzip) in vhost
// req.To, which must exist (carved by tenancy). req.From may be empty when
// the file holds one vhost. Names starting with "amq." are the server's
// own and cannot be declared: such queues (server-named amq.gen-...) and
// their bindings are skipped and listed in Report.Skipped.
//
// A target vhost that already holds queues, exchanges or policies is
// refused unless DropExisting (which deletes them first) or Resume (which
// declares again what exists: declaring is idempotent, and policies are
// replaced). The report's Loaded counts are read back from the management
// API. On failure part way it returns the report so far and a
// *termshift.PartialError.
func (l *Loader) Load(ctx context.Context, src restore.Source, path string, req restore.Request) (*restore.Report, error) {
	started := time.Now()
	logger := req.Log()
	file := joinName(src, path)
	if l.ManagementURL == "" {
		return nil, fmt.Errorf("restore %s: no RabbitMQ management URL: %w", file, termshift.ErrInvalid)
	}
	if req.To == "" {
		return nil, fmt.Errorf("restore %s: no target vhost: %w", file, termshift.ErrInvalid)
	}
	completeness := restore.Completeness{}
	if req.Manifest != nil {
		c, err := req.Manifest.Verify(ctx, src, path, nil, 1)
		if err != nil {
			return nil, fmt.Errorf("restore %s: %w", file, err)
		}
		completeness = c
	}
	data, err := readFile(ctx, src, path, file)
	if err != nil {
		return nil, err
	}
	defs, err := parseDefinitions(file, data)
	if err != nil {
		return nil, err
	}
	if !completeness.Proven {
		completeness = restore.Proven(fmt.Sprintf("%s parses whole as one JSON document (%d bytes)", path, len(data)))
	}
	from, err := chooseVhost(defs, req.From, file)
	if err != nil {
		return nil, err
	}
	set, skipped := defs.selectVhost(from)

	r := &restorer{
		ctx:      ctx,
		to:       req.To,
		progress: req.Progress,
		logger:   logger.With("vhost", req.To),
	}
	if r.client, err = l.client(ctx); err != nil {
		return nil, err
	}
	if err := r.requireVhost(); err != nil {
		return nil, err
	}
	if err := r.requireEmpty(req.DropExisting, req.Resume); err != nil {
		return nil, err
	}

	rep := &restore.Report{
		Service:      string(termshift.RabbitMQ),
		Source:       file,
		Format:       "definitions",
		From:         from,
		To:           req.To,
		Started:      started,
		Completeness: completeness,
		Skipped:      skipped,
	}
	rep.Warnings = ignoredWarnings(defs, file)
	for _, sk := range skipped {
		rep.Warnings = append(rep.Warnings, fmt.Sprintf("%s %s skipped: %s", sk.Kind, termshift.Quote(sk.Name), sk.Reason))
	}
	for _, w := range rep.Warnings {
		logger.Warn(w)
	}
	if err := r.apply(rep, set, file); err != nil {
		return rep, err
	}
	loaded, err := r.countBack(set)
	if err != nil {
		rep.Seconds = time.Since(started).Seconds()
		return rep, fmt.Errorf("restore %s into vhost %s: count back: %w", file, termshift.Quote(req.To), err)
	}
	for i := range rep.Objects {
		o := &rep.Objects[i]
		o.Loaded = loaded[o.Name]
		r.progress.Send(restore.Event{Object: o.Name, Unit: restore.UnitObjects, Count: o.Loaded, Total: o.Expected, Done: true})
	}
	if req.Manifest != nil {
		rep.ExpectCounts(restore.ManifestName, req.Manifest.Counts(termshift.RabbitMQ, from))
	}
	rep.Seconds = time.Since(started).Seconds()
	return rep, nil
}

// apply declares the set's objects kind by kind, adding each kind to the
// report once it is done.
func (r *restorer) apply(rep *restore.Report, set vhostSet, file string) error {
	steps := []struct {
		kind     string
		expected int
		apply    func() error
	}{
		{kindExchanges, len(set.exchanges), func() error { return r.exchanges(set.exchanges) }},
		{kindQueues, len(set.queues), func() error { return r.queues(set.queues) }},
		{kindBindings, len(set.bindings), func() error { return r.bindings(set.bindings) }},
		{kindPolicies, len(set.policies), func() error { return r.policies(set.policies) }},
	}
	var done []string
	for _, st := range steps {
		t0 := time.Now()
		r.total = int64(st.expected)
		if err := st.apply(); err != nil {
			rep.Seconds = time.Since(rep.Started).Seconds()
			return &termshift.PartialError{
				Op:     fmt.Sprintf("restore %s into vhost %s", file, termshift.Quote(r.to)),
				Done:   done,
				Failed: []string{st.kind},
				Err:    err,
			}
		}
		rep.Objects = append(rep.Objects, restore.ObjectReport{
			Name:     st.kind,
			Expected: int64(st.expected),
			Seconds:  time.Since(t0).Seconds(),
		})
		done = append(done, st.kind)
		r.logger.Info("restored definitions", "kind", st.kind, "count", st.expected)
	}
	return nil
}

func joinName(src restore.Source, p string) string {
	return strings.TrimSuffix(src.String(), "/") + "/" + strings.TrimPrefix(path.Clean("/"+p), "/")
}

// readFile reads a definitions file whole, gunzipping it when it starts
// with gzip's magic (definitions.json.gz).
func readFile(ctx context.Context, src restore.Source, p, file string) ([]byte, error) {
	rc, err := src.Open(ctx, p)
	if err != nil {
		return nil, fmt.Errorf("read definitions: %w", err)
	}
	defer rc.Close()
	br := bufio.NewReader(rc)
	var rd io.Reader = br
	gzipped := false
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("read definitions %s: gzip header: %v: %w", file, err, termshift.ErrInvalid)
		}
		defer zr.Close()
		rd, gzipped = zr, true
	}
	data, err := io.ReadAll(io.LimitReader(rd, maxDefinitionsBytes+1))
	if err != nil && gzipped {
		return nil, fmt.Errorf("read definitions %s: the gzip stream is cut or corrupt after %d bytes: %v: %w", file, len(data), err, termshift.ErrInvalid)
	}
	if err != nil {
		return nil, fmt.Errorf("read definitions %s: %w", file, err)
	}
	if len(data) > maxDefinitionsBytes {
		return nil, fmt.Errorf("read definitions %s: larger than %d MiB, not a definitions export: %w", file, maxDefinitionsBytes>>20, termshift.ErrInvalid)
	}
	return data, nil
}

func chooseVhost(defs *definitions, from, file string) (string, error) {
	vhosts := defs.vhosts()
	quoted := make([]string, len(vhosts))
	for i, v := range vhosts {
		quoted[i] = termshift.Quote(v)
	}
	has := "none"
	if len(quoted) > 0 {
		has = strings.Join(quoted, ", ")
	}
	if from == "" {
		switch {
		case len(vhosts) == 1:
			return vhosts[0], nil
		case len(vhosts) == 0 && defs.scoped():
			return "", nil
		}
		return "", fmt.Errorf("%s holds several vhosts (%s): say which one to restore: %w", file, has, termshift.ErrInvalid)
	}
	for _, v := range vhosts {
		if v == from {
			return from, nil
		}
	}
	if len(vhosts) == 0 && defs.scoped() {
		// A vhost-scoped export does not name its vhost: trust the caller.
		return from, nil
	}
	return "", fmt.Errorf("vhost %s is not in %s (it has: %s): %w", termshift.Quote(from), file, has, termshift.ErrNotFound)
}

func ignoredWarnings(defs *definitions, file string) []string {
	var ws []string
	add := func(n int, what, why string) {
		if n > 0 {
			ws = append(ws, fmt.Sprintf("ignored %d %s from %s: %s", n, what, file, why))
		}
	}
	creds := "the release's own credentials prevail"
	add(len(defs.Users), "users", creds)
	add(len(defs.Permissions), "permissions", creds)
	add(len(defs.TopicPermissions), "topic permissions", creds)
	add(len(defs.GlobalParameters), "global parameters", "they are cluster-wide, not the release's")
	add(len(defs.Parameters), "runtime parameters", "shovels and federation upstreams name production hosts")
	return ws
}

// client returns a management API client whose requests carry ctx:
// rabbit-hole takes no context, so the transport adds it.
func (l *Loader) client(ctx context.Context) (*rabbithole.Client, error) {
	c, err := rabbithole.NewClient(strings.TrimSuffix(l.ManagementURL, "/"), l.User, l.Password.Reveal())
	if err != nil {
		return nil, fmt.Errorf("rabbitmq management URL: %w: %w", err, termshift.ErrInvalid)
	}
	c.SetTransport(ctxTransport{ctx: ctx, base: http.DefaultTransport})
	return c, nil
}

type ctxTransport struct {
	ctx  context.Context
	base http.RoundTripper
}

func (t ctxTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	return t.base.RoundTrip(req.WithContext(t.ctx))
}

type restorer struct {
	ctx      context.Context
	client   *rabbithole.Client
	to       string
	progress restore.Progress
	total    int64 // objects of the kind being declared
	logger   *slog.Logger
}

func isStatus(err error, code int) bool {
	var er rabbithole.ErrorResponse
	if errors.As(err, &er) {
		return er.StatusCode == code
	}
	var erp *rabbithole.ErrorResponse
	return errors.As(err, &erp) && erp.StatusCode == code
}

// withHint adds what to do about a refusal by the management API.
func withHint(err error) error {
	if isStatus(err, http.StatusUnauthorized) || isStatus(err, http.StatusForbidden) || strings.Contains(err.Error(), "401 Unauthorized") {
		return termshift.WithHint(err, "the management user needs configure, write and read permissions on the target vhost")
	}
	return err
}

func (r *restorer) requireVhost() error {
	_, err := r.client.GetVhost(r.to)
	if isStatus(err, http.StatusNotFound) {
		return fmt.Errorf("target vhost %s does not exist on %s: carve it first: %w", termshift.Quote(r.to), r.client.Endpoint, termshift.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("look up vhost %s on %s: %w", termshift.Quote(r.to), r.client.Endpoint, err)
	}
	return nil
}

// closed closes the body of a management API response and passes err on.
func closed(res *http.Response, err error) error {
	if res != nil && res.Body != nil {
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
	}
	return err
}

func (r *restorer) event(kind string, n int) {
	r.progress.Send(restore.Event{Object: kind, Unit: restore.UnitObjects, Count: int64(n), Total: r.total})
}

func (r *restorer) exchanges(list []exchangeDef) error {
	for i, e := range list {
		var err error
		if e.Internal {
			err = r.declareInternalExchange(e)
		} else {
			err = closed(r.client.DeclareExchange(r.to, e.Name, rabbithole.ExchangeSettings{
				Type:       e.Type,
				Durable:    e.Durable,
				AutoDelete: autoDeleteOf(e.AutoDelete),
				Arguments:  e.Arguments,
			}))
		}
		if err != nil {
			return withHint(fmt.Errorf("declare exchange %s (%s) in vhost %s: %w", termshift.Quote(e.Name), e.Type, termshift.Quote(r.to), err))
		}
		r.event(kindExchanges, i+1)
	}
	return nil
}

// declareInternalExchange declares an internal exchange, which rabbit-hole's
// ExchangeSettings cannot express.
func (r *restorer) declareInternalExchange(e exchangeDef) error {
	body, err := json.Marshal(map[string]any{
		"type":        e.Type,
		"durable":     e.Durable,
		"auto_delete": autoDeleteOf(e.AutoDelete),
		"internal":    true,
		"arguments":   nonNil(e.Arguments),
	})
	if err != nil {
		return err
	}
	u := r.client.Endpoint + "/api/exchanges/" + url.PathEscape(r.to) + "/" + url.PathEscape(e.Name)
	req, err := http.NewRequestWithContext(r.ctx, http.MethodPut, u, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.SetBasicAuth(r.client.Username, r.client.Password)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer closed(res, nil)
	if res.StatusCode >= 300 {
		msg, _ := io.ReadAll(io.LimitReader(res.Body, 1024))
		return fmt.Errorf("management API answered %s: %s", res.Status, bytes.TrimSpace(msg))
	}
	return nil
}

// autoDeleteOf returns a value parseDefinitions has checked already.
func autoDeleteOf(a autoDelete) bool {
	v, _ := a.value()
	return v
}

func nonNil(m map[string]any) map[string]any {
	if m == nil {
		return map[string]any{}
	}
	return m
}

func (r *restorer) queues(list []queueDef) error {
	for i, q := range list {
		args := map[string]any{}
		for k, v := range q.Arguments {
			args[k] = v
		}
		settings := rabbithole.QueueSettings{Durable: q.Durable, AutoDelete: autoDeleteOf(q.AutoDelete), Arguments: args}
		// Only an explicit queue type is passed on: rabbit-hole turns Type
		// into x-queue-type, and a classic queue declared without one must
		// stay equivalent to one declared with none.
		if _, ok := args["x-queue-type"]; !ok && q.Type != "" && q.Type != "classic" {
			settings.Type = q.Type
		}
		if err := closed(r.client.DeclareQueue(r.to, q.Name, settings)); err != nil {
			hint := ""
			if isStatus(err, http.StatusBadRequest) {
				hint = " (a queue of that name with other properties may exist already: delete it or restore into a fresh vhost)"
			}
			return withHint(fmt.Errorf("declare queue %s in vhost %s: %w%s", termshift.Quote(q.Name), termshift.Quote(r.to), err, hint))
		}
		r.event(kindQueues, i+1)
	}
	return nil
}

func (r *restorer) bindings(list []bindingDef) error {
	for i, b := range list {
		err := closed(r.client.DeclareBinding(r.to, rabbithole.BindingInfo{
			Source:          b.Source,
			Destination:     b.Destination,
			DestinationType: b.DestinationType,
			RoutingKey:      b.RoutingKey,
			Arguments:       nonNil(b.Arguments),
		}))
		if err != nil {
			return withHint(fmt.Errorf("bind %s %s to exchange %s (routing key %s) in vhost %s: %w",
				b.DestinationType, termshift.Quote(b.Destination), termshift.Quote(b.Source), termshift.Quote(b.RoutingKey), termshift.Quote(r.to), err))
		}
		r.event(kindBindings, i+1)
	}
	return nil
}

func (r *restorer) policies(list []policyDef) error {
	for i, p := range list {
		applyTo := p.ApplyTo
		if applyTo == "" {
			applyTo = "all"
		}
		err := closed(r.client.PutPolicy(r.to, p.Name, rabbithole.Policy{
			Vhost:      r.to,
			Name:       p.Name,
			Pattern:    p.Pattern,
			ApplyTo:    applyTo,
			Priority:   p.Priority,
			Definition: rabbithole.PolicyDefinition(p.Definition),
		}))
		if err != nil {
			return withHint(fmt.Errorf("set policy %s in vhost %s: %w", termshift.Quote(p.Name), termshift.Quote(r.to), err))
		}
		r.event(kindPolicies, i+1)
	}
	return nil
}

// countBack counts, per kind, the objects of set that the target vhost now
// holds with the same identity: name and type for exchanges, name for
// queues and policies, ends, routing key and arguments for bindings.
func (r *restorer) countBack(set vhostSet) (map[string]int64, error) {
	out := map[string]int64{}

	exchanges, err := r.client.ListExchangesIn(r.to)
	if err != nil {
		return nil, fmt.Errorf("list exchanges: %w", err)
	}
	haveEx := map[string]string{}
	for _, e := range exchanges {
		haveEx[e.Name] = e.Type
	}
	for _, e := range set.exchanges {
		if t, ok := haveEx[e.Name]; ok && t == e.Type {
			out[kindExchanges]++
		}
	}

	queues, err := r.client.ListQueuesIn(r.to)
	if err != nil {
		return nil, fmt.Errorf("list queues: %w", err)
	}
	haveQ := map[string]bool{}
	for _, q := range queues {
		haveQ[q.Name] = q.Durable
	}
	for _, q := range set.queues {
		if durable, ok := haveQ[q.Name]; ok && durable == q.Durable {
			out[kindQueues]++
		}
	}

	bindings, err := r.client.ListBindingsIn(r.to)
	if err != nil {
		return nil, fmt.Errorf("list bindings: %w", err)
	}
	haveB := map[string]bool{}
	for _, b := range bindings {
		haveB[bindingKey(b.Source, b.DestinationType, b.Destination, b.RoutingKey, b.Arguments)] = true
	}
	for _, b := range set.bindings {
		if haveB[bindingKey(b.Source, b.DestinationType, b.Destination, b.RoutingKey, b.Arguments)] {
			out[kindBindings]++
		}
	}

	policies, err := r.client.ListPoliciesIn(r.to)
	if err != nil {
		return nil, fmt.Errorf("list policies: %w", err)
	}
	haveP := map[string]string{}
	for _, p := range policies {
		haveP[p.Name] = p.Pattern
	}
	for _, p := range set.policies {
		if pattern, ok := haveP[p.Name]; ok && pattern == p.Pattern {
			out[kindPolicies]++
		}
	}
	return out, nil
}

// requireEmpty refuses a target vhost that holds queues, exchanges of its
// own or policies, unless resume (declare again what exists) or drop
// (delete them first).
func (r *restorer) requireEmpty(drop, resume bool) error {
	queues, err := r.client.ListQueuesIn(r.to)
	if err != nil {
		return withHint(fmt.Errorf("list queues of vhost %s: %w", termshift.Quote(r.to), err))
	}
	exchanges, err := r.client.ListExchangesIn(r.to)
	if err != nil {
		return withHint(fmt.Errorf("list exchanges of vhost %s: %w", termshift.Quote(r.to), err))
	}
	policies, err := r.client.ListPoliciesIn(r.to)
	if err != nil {
		return withHint(fmt.Errorf("list policies of vhost %s: %w", termshift.Quote(r.to), err))
	}
	var own []rabbithole.ExchangeInfo
	for _, e := range exchanges {
		if !builtinExchanges[e.Name] {
			own = append(own, e)
		}
	}
	if len(queues)+len(own)+len(policies) == 0 || resume {
		return nil
	}
	if !drop {
		return termshift.WithHint(fmt.Errorf("target vhost %s already holds %d queues, %d exchanges and %d policies: %w",
			termshift.Quote(r.to), len(queues), len(own), len(policies), termshift.ErrRefused),
			"restore into a freshly carved vhost, or pass DropExisting (--drop-existing) to replace what it holds")
	}
	for _, p := range policies {
		if err := closed(r.client.DeletePolicy(r.to, p.Name)); err != nil {
			return withHint(fmt.Errorf("delete policy %s of vhost %s: %w", termshift.Quote(p.Name), termshift.Quote(r.to), err))
		}
	}
	for _, q := range queues {
		if err := closed(r.client.DeleteQueue(r.to, q.Name)); err != nil && !isStatus(err, http.StatusNotFound) {
			return withHint(fmt.Errorf("delete queue %s of vhost %s: %w", termshift.Quote(q.Name), termshift.Quote(r.to), err))
		}
	}
	for _, e := range own {
		if err := closed(r.client.DeleteExchange(r.to, e.Name)); err != nil && !isStatus(err, http.StatusNotFound) {
			return withHint(fmt.Errorf("delete exchange %s of vhost %s: %w", termshift.Quote(e.Name), termshift.Quote(r.to), err))
		}
	}
	r.logger.Info("emptied the target vhost", "queues", len(queues), "exchanges", len(own), "policies", len(policies))
	return nil
}
