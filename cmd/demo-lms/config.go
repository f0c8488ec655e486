package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"

	"github.com/termshift/termshift"
)

// Config is the rendered lms.env.json of one release
// (cmd/termshift/templates/lms.env.json.tmpl).
type Config struct {
	Release       string          `json:"release"`
	Version       string          `json:"version"`
	Listen        string          `json:"listen"`
	SessionCookie string          `json:"session_cookie"`
	MySQL         MySQLConfig     `json:"mysql"`
	Mongo         MongoConfig     `json:"mongo"`
	Forum         MongoConfig     `json:"forum"`
	RabbitMQ      RabbitMQConfig  `json:"rabbitmq"`
	Memcached     MemcachedConfig `json:"memcached"`
}

// MySQLConfig is the release's edxapp schema and its user.
type MySQLConfig struct {
	Host     string           `json:"host"`
	Port     int              `json:"port"`
	Name     string           `json:"name"`
	User     string           `json:"user"`
	Password termshift.Secret `json:"password"`
}

// MongoConfig is one of the release's MongoDB databases (mongo: the
// modulestore; forum: the forum's, where writes are recorded too). URI
// carries the release's credentials for it.
type MongoConfig struct {
	URI  termshift.Secret `json:"uri"`
	Name string           `json:"name"`
}

// RabbitMQConfig is the release's celery vhost (inside URL, with the
// credentials) and the queue the LMS publishes to and its worker consumes.
type RabbitMQConfig struct {
	URL   termshift.Secret `json:"url"`
	Queue string           `json:"queue"`
}

// MemcachedConfig is the release's memcached cluster.
type MemcachedConfig struct {
	Servers []string `json:"servers"`
}

// LoadConfig reads and validates a rendered configuration file.
func LoadConfig(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("read config: %w", err)
	}
	var c Config
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		// A JSON syntax error quotes no value, so it cannot leak a password.
		return Config{}, fmt.Errorf("parse config %s: %w: %w", path, err, termshift.ErrInvalid)
	}
	if err := c.Validate(); err != nil {
		return Config{}, fmt.Errorf("config %s: %w", path, err)
	}
	return c, nil
}

// Validate checks that every field the LMS needs is present and well formed.
func (c Config) Validate() error {
	var problems []string
	need := func(ok bool, msg string) {
		if !ok {
			problems = append(problems, msg)
		}
	}
	need(termshift.ValidateRelease(c.Release) == nil, "release must be a valid release name")
	_, err := parseVersion(c.Version)
	need(err == nil, "version must look like MAJOR.MINOR")
	_, _, err = net.SplitHostPort(c.Listen)
	need(err == nil, "listen must be host:port")
	need(c.SessionCookie != "" && !strings.ContainsAny(c.SessionCookie, " ;=,\t\r\n\""), "session_cookie must be a cookie name")
	need(c.MySQL.Host != "", "mysql.host is required")
	need(c.MySQL.Port > 0 && c.MySQL.Port < 65536, "mysql.port must be 1-65535")
	need(termshift.ValidateMySQLIdent("MySQL schema", c.MySQL.Name) == nil, "mysql.name must be a MySQL schema name")
	need(c.MySQL.User != "", "mysql.user is required")
	need(strings.HasPrefix(c.Mongo.URI.Reveal(), "mongodb://") || strings.HasPrefix(c.Mongo.URI.Reveal(), "mongodb+srv://"), "mongo.uri must be a mongodb:// URI")
	need(termshift.ValidateMongoDatabase(c.Mongo.Name) == nil, "mongo.name must be a MongoDB database name")
	need(strings.HasPrefix(c.Forum.URI.Reveal(), "mongodb://") || strings.HasPrefix(c.Forum.URI.Reveal(), "mongodb+srv://"), "forum.uri must be a mongodb:// URI")
	need(termshift.ValidateMongoDatabase(c.Forum.Name) == nil, "forum.name must be a MongoDB database name")
	u, err := url.Parse(c.RabbitMQ.URL.Reveal())
	// url.Parse errors quote the URL, password included: report only that it failed.
	need(err == nil && (u.Scheme == "amqp" || u.Scheme == "amqps"), "rabbitmq.url must be an amqp:// URL")
	need(c.RabbitMQ.Queue != "", "rabbitmq.queue is required")
	need(len(c.Memcached.Servers) > 0, "memcached.servers must name at least one host:port")
	for _, s := range c.Memcached.Servers {
		_, _, err := net.SplitHostPort(s)
		need(err == nil, fmt.Sprintf("memcached server %s must be host:port", termshift.Quote(s)))
	}
	if len(problems) > 0 {
		return fmt.Errorf("%s: %w", strings.Join(problems, "; "), termshift.ErrInvalid)
	}
	return nil
}

// secrets returns every secret of the configuration and the forms they take
// inside URLs, so error messages can be scrubbed of them.
func (c Config) secrets() []string {
	var out []string
	add := func(s string) {
		if s == "" {
			return
		}
		out = append(out, s, url.QueryEscape(s), url.PathEscape(s))
	}
	add(c.MySQL.Password.Reveal())
	for _, raw := range []string{c.Mongo.URI.Reveal(), c.Forum.URI.Reveal(), c.RabbitMQ.URL.Reveal()} {
		if u, err := url.Parse(raw); err == nil && u.User != nil {
			if p, ok := u.User.Password(); ok {
				add(p)
			}
		}
	}
	return out
}

// redactor scrubs the configuration's secrets from error text: driver errors
// are shown to HTTP clients and written to logs.
type redactor []string

func (r redactor) String(err error) string {
	if err == nil {
		return ""
	}
	s := err.Error()
	for _, secret := range r {
		if len(secret) >= 3 {
			s = strings.ReplaceAll(s, secret, "[redacted]")
		}
	}
	return s
}

// version is MAJOR.MINOR of the application.
type version struct{ major, minor int }

func parseVersion(s string) (version, error) {
	maj, min, ok := strings.Cut(s, ".")
	a, err1 := strconv.Atoi(maj)
	b, err2 := strconv.Atoi(min)
	if !ok || errors.Join(err1, err2) != nil || a < 0 || b < 0 {
		return version{}, fmt.Errorf("version %s: want MAJOR.MINOR: %w", termshift.Quote(s), termshift.ErrInvalid)
	}
	return version{a, b}, nil
}

func (v version) atLeast(o version) bool {
	return v.major > o.major || (v.major == o.major && v.minor >= o.minor)
}
