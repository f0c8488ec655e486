package envfile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"github.com/termshift/termshift"
)

// Problem is one thing wrong with an environment file, at a line.
type Problem struct {
	File  string
	Line  int
	Field string
	Msg   string
}

func (p Problem) String() string {
	loc := p.File
	if p.Line > 0 {
		loc += ":" + strconv.Itoa(p.Line)
	}
	if p.Field == "" {
		return loc + ": " + p.Msg
	}
	return loc + ": " + p.Field + ": " + p.Msg
}

// ValidationError lists every problem of an environment file at once.
type ValidationError struct {
	Problems []Problem
}

func (e *ValidationError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return fmt.Sprintf("%d problem(s) in the environment file:\n%s", len(e.Problems), strings.Join(lines, "\n"))
}

// Is makes a ValidationError match termshift.ErrInvalid.
func (e *ValidationError) Is(target error) bool { return target == termshift.ErrInvalid }

// Bounds on what an environment file may hold: real ones are a few
// kilobytes, and a value is printed back in messages.
const (
	MaxFileBytes  = 1 << 20 // the whole file
	MaxValueBytes = 4096    // one scalar value after ${VAR} expansion
	maxShown      = 60      // characters of a value quoted in a message
)

// LoadEnvironment reads, expands and validates an environment file. Every
// problem is reported at once as FILE:LINE: field: problem. lookup resolves
// ${VAR} references (os.LookupEnv in the CLI).
func LoadEnvironment(path string, lookup func(string) (string, bool)) (*Environment, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read environment file: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read environment file %s: %w", path, err)
	}
	return ParseEnvironment(path, data, lookup)
}

// short quotes a value for a message, cut to a readable length.
func short(v string) string {
	if len(v) <= maxShown {
		return strconv.Quote(v)
	}
	cut := v[:maxShown]
	for !utf8.ValidString(cut) && len(cut) > 0 {
		cut = cut[:len(cut)-1]
	}
	return strconv.Quote(cut) + fmt.Sprintf("... (%d bytes)", len(v))
}

var (
	varRE        = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)
	yamlLineRE   = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)
	unknownRE    = regexp.MustCompile(`^field (\S+) not found in type \S+$`)
	unmarshalRE  = regexp.MustCompile("^cannot unmarshal !!(\\w+) `(.*)` into (\\S+)$")
	hostPortRE   = regexp.MustCompile(`^[A-Za-z0-9.\-\[\]:]+:[0-9]{1,5}$`)
	templateName = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)
)

// ParseEnvironment is LoadEnvironment on bytes already read.
func ParseEnvironment(path string, data []byte, lookup func(string) (string, bool)) (*Environment, error) {
	file := filepath.Base(path)
	v := &validator{file: file, data: data}
	if len(data) > MaxFileBytes {
		v.add(0, "", "the file is larger than %d bytes: an environment file is a few kilobytes; is this the right file?", MaxFileBytes)
		return nil, &ValidationError{Problems: v.problems}
	}

	// Pass 1: structure and types, with the decoder's line numbers.
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var probe Environment
	if err := dec.Decode(&probe); err != nil && !errors.Is(err, io.EOF) {
		var te *yaml.TypeError
		if errors.As(err, &te) {
			for _, msg := range te.Errors {
				v.yamlError(msg)
			}
		} else {
			v.yamlError(err.Error())
			return nil, &ValidationError{Problems: v.problems}
		}
	}

	// Pass 2: the node tree for ${VAR} expansion and field lines.
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		v.yamlError(err.Error())
		return nil, &ValidationError{Problems: v.problems}
	}
	if len(root.Content) == 0 {
		v.add(0, "", "the file is empty")
		return nil, &ValidationError{Problems: v.problems}
	}
	v.root = root.Content[0]
	// A key given twice was reported by pass 1; the first one counts, so
	// that one mistake gives one message and not false "required" ones.
	dropDuplicateKeys(v.root)
	nullActions(v.root)
	v.expand(v.root, nil, lookup)
	env := &Environment{}
	_ = v.root.Decode(env) // type errors were reported by pass 1
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("resolve environment file path: %w", err)
	}
	env.Path, env.Dir = abs, filepath.Dir(abs)
	v.validate(env)
	sort.SliceStable(v.problems, func(i, j int) bool { return v.problems[i].Line < v.problems[j].Line })
	if len(v.problems) > 0 {
		return nil, &ValidationError{Problems: v.problems}
	}
	applyDefaults(env)
	return env, nil
}

