package rollout

import (
	"net/url"
	"strings"

	"github.com/go-sql-driver/mysql"
)

// dsnPassword extracts the password of a go-sql-driver DSN, for redaction.
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

// urlPassword extracts the password of a URL, for redaction.
func urlPassword(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return ""
	}
	pw, _ := u.User.Password()
	return pw
}
