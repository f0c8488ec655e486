package verify

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/termshift/termshift"
)

// The scrub actions, as restore/scrub applies them.
const (
	ActionEmail            = termshift.ScrubEmail
	ActionFixed            = termshift.ScrubFixed
	ActionNull             = termshift.ScrubNull
	ActionHash             = termshift.ScrubHash
	ActionUnusablePassword = termshift.ScrubUnusablePassword
)

// defaultScrubDomain is where scrubbed addresses live when a rule gives no
// template: a reserved TLD that can never deliver mail.
const defaultScrubDomain = "example.invalid"

// scrubDomain is the domain of an email rule's template
// ("user{{id}}@example.invalid" -> "example.invalid").
func scrubDomain(value string) string {
	if i := strings.LastIndex(value, "@"); i >= 0 && i < len(value)-1 {
		return value[i+1:]
	}
	if value != "" && !strings.Contains(value, "{{") {
		return value
	}
	return defaultScrubDomain
}

// planScrub: one job per rule, over every own namespace the rule applies to.
// Results carry counts only, never a value read from the data.
func planScrub(t Target, _ Options) []job {
	if len(t.Scrub) == 0 {
		return single("-", Skip, "no scrub rules")
	}
	var jobs []job
	for _, rule := range t.Scrub {
		target := fmt.Sprintf("%s %s.%s", rule.Service, rule.Table, rule.Column)
		jobs = append(jobs, job{target: target, run: func(ctx context.Context) (Status, string) {
			return checkScrubRule(ctx, t, rule)
		}})
	}
	return jobs
}

// ruleNamespaces are the own namespaces a rule names: by service (every
// namespace of it) or by logical name (that one).
func ruleNamespaces(t Target, rule ScrubRule) []Namespace {
	var out []Namespace
	for _, ns := range t.Own {
		if ns.Service != termshift.MySQL && ns.Service != termshift.MongoDB {
			continue
		}
		if string(ns.Service) == rule.Service || ns.Logical == rule.Service {
			out = append(out, ns)
		}
	}
	return out
}

// leftover is what one namespace still holds for one rule.
type leftover struct {
	ns          string
	unit        string // rows or documents
	left, total int64
}

func checkScrubRule(ctx context.Context, t Target, rule ScrubRule) (Status, string) {
	switch rule.Action {
	case ActionEmail, ActionFixed, ActionNull, ActionUnusablePassword:
	case ActionHash:
		return Skip, "hashed values cannot be told apart from production values"
	default:
		return Fail, fmt.Sprintf("unknown scrub action %s", termshift.Quote(rule.Action))
	}
	nss := ruleNamespaces(t, rule)
	if len(nss) == 0 {
		return Skip, fmt.Sprintf("release has no mysql or mongo namespace %s", termshift.Quote(rule.Service))
	}
	var found []leftover
	for _, ns := range nss {
		var lo *leftover
		var err error
		if ns.Service == termshift.MySQL {
			lo, err = scrubLeftMySQL(ctx, t.Servers, ns, rule)
		} else {
			lo, err = scrubLeftMongo(ctx, t.Servers, ns, rule)
		}
		if err != nil {
			return noServer(err)
		}
		if lo != nil {
			found = append(found, *lo)
		}
	}
	if len(found) == 0 {
		return Skip, fmt.Sprintf("no namespace of the release holds %s.%s", rule.Table, rule.Column)
	}
	var bad, good []string
	for _, lo := range found {
		if lo.left > 0 {
			bad = append(bad, fmt.Sprintf("%s: %d of %d %s not scrubbed (%s)", lo.ns, lo.left, lo.total, lo.unit, rule.Action))
		} else {
			good = append(good, fmt.Sprintf("%s: %d %s scrubbed (%s)", lo.ns, lo.total, lo.unit, rule.Action))
		}
	}
	if len(bad) > 0 {
		return Fail, listDetail(bad, 5)
	}
	return Pass, listDetail(good, 5)
}

