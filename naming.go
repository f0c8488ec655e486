package termshift

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Limits of the servers names are derived for.
const (
	MaxReleaseLen        = 20
	MaxMySQLIdentLen     = 64  // schema, table: MySQL and MariaDB
	MaxMySQLUserLen      = 32  // MySQL 5.7+ user names; MariaDB allows 80, the stricter rule wins
	MaxMongoDBNameBytes  = 63  // "under 64 bytes"
	MaxVhostBytes        = 255 // RabbitMQ short strings
	MaxElastiCacheIDLen  = 20  // CreateCacheCluster's CacheClusterId
	DefaultNamingPattern = "{logical}_{release}"
)

var (
	releaseRE     = regexp.MustCompile(`^[a-z][a-z0-9]{0,19}$`)
	logicalRE     = regexp.MustCompile(`^/?[A-Za-z0-9][A-Za-z0-9_-]*$`)
	mysqlIdentRE  = regexp.MustCompile(`^[A-Za-z0-9_$-]+$`)
	elastiCacheRE = regexp.MustCompile(`^[a-z][a-z0-9-]*$`)
	placeholderRE = regexp.MustCompile(`\{[^}]*\}`)
)

// NameError is a name refused by a naming rule, before anything is touched.
type NameError struct {
	What string // "release name", "MySQL schema", ...
	Name string
	Rule string
}

func (e *NameError) Error() string {
	return fmt.Sprintf("%s %s: %s", e.What, Quote(e.Name), e.Rule)
}

// Is makes every NameError match ErrInvalid.
func (e *NameError) Is(target error) bool { return target == ErrInvalid }

// Quote renders a name for messages and reports: always quoted, with control
// characters and invalid UTF-8 escaped, so a hostile name cannot forge output.
func Quote(name string) string { return strconv.Quote(name) }

// QuoteMySQL renders an identifier for SQL text: always backquoted, with
// backquotes doubled, even when the name was validated.
func QuoteMySQL(ident string) string {
	return "`" + strings.ReplaceAll(ident, "`", "``") + "`"
}

// ValidateRelease checks a release name: ^[a-z][a-z0-9]{0,19}$.
func ValidateRelease(name string) error {
	if releaseRE.MatchString(name) {
		return nil
	}
	rule := "must match ^[a-z][a-z0-9]{0,19}$ (a lowercase letter, then up to 19 lowercase letters or digits)"
	switch {
	case name == "":
		rule = "must not be empty"
	case len(name) > MaxReleaseLen:
		rule = fmt.Sprintf("is %d bytes, longer than %d; %s", len(name), MaxReleaseLen, rule)
	}
	return &NameError{What: "release name", Name: name, Rule: rule}
}

// ValidateLogical checks a logical database name as written in the
// environment file: letters, digits, '_' and '-', optionally one leading '/'
// (RabbitMQ vhosts are often written "/celery").
func ValidateLogical(name string) error {
	if logicalRE.MatchString(name) && len(name) <= MaxMySQLIdentLen {
		return nil
	}
	return &NameError{What: "logical database name", Name: name,
		Rule: "must be 1-64 letters, digits, '_' or '-', optionally after one leading '/'"}
}

// ValidatePattern checks a naming pattern: it must contain {logical} and
// {release} and no other placeholder, so every release gets distinct names.
func ValidatePattern(pattern string) error {
	if !strings.Contains(pattern, "{logical}") || !strings.Contains(pattern, "{release}") {
		return &NameError{What: "naming pattern", Name: pattern, Rule: "must contain both {logical} and {release}"}
	}
	for _, p := range placeholderRE.FindAllString(pattern, -1) {
		if p != "{logical}" && p != "{release}" {
			return &NameError{What: "naming pattern", Name: pattern, Rule: "unknown placeholder " + p + " (only {logical} and {release})"}
		}
	}
	return nil
}

// ExpandPattern applies a naming pattern. It does not validate the result:
// DeriveNamespace does, per service.
func ExpandPattern(pattern, logical, release string) string {
	return strings.NewReplacer("{logical}", logical, "{release}", release).Replace(pattern)
}

// PatternRegexp returns a regexp that matches every name the pattern can
// derive for logical, capturing the release in group 1. It finds orphans:
// namespaces on a server that look like ours but belong to no known release.
func PatternRegexp(pattern, logical string) *regexp.Regexp {
	expr := regexp.QuoteMeta(pattern)
	expr = strings.ReplaceAll(expr, regexp.QuoteMeta("{logical}"), regexp.QuoteMeta(logical))
	expr = strings.ReplaceAll(expr, regexp.QuoteMeta("{release}"), `([a-z][a-z0-9]{0,19})`)
	return regexp.MustCompile("^" + expr + "$")
}