func applyDefaults(env *Environment) {
	if env.Naming == "" {
		env.Naming = termshift.DefaultNamingPattern
	}
	if env.StateDir == "" {
		env.StateDir = ".termshift"
	}
	if !filepath.IsAbs(env.StateDir) {
		env.StateDir = filepath.Join(env.Dir, env.StateDir)
	}
	applyStateDefaults(&env.State)
	if s := env.Servers.MySQL; s != nil && s.UserHost == "" {
		s.UserHost = "%"
	}
	if s := env.Servers.Memcached; s != nil && s.Provider == "" {
		s.Provider = "pool"
	}
	if env.Router.Provider == "" {
		env.Router.Provider = "local"
	}
	if env.Router.Retention.Duration == 0 {
		env.Router.Retention.Duration = 72 * time.Hour
	}
	if env.Router.Maintain.RetryAfter.Duration == 0 {
		env.Router.Maintain.RetryAfter.Duration = 30 * time.Second
	}
	if env.Verify.HealthPath == "" {
		env.Verify.HealthPath = "/heartbeat"
	}
	if env.Verify.Timeout.Duration == 0 {
		env.Verify.Timeout.Duration = 20 * time.Second
	}
	for i := range env.Releases {
		if env.Releases[i].Runner == "" {
			env.Releases[i].Runner = "local"
		}
	}
	applyKubernetesDefaults(env)
	for i := range env.Verify.Smoke {
		if env.Verify.Smoke[i].Method == "" {
			env.Verify.Smoke[i].Method = "GET"
		}
		if env.Verify.Smoke[i].Status == 0 {
			env.Verify.Smoke[i].Status = 200
		}
	}
}

type validator struct {
	file     string
	data     []byte
	root     *yaml.Node
	problems []Problem
	// reported fields had their value's problem reported (too long, an
	// unset ${VAR}); nothing more is said of them: one cause, one message.
	reported map[string]bool
}

// dropDuplicateKeys keeps the first of each key of every mapping.
func dropDuplicateKeys(n *yaml.Node) {
	if n.Kind == yaml.MappingNode {
		seen := map[string]bool{}
		kept := n.Content[:0]
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if k.Kind == yaml.ScalarNode && seen[k.Value] {
				continue
			}
			seen[k.Value] = true
			kept = append(kept, n.Content[i], n.Content[i+1])
		}
		n.Content = kept
	}
	for _, c := range n.Content {
		dropDuplicateKeys(c)
	}
}

// tabIndented finds the line near line n (the parser reports where it
// noticed, which may be the line before) whose indentation holds a tab.
func (v *validator) tabIndented(n int) int {
	for l := max(n-1, 1); l <= n+2; l++ {
		if strings.HasPrefix(strings.TrimLeft(v.lineText(l), " "), "\t") {
			return l
		}
	}
	return 0
}

// nullActions reads `action: null` in a scrub rule as the null action:
// YAML would otherwise read it as no value at all.
func nullActions(root *yaml.Node) {
	scrub := mapValue(root, "scrub")
	rules := mapValue(scrub, "rules")
	if rules == nil || rules.Kind != yaml.SequenceNode {
		return
	}
	for _, r := range rules.Content {
		if a := mapValue(r, "action"); a != nil && a.Kind == yaml.ScalarNode && a.Tag == "!!null" {
			a.Tag, a.Value = "!!str", "null"
		}
	}
}