// mysqlLeftCondition is the WHERE clause matching values that still look
// like production under rule, and its arguments.
func mysqlLeftCondition(rule ScrubRule) (string, []any) {
	c := termshift.QuoteMySQL(rule.Column)
	switch rule.Action {
	case ActionEmail:
		esc := strings.NewReplacer("!", "!!", "%", "!%", "_", "!_").Replace(scrubDomain(rule.Value))
		return c + " IS NOT NULL AND " + c + " <> '' AND " + c + " NOT LIKE ? ESCAPE '!'", []any{"%@" + esc}
	case ActionFixed:
		return c + " IS NOT NULL AND BINARY " + c + " <> BINARY ?", []any{rule.Value}
	case ActionNull:
		return c + " IS NOT NULL", nil
	default: // ActionUnusablePassword
		return c + " IS NOT NULL AND " + c + " NOT LIKE '!%'", nil
	}
}

func scrubLeftMySQL(ctx context.Context, s Servers, ns Namespace, rule ScrubRule) (*leftover, error) {
	db, err := openMySQLAdmin(ctx, s)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	var n int
	err = db.QueryRowContext(ctx, "SELECT COUNT(*) FROM information_schema.columns WHERE table_schema = ? AND table_name = ? AND column_name = ?",
		ns.Name, rule.Table, rule.Column).Scan(&n)
	if err != nil {
		return nil, fmt.Errorf("look up %s.%s.%s on %s: %w", ns.Name, rule.Table, rule.Column, mysqlAddr(s), err)
	}
	if n == 0 {
		return nil, nil
	}
	from := termshift.QuoteMySQL(ns.Name) + "." + termshift.QuoteMySQL(rule.Table)
	cond, args := mysqlLeftCondition(rule)
	lo := &leftover{ns: ns.Name, unit: "rows"}
	err = db.QueryRowContext(ctx, "SELECT COUNT(*), COALESCE(SUM(CASE WHEN "+cond+" THEN 1 ELSE 0 END), 0) FROM "+from, args...).Scan(&lo.total, &lo.left)
	if err != nil {
		return nil, fmt.Errorf("count unscrubbed %s.%s.%s on %s: %w", ns.Name, rule.Table, rule.Column, mysqlAddr(s), err)
	}
	return lo, nil
}

// mongoLeftFilter matches documents whose field still looks like production.
func mongoLeftFilter(rule ScrubRule) bson.D {
	var cond bson.D
	switch rule.Action {
	case ActionEmail:
		re := bson.Regex{Pattern: "@" + regexp.QuoteMeta(scrubDomain(rule.Value)) + "$", Options: "i"}
		cond = bson.D{{Key: "$nin", Value: bson.A{nil, ""}}, {Key: "$not", Value: re}}
	case ActionFixed:
		cond = bson.D{{Key: "$nin", Value: bson.A{nil, rule.Value}}}
	case ActionNull:
		cond = bson.D{{Key: "$ne", Value: nil}}
	default: // ActionUnusablePassword
		cond = bson.D{{Key: "$ne", Value: nil}, {Key: "$not", Value: bson.Regex{Pattern: "^!"}}}
	}
	return bson.D{{Key: rule.Column, Value: cond}}
}

func scrubLeftMongo(ctx context.Context, s Servers, ns Namespace, rule ScrubRule) (*leftover, error) {
	c, err := openMongo(ctx, s)
	if err != nil {
		return nil, err
	}
	defer disconnectMongo(c)
	db := c.Database(ns.Name)
	names, err := db.ListCollectionNames(ctx, bson.D{})
	if err != nil {
		return nil, fmt.Errorf("list collections of %s on %s: %w", termshift.Quote(ns.Name), mongoHosts(s), err)
	}
	if !slices.Contains(names, rule.Table) {
		return nil, nil
	}
	coll := db.Collection(rule.Table)
	lo := &leftover{ns: ns.Name, unit: "documents"}
	if lo.total, err = coll.CountDocuments(ctx, bson.D{}); err != nil {
		return nil, mongoCountErr(ns, rule, s, err)
	}
	if lo.left, err = coll.CountDocuments(ctx, mongoLeftFilter(rule)); err != nil {
		return nil, mongoCountErr(ns, rule, s, err)
	}
	return lo, nil
}

func mongoCountErr(ns Namespace, rule ScrubRule, s Servers, err error) error {
	return fmt.Errorf("count unscrubbed %s.%s.%s on %s: %w", ns.Name, rule.Table, rule.Column, mongoHosts(s), err)
}
