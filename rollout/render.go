package rollout

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"text/template"

	"github.com/go-sql-driver/mysql"

	"github.com/termshift/termshift"
)

// MySQLData is what a template sees of a MySQL namespace.
type MySQLData struct {
	Name, User, Password, Host string
	Port                       int
}

// MongoData is what a template sees of a MongoDB namespace.
type MongoData struct{ Name, User, Password, URI string }

// RabbitMQData is what a template sees of a vhost.
type RabbitMQData struct{ Vhost, User, Password, URL string }

// MemcachedData is what a template sees of a memcached cluster.
type MemcachedData struct {
	Name      string
	Endpoints []string
}

// TemplateData is the data a release's configuration templates render with.
type TemplateData struct {
	Release, Version string
	Port             int
	Listen           string
	CookieName       string
	ConfigDir        string
	MySQL            map[string]MySQLData
	Mongo            map[string]MongoData
	RabbitMQ         map[string]RabbitMQData
	Memcached        map[string]MemcachedData
}

// CookieName is a release's session cookie: side-by-side releases never
// share logins.
func CookieName(release string) string { return "termshift_" + release + "_sessionid" }

// templateData assembles a release's namespaces and credentials.
func (o *Orchestrator) templateData(s *State, release string) (*TemplateData, []string, error) {
	spec, err := o.spec(release)
	if err != nil {
		return nil, nil, err
	}
	rs := s.Releases[release]
	if rs == nil || len(rs.Namespaces) == 0 {
		return nil, nil, termshift.WithHint(fmt.Errorf("release %s has no namespaces: %w", termshift.Quote(release), termshift.ErrNotFound), "run `termshift carve "+release+"` first")
	}
	creds, err := o.Store.Credentials(release)
	if err != nil {
		return nil, nil, err
	}
	d := &TemplateData{Release: release, Version: spec.Version, Port: spec.Port, CookieName: CookieName(release),
		ConfigDir: o.Store.ConfigDir(release), MySQL: map[string]MySQLData{}, Mongo: map[string]MongoData{},
		RabbitMQ: map[string]RabbitMQData{}, Memcached: map[string]MemcachedData{}}
	if spec.Port > 0 {
		d.Listen = "127.0.0.1:" + strconv.Itoa(spec.Port)
	}
	var secrets []string
	for _, ns := range rs.Namespaces {
		c := creds[credKey(ns.Service, ns.Logical)]
		pw := c.Password.Reveal()
		if pw != "" {
			secrets = append(secrets, pw)
		}
		switch ns.Service {
		case termshift.MySQL:
			host, port := o.mysqlHostPort()
			d.MySQL[ns.Logical] = MySQLData{Name: ns.Name, User: c.User, Password: pw, Host: host, Port: port}
		case termshift.MongoDB:
			d.Mongo[ns.Logical] = MongoData{Name: ns.Name, User: c.User, Password: pw, URI: releaseMongoURI(o.Env.Servers.Mongo.URI, c, ns.Name)}
		case termshift.RabbitMQ:
			d.RabbitMQ[ns.Logical] = RabbitMQData{Vhost: ns.Name, User: c.User, Password: pw, URL: releaseAMQPURL(o.Env.Servers.RabbitMQ.URL, c, ns.Name)}
		case termshift.Memcached:
			d.Memcached[ns.Logical] = MemcachedData{Name: ns.Name, Endpoints: ns.Endpoints}
		}
	}
	return d, secrets, nil
}

func (o *Orchestrator) mysqlHostPort() (string, int) {
	cfg, err := mysql.ParseDSN(o.Env.Servers.MySQL.DSN)
	if err != nil {
		return "127.0.0.1", 3306
	}
	host, port, err := net.SplitHostPort(cfg.Addr)
	if err != nil {
		return cfg.Addr, 3306
	}
	p, _ := strconv.Atoi(port)
	return host, p
}

// releaseMongoURI is the admin URI with the release's credential, its own
// database as the auth source, and the same hosts and options.
func releaseMongoURI(admin string, c termshift.Credential, db string) string {
	u, err := url.Parse(admin)
	if err != nil {
		return ""
	}
	u.User = url.UserPassword(c.User, c.Password.Reveal())
	u.Path = "/" + db
	q := u.Query()
	q.Set("authSource", db)
	u.RawQuery = q.Encode()
	return u.String()
}

// releaseAMQPURL is the broker's address with the release's credential and
// vhost.
func releaseAMQPURL(admin string, c termshift.Credential, vhost string) string {
	u, err := url.Parse(admin)
	if err != nil {
		return ""
	}
	u.User = url.UserPassword(c.User, c.Password.Reveal())
	u.Path = "/" + vhost
	u.RawPath = "/" + url.PathEscape(vhost)
	return u.String()
}

var templateFuncs = template.FuncMap{
	"json": func(v any) (string, error) {
		b, err := json.Marshal(v)
		return string(b), err
	},
	"quote": strconv.Quote,
	"join":  strings.Join,
}