// mapValue is the value of key in a mapping node, nil when absent.
func mapValue(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// lineText is line n (1-based) of the file.
func (v *validator) lineText(n int) string {
	lines := bytes.Split(v.data, []byte("\n"))
	if n < 1 || n > len(lines) {
		return ""
	}
	return string(lines[n-1])
}

func (v *validator) add(line int, field, format string, args ...any) {
	v.problems = append(v.problems, Problem{File: v.file, Line: line, Field: field, Msg: fmt.Sprintf(format, args...)})
}

// yamlError turns a yaml.v3 message into a Problem without Go type names.
func (v *validator) yamlError(msg string) {
	line := 0
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = m[2]
	}
	tabLine := v.tabIndented(line)
	switch {
	case tabLine > 0 && (strings.Contains(msg, "tab character") || strings.Contains(msg, "cannot start any token")):
		v.add(tabLine, "", "a tab character in the indentation: YAML indents with spaces only (replace the tab with spaces)")
	case unknownRE.MatchString(msg):
		v.add(line, unknownRE.FindStringSubmatch(msg)[1], "unknown field (check its spelling and indentation)")
	case unmarshalRE.MatchString(msg):
		m := unmarshalRE.FindStringSubmatch(msg)
		v.add(line, "", "cannot use %s %s here: want %s", m[1], short(m[2]), friendlyType(m[3]))
	default:
		v.add(line, "", "%s", strings.TrimPrefix(msg, "yaml: "))
	}
}

func friendlyType(goType string) string {
	switch {
	case strings.HasPrefix(goType, "[]"):
		return "a list"
	case strings.HasPrefix(goType, "map["):
		return "a mapping"
	case strings.HasPrefix(goType, "int"):
		return "a whole number"
	case goType == "bool":
		return "true or false"
	case goType == "string":
		return "a string"
	case goType == "envfile.Duration":
		return "a duration such as 30s or 72h"
	}
	return "a mapping"
}

// expand replaces ${VAR} in every scalar, reporting unset variables.
func (v *validator) expand(n *yaml.Node, path []string, lookup func(string) (string, bool)) {
	switch n.Kind {
	case yaml.ScalarNode:
		if !strings.Contains(n.Value, "${") {
			if len(n.Value) > MaxValueBytes {
				v.tooLong(n, path)
			}
			return
		}
		n.Value = varRE.ReplaceAllStringFunc(n.Value, func(ref string) string {
			name := varRE.FindStringSubmatch(ref)[1]
			val, ok := lookup(name)
			if !ok {
				v.add(n.Line, strings.Join(path, "."), "${%s} is not set in the environment", name)
				v.markReported(strings.Join(path, "."))
				return ""
			}
			return val
		})
		if len(n.Value) > MaxValueBytes {
			v.tooLong(n, path)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			v.expand(n.Content[i+1], append(path, n.Content[i].Value), lookup)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			v.expand(c, append(path, strconv.Itoa(i)), lookup)
		}
	}
}

// line finds the line of a field path such as "servers.mysql.dsn" or
// "releases.1.name"; when the path is absent it falls back to its nearest
// present parent.
func (v *validator) line(path string) int {
	n := v.root
	line := n.Line
	for _, part := range strings.Split(path, ".") {
		var next *yaml.Node
		switch n.Kind {
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == part {
					line = n.Content[i].Line
					next = n.Content[i+1]
					break
				}
			}
		case yaml.SequenceNode:
			if i, err := strconv.Atoi(part); err == nil && i >= 0 && i < len(n.Content) {
				next = n.Content[i]
				line = next.Line
			}
		}
		if next == nil {
			return line
		}
		n = next
	}
	return line
}

func (v *validator) fail(field, format string, args ...any) {
	for f := field; f != ""; {
		if v.reported[f] {
			return
		}
		i := strings.LastIndex(f, ".")
		if i < 0 {
			break
		}
		f = f[:i]
	}
	v.add(v.line(field), field, format, args...)
}

// tooLong reports an oversized value once and empties it.
func (v *validator) tooLong(n *yaml.Node, path []string) {
	field := strings.Join(path, ".")
	v.add(n.Line, field, "is %d bytes long; a value may be at most %d bytes", len(n.Value), MaxValueBytes)
	v.markReported(field)
	n.Value = ""
}

func (v *validator) markReported(field string) {
	if v.reported == nil {
		v.reported = map[string]bool{}
	}
	v.reported[field] = true
}