// DeriveNamespace computes the namespace of logical for release on svc and
// checks every derived name against that server's limits. Memcached pool
// clusters are assigned, not derived: their Name is set by the caller.
func DeriveNamespace(svc Service, pattern, logical, release string) (Namespace, error) {
	if err := ValidateRelease(release); err != nil {
		return Namespace{}, err
	}
	if err := ValidateLogical(logical); err != nil {
		return Namespace{}, err
	}
	if err := ValidatePattern(pattern); err != nil {
		return Namespace{}, err
	}
	name := ExpandPattern(pattern, logical, release)
	ns := Namespace{Service: svc, Logical: logical, Release: release, Name: name}
	switch svc {
	case MySQL:
		ns.User = name
		if err := ValidateMySQLIdent("MySQL schema", name); err != nil {
			return Namespace{}, err
		}
		if err := ValidateMySQLUser(ns.User); err != nil {
			return Namespace{}, err
		}
	case MongoDB:
		ns.User = name
		if err := ValidateMongoDatabase(name); err != nil {
			return Namespace{}, err
		}
	case RabbitMQ:
		ns.User = strings.TrimPrefix(name, "/")
		if err := ValidateVhost(name); err != nil {
			return Namespace{}, err
		}
	case Memcached:
		// The cluster is assigned from a pool or created by a provider.
	default:
		return Namespace{}, fmt.Errorf("derive namespace: unknown service %q: %w", svc, ErrInvalid)
	}
	return ns, nil
}

// ValidateMySQLIdent checks a schema or table name: 1-64 characters of
// [A-Za-z0-9_$-], not all digits.
func ValidateMySQLIdent(what, name string) error {
	switch {
	case name == "":
		return &NameError{What: what, Name: name, Rule: "must not be empty"}
	case utf8.RuneCountInString(name) > MaxMySQLIdentLen:
		return &NameError{What: what, Name: name, Rule: fmt.Sprintf("is %d characters, MySQL allows %d", utf8.RuneCountInString(name), MaxMySQLIdentLen)}
	case !mysqlIdentRE.MatchString(name):
		return &NameError{What: what, Name: name, Rule: "may hold only letters, digits, '_', '$' and '-'"}
	case strings.Trim(name, "0123456789") == "":
		return &NameError{What: what, Name: name, Rule: "must not be all digits"}
	}
	return nil
}

// ValidateMySQLUser checks a MySQL user name: at most 32 characters.
func ValidateMySQLUser(name string) error {
	if err := ValidateMySQLIdent("MySQL user", name); err != nil {
		return err
	}
	if n := utf8.RuneCountInString(name); n > MaxMySQLUserLen {
		return &NameError{What: "MySQL user", Name: name, Rule: fmt.Sprintf("is %d characters, MySQL allows %d", n, MaxMySQLUserLen)}
	}
	return nil
}

// ValidateMongoDatabase checks a MongoDB database name: under 64 bytes, none
// of / \ . " $ space or NUL.
func ValidateMongoDatabase(name string) error {
	switch {
	case name == "":
		return &NameError{What: "MongoDB database", Name: name, Rule: "must not be empty"}
	case len(name) > MaxMongoDBNameBytes:
		return &NameError{What: "MongoDB database", Name: name, Rule: fmt.Sprintf("is %d bytes, MongoDB requires under 64", len(name))}
	case strings.ContainsAny(name, "/\\. \"$\x00"):
		return &NameError{What: "MongoDB database", Name: name, Rule: `must not contain / \ . " $ space or NUL`}
	case !utf8.ValidString(name):
		return &NameError{What: "MongoDB database", Name: name, Rule: "must be valid UTF-8"}
	}
	return nil
}

// ValidateVhost checks a RabbitMQ virtual host name: 1-255 bytes of
// printable ASCII.
func ValidateVhost(name string) error {
	switch {
	case name == "":
		return &NameError{What: "RabbitMQ vhost", Name: name, Rule: "must not be empty"}
	case len(name) > MaxVhostBytes:
		return &NameError{What: "RabbitMQ vhost", Name: name, Rule: fmt.Sprintf("is %d bytes, RabbitMQ allows %d", len(name), MaxVhostBytes)}
	}
	for _, r := range name {
		if r < 0x21 || r > 0x7e {
			return &NameError{What: "RabbitMQ vhost", Name: name, Rule: "may hold only printable ASCII without spaces"}
		}
	}
	return nil
}

// ElastiCacheID derives an ElastiCache cluster id from a namespace name:
// underscores become hyphens, and the result must be 1-20 characters, a
// lowercase letter first, then lowercase letters, digits and single hyphens,
// not ending in a hyphen.
func ElastiCacheID(name string) (string, error) {
	id := strings.ReplaceAll(name, "_", "-")
	fail := func(rule string) (string, error) {
		return "", &NameError{What: "ElastiCache cluster id", Name: id, Rule: rule}
	}
	switch {
	case id == "":
		return fail("must not be empty")
	case len(id) > MaxElastiCacheIDLen:
		return fail(fmt.Sprintf("is %d characters, ElastiCache allows %d", len(id), MaxElastiCacheIDLen))
	case !elastiCacheRE.MatchString(id):
		return fail("must start with a lowercase letter and hold only lowercase letters, digits and hyphens")
	case strings.Contains(id, "--"):
		return fail("must not contain two hyphens in a row")
	case strings.HasSuffix(id, "-"):
		return fail("must not end with a hyphen")
	}
	return id, nil
}