// Render renders every template of the environment for release into its
// config directory (mode 0600) and returns the written files.
func (o *Orchestrator) Render(s *State, release string) ([]string, error) {
	d, _, err := o.templateData(s, release)
	if err != nil {
		return nil, err
	}
	files, err := o.renderAll(d)
	if err != nil {
		return nil, err
	}
	dir := o.Store.ConfigDir(release)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create config directory: %w", err)
	}
	var written []string
	for _, t := range o.Env.Templates {
		p := filepath.Join(dir, t.Target)
		if err := writeFileAtomic(p, files[t.Target], 0o600); err != nil {
			return nil, err
		}
		written = append(written, p)
	}
	return written, nil
}

func (o *Orchestrator) renderAll(d *TemplateData) (map[string][]byte, error) {
	out := map[string][]byte{}
	for _, t := range o.Env.Templates {
		src := resolve(o.Env.Dir, t.Source)
		text, err := os.ReadFile(src)
		if err != nil {
			return nil, fmt.Errorf("read template: %w", err)
		}
		tmpl, err := template.New(filepath.Base(src)).Funcs(templateFuncs).Option("missingkey=error").Parse(string(text))
		if err != nil {
			return nil, fmt.Errorf("parse template %s: %w", src, err)
		}
		var b bytes.Buffer
		if err := tmpl.Execute(&b, d); err != nil {
			return nil, fmt.Errorf("render template %s for %s: %w", src, termshift.Quote(d.Release), err)
		}
		out[t.Target] = b.Bytes()
	}
	return out, nil
}

// expandArgv renders {{.ConfigDir}} and friends in a command's arguments.
func expandArgv(argv []string, d *TemplateData) ([]string, error) {
	out := make([]string, len(argv))
	for i, a := range argv {
		if !strings.Contains(a, "{{") {
			out[i] = a
			continue
		}
		t, err := template.New("argv").Option("missingkey=error").Parse(a)
		if err != nil {
			return nil, fmt.Errorf("command argument %q: %w", a, err)
		}
		var b strings.Builder
		if err := t.Execute(&b, d); err != nil {
			return nil, fmt.Errorf("command argument %q: %w", a, err)
		}
		out[i] = b.String()
	}
	return out, nil
}

// ConfigDiff renders two releases' configurations and returns a line diff
// per file with every password masked.
func (o *Orchestrator) ConfigDiff(a, b string) (string, error) {
	s, err := o.loadState()
	if err != nil {
		return "", err
	}
	da, sa, err := o.templateData(s, a)
	if err != nil {
		return "", err
	}
	db, sb, err := o.templateData(s, b)
	if err != nil {
		return "", err
	}
	fa, err := o.renderAll(da)
	if err != nil {
		return "", err
	}
	fb, err := o.renderAll(db)
	if err != nil {
		return "", err
	}
	mask := maskFunc(append(sa, sb...))
	var out strings.Builder
	names := make([]string, 0, len(fa))
	for n := range fa {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		la := strings.Split(mask(string(fa[n])), "\n")
		lb := strings.Split(mask(string(fb[n])), "\n")
		fmt.Fprintf(&out, "--- %s/%s\n+++ %s/%s\n", a, n, b, n)
		out.WriteString(lineDiff(la, lb))
	}
	return out.String(), nil
}

func maskFunc(secrets []string) func(string) string { return replacer(secrets, "********") }

// replacer returns a function that replaces every secret in text with repl:
// raw, and in the escaped forms a URL gives it (userinfo, path, query).
func replacer(secrets []string, repl string) func(string) string {
	var forms []string
	for _, sec := range secrets {
		if len(sec) < 4 {
			continue // too short to tell from ordinary text
		}
		_, userinfo, _ := strings.Cut(url.UserPassword("u", sec).String(), ":")
		forms = append(forms, sec, userinfo, url.PathEscape(sec), url.QueryEscape(sec))
	}
	sort.Slice(forms, func(i, j int) bool { return len(forms[i]) > len(forms[j]) })
	return func(text string) string {
		for _, f := range forms {
			text = strings.ReplaceAll(text, f, repl)
		}
		return text
	}
}

// lineDiff is a longest-common-subsequence line diff; configuration files
// are small.
func lineDiff(a, b []string) string {
	n, m := len(a), len(b)
	lcs := make([][]int, n+1)
	for i := range lcs {
		lcs[i] = make([]int, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if a[i] == b[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var out strings.Builder
	i, j := 0, 0
	for i < n || j < m {
		switch {
		case i < n && j < m && a[i] == b[j]:
			out.WriteString("  " + a[i] + "\n")
			i++
			j++
		case i < n && (j == m || lcs[i+1][j] >= lcs[i][j+1]):
			out.WriteString("- " + a[i] + "\n")
			i++
		default:
			out.WriteString("+ " + b[j] + "\n")
			j++
		}
	}
	return out.String()
}
