package scrub

import (
	"context"
	"log/slog"

	"github.com/termshift/termshift"
)

// MySQL scrubs MySQL schemas with the administrator's DSN.
type MySQL struct {
	DSN    termshift.Secret
	Logger *slog.Logger
	// Threads is how many key ranges are rewritten at once; below 1 means
	// DefaultMySQLThreads.
	Threads int
}

// Scrub runs the rules on one schema.
func (m *MySQL) Scrub(ctx context.Context, ns termshift.Namespace, rules []Rule, salt termshift.Secret) (*Report, error) {
	return ScrubMySQL(ctx, rules, MySQLOptions{DSN: m.DSN, Schema: ns.Name, Salt: salt, Logger: m.Logger, Threads: m.Threads})
}

// Mongo scrubs MongoDB databases with the administrator's URI.
type Mongo struct {
	URI    termshift.Secret
	Logger *slog.Logger
}

// Scrub runs the rules on one database.
func (m *Mongo) Scrub(ctx context.Context, ns termshift.Namespace, rules []Rule, salt termshift.Secret) (*Report, error) {
	return ScrubMongo(ctx, rules, MongoOptions{URI: m.URI, Database: ns.Name, Salt: salt, Logger: m.Logger})
}