func (v *validator) validate(env *Environment) {
	switch {
	case env.Name == "":
		v.fail("name", "is required (the environment's name, e.g. qa or production)")
	case termshift.ValidateEnvironment(env.Name) != nil:
		v.fail("name", "%s must be 1-40 lowercase letters, digits or '-', starting with a letter (it is written into every namespace's ownership marker)", short(env.Name))
	}
	if env.Naming != "" {
		if err := termshift.ValidatePattern(env.Naming); err != nil {
			v.fail("naming", "%v", err)
		}
	}
	pattern := env.Naming
	if pattern == "" {
		pattern = termshift.DefaultNamingPattern
	}
	v.validateServers(env)
	v.validateDatabases(env)

	if env.Backup.Source == "" && (len(env.Databases.MySQL)+len(env.Databases.Mongo)+len(env.Databases.RabbitMQ)) > 0 {
		v.fail("backup.source", "is required: a directory or s3://bucket/prefix holding the nightly snapshots")
	}
	if strings.HasPrefix(env.Backup.Source, "s3://") && len(strings.TrimPrefix(env.Backup.Source, "s3://")) == 0 {
		v.fail("backup.source", "names no bucket: want s3://bucket/prefix")
	}
	if env.Scrub.Preset != "" && env.Scrub.Preset != "openedx" {
		v.fail("scrub.preset", "unknown preset %q (known: openedx)", env.Scrub.Preset)
	}
	for i, r := range env.Scrub.Rules {
		f := fmt.Sprintf("scrub.rules.%d", i)
		switch {
		case r.Table == "":
			v.fail(f+".table", "is required")
		case r.Column == "":
			v.fail(f+".column", "is required")
		case r.Action == termshift.ScrubFixed && r.Value == "":
			v.fail(f+".value", "is required for action fixed")
		default:
			for _, p := range r.Problems() {
				v.fail(f, "%s", p)
			}
		}
	}

	seen := map[string]int{}
	ports := map[int]string{}
	if len(env.Releases) == 0 {
		v.fail("releases", "lists no release: add at least one (name, version)")
	}
	for i, r := range env.Releases {
		f := fmt.Sprintf("releases.%d", i)
		if err := termshift.ValidateRelease(r.Name); err != nil {
			v.fail(f+".name", "%v", err)
		} else if j, dup := seen[r.Name]; dup {
			v.fail(f+".name", "release %q is already defined at releases.%d", r.Name, j)
		} else {
			seen[r.Name] = i
			for _, svcDBs := range []struct {
				svc termshift.Service
				dbs []LogicalDB
			}{{termshift.MySQL, env.Databases.MySQL}, {termshift.MongoDB, env.Databases.Mongo}, {termshift.RabbitMQ, env.Databases.RabbitMQ}} {
				for _, db := range svcDBs.dbs {
					if termshift.ValidateLogical(db.Name) != nil || termshift.ValidatePattern(pattern) != nil {
						continue
					}
					if _, err := termshift.DeriveNamespace(svcDBs.svc, pattern, db.Name, r.Name); err != nil {
						v.fail(f+".name", "derived %s name: %v", svcDBs.svc, err)
					}
				}
			}
		}
		if r.Version == "" {
			v.fail(f+".version", "is required (the application version this release runs)")
		}
		switch r.Runner {
		case "", "local":
			if len(r.Commands) == 0 {
				v.fail(f+".commands", "is required for the local runner (e.g. web: [bin/lms, --config, ...])")
			}
			for name, argv := range r.Commands {
				if len(argv) == 0 {
					v.fail(f+".commands."+name, "is an empty command")
				}
			}
		case "external":
			if r.HealthURL == "" {
				v.fail(f+".health_url", "is required for the external runner: termshift only waits for it")
			}
		case "kubernetes":
			v.validateKubernetesRelease(env, f, r)
		default:
			v.fail(f+".runner", "must be local, external or kubernetes, not %q", r.Runner)
		}
		if r.Port < 0 || r.Port > 65535 {
			v.fail(f+".port", "%d is not a TCP port", r.Port)
		} else if r.Port > 0 {
			if other, dup := ports[r.Port]; dup {
				v.fail(f+".port", "%d is already used by release %q", r.Port, other)
			}
			ports[r.Port] = r.Name
		}
		if r.Port == 0 && r.HealthURL == "" && r.Runner != "kubernetes" {
			v.fail(f+".port", "is required (or health_url): how else would the router reach the release?")
		}
		for j, argv := range r.PreCutover {
			if len(argv) == 0 {
				v.fail(fmt.Sprintf("%s.pre_cutover.%d", f, j), "is an empty command")
			}
		}
	}
	v.validateSharedData(env)
	v.validateNameCollisions(env, pattern)
	targets := map[string]bool{}
	for i, t := range env.Templates {
		f := fmt.Sprintf("templates.%d", i)
		if t.Source == "" {
			v.fail(f+".source", "is required")
		} else if _, err := os.Stat(Resolve(env.Dir, t.Source)); err != nil {
			v.fail(f+".source", "cannot be read: %v", errors.Unwrap(err))
		}
		if !templateName.MatchString(t.Target) {
			v.fail(f+".target", "must be a plain file name (letters, digits, . _ -), not %q", t.Target)
		} else if targets[t.Target] {
			v.fail(f+".target", "%q is rendered twice", t.Target)
		}
		targets[t.Target] = true
	}
	v.validateRouter(env)
	v.validateKubernetes(env)
	v.validateState(env.State)
	for i, s := range env.Verify.Smoke {
		f := fmt.Sprintf("verify.smoke.%d", i)
		if !strings.HasPrefix(s.Path, "/") {
			v.fail(f+".path", "must start with / (it is sent through the preview route)")
		}
		if s.Status != 0 && (s.Status < 100 || s.Status > 599) {
			v.fail(f+".status", "%d is not an HTTP status", s.Status)
		}
	}
	if env.Verify.HealthPath != "" && !strings.HasPrefix(env.Verify.HealthPath, "/") {
		v.fail("verify.health_path", "must start with /")
	}
}

