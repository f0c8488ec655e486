package envfile

import (
	"net"
	"net/url"
	"strconv"
	"strings"

	"github.com/go-sql-driver/mysql"
)

// Addr is the MySQL server's host:port from the admin DSN ("" when the DSN
// does not parse).
func (m *MySQLServer) Addr() string {
	cfg, err := mysql.ParseDSN(m.DSN)
	if err != nil {
		return ""
	}
	return cfg.Addr
}

// HostPort splits Addr, with MySQL's default port when it has none.
func (m *MySQLServer) HostPort() (string, int) {
	addr := m.Addr()
	if addr == "" {
		return "127.0.0.1", 3306
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr, 3306
	}
	p, _ := strconv.Atoi(port)
	return host, p
}

// Secrets lists every admin secret the environment holds: passwords in
// DSNs and URLs, the management password, S3 keys, the scrub salt, the
// admin address's password and token, the preview grant keys. The
// journal and the logs redact them.
func (e *Environment) Secrets() []string {
	var out []string
	s := e.Servers
	if s.MySQL != nil {
		out = append(out, dsnPassword(s.MySQL.DSN))
	}
	if s.Mongo != nil {
		out = append(out, urlPassword(s.Mongo.URI))
	}
	if s.RabbitMQ != nil {
		out = append(out, s.RabbitMQ.ManagementPassword, urlPassword(s.RabbitMQ.URL))
	}
	out = append(out, e.Backup.S3.SecretKey, e.State.S3.SecretKey, e.Scrub.Salt)
	out = append(out, e.Router.accessSecrets()...)
	kept := out[:0]
	for _, sec := range out {
		if sec != "" {
			kept = append(kept, sec)
		}
	}
	return kept
}

// dsnPassword extracts the password of a go-sql-driver DSN.
func dsnPassword(dsn string) string {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		// Not parseable: fall back to the user:password@ prefix.
		if at := strings.LastIndex(dsn, "@"); at > 0 {
			if _, pw, ok := strings.Cut(dsn[:at], ":"); ok {
				return pw
			}
		}
		return ""
	}
	return cfg.Passwd
}

// urlPassword extracts the password of a URL.
func urlPassword(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return ""
	}
	pw, _ := u.User.Password()
	return pw
}
