// Package rabbitmq snapshots RabbitMQ vhosts' definitions through the
// management API, in its export format: definitions.json holds what GET
// /api/definitions/{vhost} returns for each vhost, its objects tagged with
// the vhost's name in the backup (as GET /api/definitions tags them), and
// no users or permissions. Messages in queues are not part of a
// definitions export: a backup or a sync never copies them.
package rabbitmq

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/termshift/termshift"
	"github.com/termshift/termshift/backup"
	"github.com/termshift/termshift/restore"
)

// FileName is the snapshot's one file.
const FileName = "definitions.json"

// Dumper reads definitions through a management API.
type Dumper struct {
	ManagementURL string
	User          string
	Password      termshift.Secret
	// Client is the HTTP client; nil = one with a 30 s timeout.
	Client *http.Client
}

// Snapshot is the definitions of some vhosts (restore.Source with one file).
type Snapshot struct {
	d       *Dumper
	req     backup.Request
	taken   time.Time
	server  string
	content []byte
	sets    map[string]vhostSet // by server vhost
}

var _ backup.Snapshot = (*Snapshot)(nil)

// vhostSet is one vhost's objects as the export gives them.
type vhostSet struct {
	Exchanges  []map[string]any `json:"exchanges"`
	Queues     []map[string]any `json:"queues"`
	Bindings   []map[string]any `json:"bindings"`
	Policies   []map[string]any `json:"policies"`
	Parameters []map[string]any `json:"parameters"`
}

type export struct {
	RabbitVersion   string `json:"rabbit_version,omitempty"`
	RabbitMQVersion string `json:"rabbitmq_version,omitempty"`
	ProductName     string `json:"product_name,omitempty"`
	ProductVersion  string `json:"product_version,omitempty"`
	vhostSet
}

// Service implements backup.Snapshot.
func (s *Snapshot) Service() termshift.Service { return termshift.RabbitMQ }

func (s *Snapshot) String() string {
	var names []string
	for n := range s.req.Names {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.TrimSuffix(s.d.ManagementURL, "/") + " vhosts " + strings.Join(names, ",")
}

// Snapshot reads the definitions of the vhosts req.Names names (server ->
// name in the snapshot).
func (d *Dumper) Snapshot(ctx context.Context, req backup.Request) (*Snapshot, error) {
	if len(req.Names) == 0 {
		return nil, fmt.Errorf("rabbitmq snapshot: no vhost named: %w", termshift.ErrInvalid)
	}
	if d.ManagementURL == "" {
		return nil, fmt.Errorf("rabbitmq snapshot: no management URL: %w", termshift.ErrInvalid)
	}
	seen := map[string]string{}
	for server, name := range req.Names {
		for _, n := range []string{server, name} {
			if err := termshift.ValidateVhost(n); err != nil {
				return nil, fmt.Errorf("rabbitmq snapshot: %w", err)
			}
		}
		if other, dup := seen[name]; dup {
			return nil, fmt.Errorf("rabbitmq snapshot: vhosts %s and %s would both be %s in the backup: %w", termshift.Quote(other), termshift.Quote(server), termshift.Quote(name), termshift.ErrInvalid)
		}
		seen[name] = server
	}
	s := &Snapshot{d: d, req: req, sets: map[string]vhostSet{}}
	if err := s.read(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

func (d *Dumper) get(ctx context.Context, path string, into any) error {
	client := d.Client
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second}
	}
	u := strings.TrimSuffix(d.ManagementURL, "/") + path
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return fmt.Errorf("rabbitmq management URL: %w: %w", err, termshift.ErrInvalid)
	}
	req.SetBasicAuth(d.User, d.Password.Reveal())
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("rabbitmq GET %s: %w", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return fmt.Errorf("rabbitmq GET %s: %w", path, err)
	}
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNotFound:
		return fmt.Errorf("rabbitmq GET %s: not found: %w", path, termshift.ErrNotFound)
	case http.StatusBadRequest:
		if bytes.Contains(body, []byte("vhost_not_found")) {
			return fmt.Errorf("rabbitmq GET %s: no such vhost: %w", path, termshift.ErrNotFound)
		}
		return fmt.Errorf("rabbitmq GET %s: %s: %s", path, resp.Status, bytes.TrimSpace(body[:min(len(body), 200)]))
	case http.StatusUnauthorized, http.StatusForbidden:
		return fmt.Errorf("rabbitmq GET %s: %s (management user %s): %w", path, resp.Status, termshift.Quote(d.User), termshift.ErrAccessDenied)
	default:
		return fmt.Errorf("rabbitmq GET %s: %s: %s", path, resp.Status, bytes.TrimSpace(body[:min(len(body), 200)]))
	}
	if err := json.Unmarshal(body, into); err != nil {
		return fmt.Errorf("rabbitmq GET %s: %w", path, err)
	}
	return nil
}