// validateNameCollisions refuses a naming pattern under which two releases
// (or two logical databases) of the environment map to one namespace: one
// release would write into the other's data.
func (v *validator) validateNameCollisions(env *Environment, pattern string) {
	if termshift.ValidatePattern(pattern) != nil {
		return
	}
	for _, svc := range []termshift.Service{termshift.MySQL, termshift.MongoDB, termshift.RabbitMQ} {
		owner := map[string]string{} // namespace name -> "release/logical"
		for i, r := range env.Releases {
			if termshift.ValidateRelease(r.Name) != nil {
				continue
			}
			for _, db := range env.LogicalDBs(svc) {
				ns, err := termshift.DeriveNamespace(svc, pattern, db.Name, r.Name)
				if err != nil {
					continue
				}
				key := strings.ToLower(ns.Name) // MySQL schema names fold case on some servers
				me := fmt.Sprintf("release %q, %s %q", r.Name, svc, db.Name)
				if other, dup := owner[key]; dup && !strings.HasPrefix(other, fmt.Sprintf("release %q,", r.Name)) {
					v.fail(fmt.Sprintf("releases.%d.name", i), "naming pattern %q gives %s the name %q, which %s has too: two releases would share one namespace", pattern, me, ns.Name, other)
					continue
				}
				owner[key] = me
			}
		}
	}
}

func (v *validator) validateServers(env *Environment) {
	s := env.Servers
	if len(env.Databases.MySQL) > 0 && (s.MySQL == nil || s.MySQL.DSN == "") {
		v.fail("servers.mysql.dsn", "is required: databases.mysql lists logical databases")
	}
	if s.MySQL != nil && s.MySQL.DSN != "" && s.MySQL.Addr() == "" {
		// Never quote the DSN: it holds the admin password.
		v.fail("servers.mysql.dsn", "does not parse as a DSN: want user:password@tcp(host:3306)/")
	}
	if len(env.Databases.Mongo) > 0 && (s.Mongo == nil || s.Mongo.URI == "") {
		v.fail("servers.mongo.uri", "is required: databases.mongo lists logical databases")
	}
	if s.Mongo != nil && s.Mongo.URI != "" && !strings.HasPrefix(s.Mongo.URI, "mongodb://") && !strings.HasPrefix(s.Mongo.URI, "mongodb+srv://") {
		v.fail("servers.mongo.uri", "must start with mongodb:// or mongodb+srv://")
	}
	if len(env.Databases.RabbitMQ) > 0 {
		if s.RabbitMQ == nil || s.RabbitMQ.URL == "" {
			v.fail("servers.rabbitmq.url", "is required: databases.rabbitmq lists vhosts")
		}
		if s.RabbitMQ == nil || s.RabbitMQ.ManagementURL == "" {
			v.fail("servers.rabbitmq.management_url", "is required: vhosts and users are made through the management API")
		}
	}
	if s.RabbitMQ != nil {
		if s.RabbitMQ.URL != "" && !strings.HasPrefix(s.RabbitMQ.URL, "amqp://") && !strings.HasPrefix(s.RabbitMQ.URL, "amqps://") {
			v.fail("servers.rabbitmq.url", "must start with amqp:// or amqps://")
		}
		if u := s.RabbitMQ.ManagementURL; u != "" && !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") {
			v.fail("servers.rabbitmq.management_url", "must start with http:// or https://")
		}
	}
	if len(env.Databases.Memcached) > 0 && s.Memcached == nil {
		v.fail("servers.memcached", "is required: databases.memcached lists a cache")
	}
	if m := s.Memcached; m != nil {
		switch m.Provider {
		case "", "pool":
			if len(m.Clusters) == 0 {
				v.fail("servers.memcached.clusters", "lists no cluster: the pool provider assigns one per release")
			}
			names := make([]string, 0, len(m.Clusters))
			for name := range m.Clusters {
				names = append(names, name)
			}
			sort.Strings(names)
			for _, name := range names {
				if len(m.Clusters[name]) == 0 {
					v.fail("servers.memcached.clusters."+name, "lists no host:port")
				}
				for _, hp := range m.Clusters[name] {
					if !hostPortRE.MatchString(hp) {
						v.fail("servers.memcached.clusters."+name, "%q is not host:port", hp)
					}
				}
			}
		case "elasticache":
			if m.ElastiCache == nil || m.ElastiCache.Region == "" {
				v.fail("servers.memcached.elasticache.region", "is required for the elasticache provider")
			}
		default:
			v.fail("servers.memcached.provider", "must be pool or elasticache, not %q", m.Provider)
		}
	}
}

