// Package render turns an environment's configuration templates into one
// release's files: Go text/template with the release's namespaces and
// credentials, written with mode 0600; command arguments with the same data;
// and a line diff of two releases' files with every secret masked.
package render

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"text/template"

	"github.com/termshift/termshift"
	"github.com/termshift/termshift/rollout/envfile"
	"github.com/termshift/termshift/rollout/store"
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

// Data is what a release's configuration templates render with.
type Data struct {
	Release, Version string
	Port             int
	Listen           string
	CookieName       string
	ConfigDir        string
	// SharesDataWith names the release whose namespaces and credentials
	// the data holds, for a release that shares its data ("" otherwise).
	// Such a release also uses the owner's session cookie: both sides of a
	// progressive cutover read the same sessions, so a browser that moves
	// between them stays logged in.
	SharesDataWith string
	MySQL          map[string]MySQLData
	Mongo          map[string]MongoData
	RabbitMQ       map[string]RabbitMQData
	Memcached      map[string]MemcachedData

	// secrets are the passwords in the data, for masking.
	secrets []string
}

// Secrets lists the passwords the data holds.
func (d *Data) Secrets() []string { return d.secrets }

// Env is the process environment a release's commands get.
func (d *Data) Env() []string {
	return []string{"TERMSHIFT_RELEASE=" + d.Release, "TERMSHIFT_VERSION=" + d.Version,
		"TERMSHIFT_CONFIG_DIR=" + d.ConfigDir, "TERMSHIFT_PORT=" + strconv.Itoa(d.Port)}
}

// CookieName is a release's session cookie: side-by-side releases never
// share logins.
func CookieName(release string) string { return "termshift_" + release + "_sessionid" }

// NewData assembles a release's template data from the environment, its
// namespaces and its credentials (keyed by store.CredKey): for a release
// that shares another's data, the owner's namespaces and credentials.
func NewData(env *envfile.Environment, spec envfile.ReleaseSpec, namespaces []*store.NamespaceState, creds map[string]termshift.Credential, configDir string) *Data {
	d := &Data{Release: spec.Name, Version: spec.Version, Port: spec.Port, CookieName: CookieName(spec.Name),
		ConfigDir: configDir, MySQL: map[string]MySQLData{}, Mongo: map[string]MongoData{},
		RabbitMQ: map[string]RabbitMQData{}, Memcached: map[string]MemcachedData{}}
	if owner, ok := env.SharesData(spec.Name); ok {
		d.SharesDataWith, d.CookieName = owner, CookieName(owner)
	}
	if spec.Port > 0 {
		d.Listen = "127.0.0.1:" + strconv.Itoa(spec.Port)
	}
	for _, ns := range namespaces {
		c := creds[store.CredKey(ns.Service, ns.Logical)]
		pw := c.Password.Reveal()
		if pw != "" {
			d.secrets = append(d.secrets, pw)
		}
		switch ns.Service {
		case termshift.MySQL:
			host, port := env.Servers.MySQL.HostPort()
			d.MySQL[ns.Logical] = MySQLData{Name: ns.Name, User: c.User, Password: pw, Host: host, Port: port}
		case termshift.MongoDB:
			d.Mongo[ns.Logical] = MongoData{Name: ns.Name, User: c.User, Password: pw, URI: releaseMongoURI(env.Servers.Mongo.URI, c, ns.Name)}
		case termshift.RabbitMQ:
			d.RabbitMQ[ns.Logical] = RabbitMQData{Vhost: ns.Name, User: c.User, Password: pw, URL: releaseAMQPURL(env.Servers.RabbitMQ.URL, c, ns.Name)}
		case termshift.Memcached:
			d.Memcached[ns.Logical] = MemcachedData{Name: ns.Name, Endpoints: ns.Endpoints}
		}
	}
	return d
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

// Files renders every template with d, by target name.
func Files(env *envfile.Environment, d *Data) (map[string][]byte, error) {
	out := map[string][]byte{}
	for _, t := range env.Templates {
		src := envfile.Resolve(env.Dir, t.Source)
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

// Write renders every template into d.ConfigDir (mode 0600) and returns the
// written files in the order the environment lists them.
func Write(env *envfile.Environment, d *Data) ([]string, error) {
	files, err := Files(env, d)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(d.ConfigDir, 0o700); err != nil {
		return nil, fmt.Errorf("create config directory: %w", err)
	}
	var written []string
	for _, t := range env.Templates {
		p := filepath.Join(d.ConfigDir, t.Target)
		if err := termshift.WriteFileAtomic(p, files[t.Target], 0o600); err != nil {
			return nil, err
		}
		written = append(written, p)
	}
	return written, nil
}

// Argv renders {{.ConfigDir}} and friends in a command's arguments.
func Argv(argv []string, d *Data) ([]string, error) {
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

// Diff is a line diff per file of two releases' rendered configurations,
// with every password of either masked.
func Diff(env *envfile.Environment, a, b *Data) (string, error) {
	fa, err := Files(env, a)
	if err != nil {
		return "", err
	}
	fb, err := Files(env, b)
	if err != nil {
		return "", err
	}
	mask := termshift.Redactor(append(append([]string(nil), a.secrets...), b.secrets...), "********")
	var out strings.Builder
	names := make([]string, 0, len(fa))
	for n := range fa {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		la := strings.Split(mask(string(fa[n])), "\n")
		lb := strings.Split(mask(string(fb[n])), "\n")
		fmt.Fprintf(&out, "--- %s/%s\n+++ %s/%s\n", a.Release, n, b.Release, n)
		out.WriteString(lineDiff(la, lb))
	}
	return out.String(), nil
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