func (s *Snapshot) read(ctx context.Context) error {
	var servers []string
	for n := range s.req.Names {
		servers = append(servers, n)
	}
	sort.Strings(servers)
	out := map[string]any{}
	var vhosts []map[string]any
	all := vhostSet{}
	for _, server := range servers {
		var e export
		if err := s.d.get(ctx, "/api/definitions/"+url.PathEscape(server), &e); err != nil {
			return fmt.Errorf("rabbitmq snapshot of vhost %s: %w", termshift.Quote(server), err)
		}
		s.sets[server] = e.vhostSet
		name := s.req.Names[server]
		if s.server == "" {
			s.server = e.RabbitMQVersion
			if s.server == "" {
				s.server = e.RabbitVersion
			}
			out["rabbit_version"], out["rabbitmq_version"] = e.RabbitVersion, e.RabbitMQVersion
			out["product_name"], out["product_version"] = e.ProductName, e.ProductVersion
		}
		vhosts = append(vhosts, map[string]any{"name": name})
		tag := func(list []map[string]any) []map[string]any {
			for _, o := range list {
				o["vhost"] = name
			}
			return list
		}
		all.Exchanges = append(all.Exchanges, tag(e.Exchanges)...)
		all.Queues = append(all.Queues, tag(e.Queues)...)
		all.Bindings = append(all.Bindings, tag(e.Bindings)...)
		all.Policies = append(all.Policies, tag(e.Policies)...)
		all.Parameters = append(all.Parameters, tag(e.Parameters)...)
	}
	out["vhosts"] = vhosts
	for k, v := range map[string][]map[string]any{"exchanges": all.Exchanges, "queues": all.Queues, "bindings": all.Bindings, "policies": all.Policies, "parameters": all.Parameters} {
		if v == nil {
			v = []map[string]any{}
		}
		out[k] = v
	}
	data, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return fmt.Errorf("encode definitions: %w", err)
	}
	s.content = append(data, '\n')
	s.taken = time.Now()
	return nil
}

// List implements restore.Source.
func (s *Snapshot) List(_ context.Context, dir string) ([]restore.FileInfo, error) {
	if d := strings.Trim(dir, "/"); d != "" && d != "." && d != FileName {
		return nil, nil
	}
	return []restore.FileInfo{{Name: FileName, Size: int64(len(s.content)), ModTime: s.taken}}, nil
}

// Open implements restore.Source.
func (s *Snapshot) Open(_ context.Context, name string) (io.ReadCloser, error) {
	if name != FileName {
		return nil, fmt.Errorf("open %s in %s: %w", name, s, termshift.ErrNotFound)
	}
	return io.NopCloser(bytes.NewReader(s.content)), nil
}

// reserved names are the server's: restore skips them, so they are not
// counted.
func reserved(name string) bool { return strings.HasPrefix(name, "amq.") }

func str(o map[string]any, k string) string {
	v, _ := o[k].(string)
	return v
}

// counts are the objects restore/rabbitmq declares from a vhost's set.
func (v vhostSet) counts() map[string]int64 {
	out := map[string]int64{"exchanges": 0, "queues": 0, "bindings": 0, "policies": int64(len(v.Policies))}
	skippedQueue := map[string]bool{}
	for _, e := range v.Exchanges {
		if n := str(e, "name"); n != "" && !reserved(n) {
			out["exchanges"]++
		}
	}
	for _, q := range v.Queues {
		if reserved(str(q, "name")) {
			skippedQueue[str(q, "name")] = true
			continue
		}
		out["queues"]++
	}
	for _, b := range v.Bindings {
		if str(b, "source") == "" || (str(b, "destination_type") == "queue" && skippedQueue[str(b, "destination")]) {
			continue
		}
		out["bindings"]++
	}
	return out
}

// Info implements backup.Snapshot.
func (s *Snapshot) Info(context.Context) (backup.Info, error) {
	info := backup.Info{Service: termshift.RabbitMQ, Server: s.server, Taken: s.taken,
		Consistency: "definitions only (exchanges, queues, bindings, policies, parameters): messages in queues are not copied"}
	var servers []string
	for n := range s.sets {
		servers = append(servers, n)
	}
	sort.Strings(servers)
	for _, server := range servers {
		c := s.sets[server].counts()
		for _, kind := range []string{"bindings", "exchanges", "policies", "queues"} {
			info.Objects = append(info.Objects, restore.ManifestObject{Service: string(termshift.RabbitMQ), Database: s.req.Names[server], Name: kind, Count: c[kind]})
		}
	}
	return info, nil
}

// Changes implements backup.Snapshot: the vhosts' definitions read again
// and compared kind by kind.
func (s *Snapshot) Changes(ctx context.Context) ([]string, error) {
	var out []string
	for server, was := range s.sets {
		var e export
		if err := s.d.get(ctx, "/api/definitions/"+url.PathEscape(server), &e); err != nil {
			return nil, err
		}
		for _, kind := range []struct {
			name     string
			was, now []map[string]any
		}{{"exchanges", was.Exchanges, e.Exchanges}, {"queues", was.Queues, e.Queues}, {"bindings", was.Bindings, e.Bindings}, {"policies", was.Policies, e.Policies}, {"parameters", was.Parameters, e.Parameters}} {
			if !sameSet(kind.was, kind.now) {
				out = append(out, fmt.Sprintf("vhost %s: its %s changed (%d in the snapshot, %d now)", server, kind.name, len(kind.was), len(kind.now)))
			}
		}
	}
	sort.Strings(out)
	return out, nil
}

// sameSet compares two lists of objects as sets, ignoring the vhost tag.
func sameSet(a, b []map[string]any) bool {
	key := func(list []map[string]any) []string {
		var out []string
		for _, o := range list {
			c := map[string]any{}
			for k, v := range o {
				if k != "vhost" {
					c[k] = v
				}
			}
			j, _ := json.Marshal(c)
			out = append(out, string(j))
		}
		sort.Strings(out)
		return out
	}
	ka, kb := key(a), key(b)
	if len(ka) != len(kb) {
		return false
	}
	for i := range ka {
		if ka[i] != kb[i] {
			return false
		}
	}
	return true
}

// Close implements backup.Snapshot.
func (s *Snapshot) Close() error { return nil }
