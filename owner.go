package termshift

import (
	"fmt"
	"regexp"
	"strings"
)

// MaxEnvironmentLen is the longest environment name.
const MaxEnvironmentLen = 40

var environmentRE = regexp.MustCompile(`^[a-z][a-z0-9-]{0,39}$`)

// Owner names who a namespace is carved for: one release of one environment.
// termshift records it on the server itself, beside the namespace (a schema
// comment, a marker document, a vhost's description and tags, a memcached
// marker key, ElastiCache tags), so a second environment on the same servers
// or a naming pattern under which two releases meet can never take another's
// namespace for its own. The zero Owner means that no owner is recorded.
type Owner struct {
	Environment string `json:"environment"`
	Release     string `json:"release"`
}

// String renders the owner as markers and messages write it: "qa/next". A
// part that is not recorded (a marker written before environments were)
// prints as "?"; the zero Owner prints as "".
func (o Owner) String() string {
	if o.IsZero() {
		return ""
	}
	env, rel := o.Environment, o.Release
	if env == "" {
		env = "?"
	}
	if rel == "" {
		rel = "?"
	}
	return env + "/" + rel
}

// IsZero reports whether no owner is recorded.
func (o Owner) IsZero() bool { return o == Owner{} }

// Validate checks both parts: ValidateEnvironment and ValidateRelease.
func (o Owner) Validate() error {
	if err := ValidateEnvironment(o.Environment); err != nil {
		return err
	}
	return ValidateRelease(o.Release)
}

// ParseOwner reads "environment/release", as String writes it, and validates
// both parts.
func ParseOwner(s string) (Owner, error) {
	env, rel, ok := strings.Cut(s, "/")
	if !ok {
		return Owner{}, &NameError{What: "owner", Name: s, Rule: "must be environment/release, e.g. qa/next"}
	}
	o := Owner{Environment: env, Release: rel}
	if err := o.Validate(); err != nil {
		return Owner{}, err
	}
	return o, nil
}

// ValidateEnvironment checks an environment name: ^[a-z][a-z0-9-]{0,39}$,
// so that it fits every server's marker and never holds the '/' that
// separates it from the release in "qa/next".
func ValidateEnvironment(name string) error {
	if environmentRE.MatchString(name) {
		return nil
	}
	rule := "must match ^[a-z][a-z0-9-]{0,39}$ (a lowercase letter, then up to 39 lowercase letters, digits or '-')"
	switch {
	case name == "":
		rule = "must not be empty"
	case len(name) > MaxEnvironmentLen:
		rule = fmt.Sprintf("is %d bytes, longer than %d; %s", len(name), MaxEnvironmentLen, rule)
	}
	return &NameError{What: "environment name", Name: name, Rule: rule}
}
