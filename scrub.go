package termshift

import (
	"fmt"
	"strings"
)

// ScrubRule scrubs one column of a MySQL table or one field of a MongoDB
// collection: the one vocabulary the environment file, restore/scrub and
// verify share.
type ScrubRule struct {
	Service string `yaml:"service" json:"service"` // "mysql" or "mongo"
	Table   string `yaml:"table" json:"table"`     // MySQL table, or MongoDB collection
	Column  string `yaml:"column" json:"column"`   // MySQL column, or MongoDB field path (dotted)
	// Action is one of:
	//   fixed              every value becomes Value
	//   email              user{{id}}@example.invalid, or the template in Value;
	//                      {{id}} is the row's primary key or the document's _id
	//   hash               hex SHA-256 of salt+value, truncated to the column's length
	//   null               NULL (MySQL) or null (MongoDB)
	//   unusable_password  "!" and 40 random characters: what Django's
	//                      set_unusable_password stores; no password matches it
	Action string `yaml:"action" json:"action"`
	Value  string `yaml:"value" json:"value,omitempty"`
}

// Scrub actions.
const (
	ScrubFixed            = "fixed"
	ScrubEmail            = "email"
	ScrubHash             = "hash"
	ScrubNull             = "null"
	ScrubUnusablePassword = "unusable_password"
)

// ScrubActions lists every action, in the order messages name them.
func ScrubActions() []string {
	return []string{ScrubFixed, ScrubEmail, ScrubHash, ScrubNull, ScrubUnusablePassword}
}

// DefaultScrubEmail is the email template when a rule gives none. The
// .invalid top-level domain is reserved (RFC 2606): mail to it cannot be
// delivered.
const DefaultScrubEmail = "user{{id}}@example.invalid"

// ScrubIDPlaceholder stands for the row's key in an email template.
const ScrubIDPlaceholder = "{{id}}"

// EmailTemplate is the template of an email rule.
func (r ScrubRule) EmailTemplate() string {
	if r.Value == "" {
		return DefaultScrubEmail
	}
	return r.Value
}

// EmailSuffix is what every scrubbed value of an email rule ends with: "@"
// and the template's domain.
func (r ScrubRule) EmailSuffix() string {
	t := r.EmailTemplate()
	return t[strings.LastIndexByte(t, '@'):]
}

func (r ScrubRule) String() string {
	return fmt.Sprintf("%s %s.%s %s", r.Service, r.Table, r.Column, r.Action)
}

// Problems lists what is wrong with a rule; none when it can run.
func (r ScrubRule) Problems() []string {
	var ps []string
	switch r.Service {
	case string(MySQL):
		for _, n := range []struct{ what, name string }{{"table", r.Table}, {"column", r.Column}} {
			if err := ValidateMySQLIdent("MySQL "+n.what, n.name); err != nil {
				ps = append(ps, err.Error())
			}
		}
	case string(MongoDB):
		if r.Table == "" || strings.ContainsAny(r.Table, "$\x00") || strings.HasPrefix(r.Table, "system.") {
			ps = append(ps, fmt.Sprintf("collection %s: must be non-empty, without $ or NUL, not system.*", Quote(r.Table)))
		}
		switch {
		case r.Column == "":
			ps = append(ps, "field path must not be empty")
		case r.Column == "_id" || strings.HasPrefix(r.Column, "_id."):
			ps = append(ps, "field _id cannot be scrubbed: documents are addressed by it")
		default:
			for _, seg := range strings.Split(r.Column, ".") {
				if seg == "" || strings.HasPrefix(seg, "$") || strings.Contains(seg, "\x00") {
					ps = append(ps, fmt.Sprintf("field path %s: empty segment, $ prefix or NUL", Quote(r.Column)))
					break
				}
			}
		}
	default:
		ps = append(ps, "service must be mysql or mongo")
	}
	switch r.Action {
	case ScrubFixed:
	case ScrubEmail:
		t := r.EmailTemplate()
		at := strings.LastIndexByte(t, '@')
		switch {
		case strings.Count(t, ScrubIDPlaceholder) != 1:
			ps = append(ps, fmt.Sprintf("email template %s must hold {{id}} exactly once, so addresses stay unique", Quote(t)))
		case at < 0 || at < strings.Index(t, ScrubIDPlaceholder) || at == len(t)-1:
			ps = append(ps, fmt.Sprintf("email template %s must be local-part@domain with {{id}} in the local part", Quote(t)))
		}
	case ScrubHash, ScrubNull, ScrubUnusablePassword:
		if r.Value != "" {
			ps = append(ps, fmt.Sprintf("action %s takes no value", r.Action))
		}
	default:
		ps = append(ps, fmt.Sprintf("unknown action %s (want %s)", Quote(r.Action), strings.Join(ScrubActions(), ", ")))
	}
	return ps
}
