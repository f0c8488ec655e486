// Package scrub replaces personal data in a restored release's databases
// with stand-ins, by rules: which column or field, and what to put there.
// It runs after restore and before anyone outside operations can see the
// data; Leftovers counts what still looks like production data, for the
// verify check.
package scrub

import (
	"fmt"
	"strings"

	"github.com/termshift/termshift"
)

// Rule scrubs one column of a MySQL table or one field of a MongoDB
// collection; the vocabulary is the root package's, shared with the
// environment file and verify.
type Rule = termshift.ScrubRule

// Actions.
const (
	ActionFixed            = termshift.ScrubFixed
	ActionEmail            = termshift.ScrubEmail
	ActionHash             = termshift.ScrubHash
	ActionNull             = termshift.ScrubNull
	ActionUnusablePassword = termshift.ScrubUnusablePassword
)

// DefaultEmail is the email template when a rule gives none.
const DefaultEmail = termshift.DefaultScrubEmail

const idPlaceholder = termshift.ScrubIDPlaceholder

// unusablePasswordLen is Django's UNUSABLE_PASSWORD_SUFFIX_LENGTH plus the
// "!" prefix.
const unusablePasswordLen = 41

// ValidateRules checks every rule and reports every problem at once, each
// with the rule's index, in one error wrapping termshift.ErrInvalid.
func ValidateRules(rules []Rule) error {
	var problems []string
	seen := map[string]int{}
	for i, r := range rules {
		for _, p := range r.Problems() {
			problems = append(problems, fmt.Sprintf("rule %d (%s %s.%s): %s", i, termshift.Quote(r.Service), r.Table, r.Column, p))
		}
		key := r.Service + "\x00" + r.Table + "\x00" + r.Column
		if j, dup := seen[key]; dup {
			problems = append(problems, fmt.Sprintf("rule %d (%s %s.%s): scrubs the same column as rule %d", i, termshift.Quote(r.Service), r.Table, r.Column, j))
		} else {
			seen[key] = i
		}
	}
	if len(problems) == 0 {
		return nil
	}
	return fmt.Errorf("%d bad scrub rule(s):\n  %s: %w", len(problems), strings.Join(problems, "\n  "), termshift.ErrInvalid)
}

// needsSalt reports whether any rule hashes.
func needsSalt(rules []Rule) bool {
	for _, r := range rules {
		if r.Action == ActionHash {
			return true
		}
	}
	return false
}

// forService returns the rules of one service, keeping their order.
func forService(rules []Rule, svc termshift.Service) []Rule {
	var out []Rule
	for _, r := range rules {
		if r.Service == string(svc) {
			out = append(out, r)
		}
	}
	return out
}

// Preset returns a named set of rules.
//
// "openedx" scrubs the personal data of an Open edX LMS (edxapp on MySQL,
// the forum on MongoDB) while keeping every key the platform joins on:
//
//   - auth_user.email: user{{id}}@example.invalid, unique per user, cannot
//     receive mail.
//   - auth_user.first_name, last_name: empty, as Open edX's own retirement
//     leaves them.
//   - auth_user.password: unusable, so no production password works in QA;
//     testers log in with accounts they create.
//   - auth_user.username is kept: it is a key (forum author_username,
//     course team lists, URLs), and on its own is a pseudonym.
//   - auth_userprofile.name, meta, location: empty (NOT NULL columns).
//   - auth_userprofile.mailing_address, year_of_birth, phone_number, goals,
//     bio, city: NULL (nullable columns). Country, gender and level of
//     education are kept: coarse, and what demographics pages show.
//   - student_pendingemailchange.new_email: scrubbed like auth_user.email.
//   - student_courseenrollment: nothing; it holds keys and modes only.
//   - forum contents.body: a fixed text, since learners write personal
//     details into posts; contents.title: a fixed text. author_username is
//     kept, it matches auth_user.username.
//   - forum users.email: user{{id}}@example.invalid ({{id}} is the forum
//     user's _id, the LMS user id).
//
// Rules whose table, column or collection does not exist are skipped with a
// warning, so one preset serves every Open edX release.
func Preset(name string) ([]Rule, error) {
	switch name {
	case "openedx":
		my := func(table, column, action, value string) Rule {
			return Rule{Service: string(termshift.MySQL), Table: table, Column: column, Action: action, Value: value}
		}
		mongo := func(coll, field, action, value string) Rule {
			return Rule{Service: string(termshift.MongoDB), Table: coll, Column: field, Action: action, Value: value}
		}
		return []Rule{
			my("auth_user", "email", ActionEmail, ""),
			my("auth_user", "first_name", ActionFixed, ""),
			my("auth_user", "last_name", ActionFixed, ""),
			my("auth_user", "password", ActionUnusablePassword, ""),
			my("auth_userprofile", "name", ActionFixed, ""),
			my("auth_userprofile", "meta", ActionFixed, ""),
			my("auth_userprofile", "location", ActionFixed, ""),
			my("auth_userprofile", "mailing_address", ActionNull, ""),
			my("auth_userprofile", "year_of_birth", ActionNull, ""),
			my("auth_userprofile", "phone_number", ActionNull, ""),
			my("auth_userprofile", "goals", ActionNull, ""),
			my("auth_userprofile", "bio", ActionNull, ""),
			my("auth_userprofile", "city", ActionNull, ""),
			my("student_pendingemailchange", "new_email", ActionEmail, "pending{{id}}@example.invalid"),
			mongo("contents", "body", ActionFixed, "Scrubbed post body."),
			mongo("contents", "title", ActionFixed, "Scrubbed title"),
			mongo("users", "email", ActionEmail, ""),
		}, nil
	}
	return nil, fmt.Errorf("scrub preset %s: unknown (known: openedx): %w", termshift.Quote(name), termshift.ErrNotFound)
}

// Report is what one scrub did.
type Report struct {
	Tables   []TableScrub `json:"tables"`
	Warnings []string     `json:"warnings,omitempty"`
	Seconds  float64      `json:"seconds"`
}

// TableScrub is one rule applied. Rows is how many rows the UPDATE matched
// (MySQL), or how many documents got a new value (MongoDB: a null already
// null, or a field inside an array, is not counted).
type TableScrub struct {
	Table  string `json:"table"`
	Column string `json:"column"`
	Action string `json:"action"`
	Rows   int64  `json:"rows"`
}

// Leftover counts the values of a scrubbed column that still look like
// production data. It never carries the values.
type Leftover struct {
	Table  string `json:"table"`
	Column string `json:"column"`
	Count  int64  `json:"count"`
}