func (v *validator) validateDatabases(env *Environment) {
	for _, group := range []struct {
		field string
		dbs   []LogicalDB
	}{{"databases.mysql", env.Databases.MySQL}, {"databases.mongo", env.Databases.Mongo}, {"databases.rabbitmq", env.Databases.RabbitMQ}, {"databases.memcached", env.Databases.Memcached}} {
		seen := map[string]bool{}
		for i, db := range group.dbs {
			f := fmt.Sprintf("%s.%d", group.field, i)
			if err := termshift.ValidateLogical(db.Name); err != nil {
				v.fail(f+".name", "%v", err)
			} else if seen[db.Name] {
				v.fail(f+".name", "%q is listed twice", db.Name)
			}
			seen[db.Name] = true
		}
	}
	if len(env.Databases.Memcached) > 1 {
		v.fail("databases.memcached", "lists %d caches; a release gets one memcached cluster", len(env.Databases.Memcached))
	}
}

func (v *validator) validateRouter(env *Environment) {
	r := env.Router
	switch r.Provider {
	case "", "local":
		if r.Listen == "" {
			v.fail("router.listen", "is required for the local router (e.g. 127.0.0.1:8000)")
		} else if !hostPortRE.MatchString(r.Listen) {
			v.fail("router.listen", "%q is not host:port", r.Listen)
		}
	case "nginx":
		if r.Nginx == nil || r.Nginx.IncludeFile == "" {
			v.fail("router.nginx.include_file", "is required for the nginx router")
		}
	case "elbv2":
		if r.ELBv2 == nil || r.ELBv2.ListenerARN == "" {
			v.fail("router.elbv2.listener_arn", "is required for the elbv2 router")
		}
		if r.ELBv2 != nil && (r.ELBv2.Stickiness.Duration < 0 || r.ELBv2.Stickiness.Duration > 168*time.Hour || r.ELBv2.Stickiness.Duration > 0 && r.ELBv2.Stickiness.Duration < time.Second) {
			v.fail("router.elbv2.stickiness", "%s is outside 1s-168h (the load balancer's limits)", r.ELBv2.Stickiness.Duration)
		}
		if r.ELBv2 != nil {
			for _, rel := range env.Releases {
				if _, ok := r.ELBv2.TargetGroups[rel.Name]; !ok {
					v.fail("router.elbv2.target_groups", "has no target group for release %q", rel.Name)
				}
			}
		}
	case "kubernetes": // validateKubernetes
	default:
		v.fail("router.provider", "must be local, nginx, elbv2 or kubernetes, not %q", r.Provider)
	}
	v.validateAccess(env)
}

// Resolve makes a path from the environment file absolute against dir.
func Resolve(dir, p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(dir, p)
}
