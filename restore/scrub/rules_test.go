package scrub_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/termshift/termshift"
	"github.com/termshift/termshift/restore/scrub"
)

func TestValidateRulesReportsEveryProblem(t *testing.T) {
	t.Parallel()
	rules := []scrub.Rule{
		{Service: "mysql", Table: "auth_user", Column: "email", Action: "email"},                             // 0 fine
		{Service: "postgres", Table: "auth_user", Column: "email", Action: "email"},                          // 1 service
		{Service: "mysql", Table: "auth user", Column: "email", Action: "fixed"},                             // 2 table name
		{Service: "mysql", Table: "auth_user", Column: "first_name", Action: "shred"},                        // 3 action
		{Service: "mysql", Table: "auth_user", Column: "last_name", Action: "email", Value: "nobody@x.test"}, // 4 no {{id}}
		{Service: "mysql", Table: "auth_user", Column: "password", Action: "null", Value: "x"},               // 5 value on null
		{Service: "mysql", Table: "auth_user", Column: "email", Action: "fixed"},                             // 6 duplicate of 0
		{Service: "mongo", Table: "users", Column: "_id", Action: "hash"},                                    // 7 _id
		{Service: "mongo", Table: "users", Column: "a..b", Action: "null"},                                   // 8 empty segment
		{Service: "mongo", Table: "", Column: "email", Action: "email", Value: "{{id}}"},                     // 9 collection and template
		{Service: "mongo", Table: "contents", Column: "body", Action: "fixed", Value: "x"},                   // 10 fine
	}
	err := scrub.ValidateRules(rules)
	if !errors.Is(err, termshift.ErrInvalid) {
		t.Fatalf("error %v, want ErrInvalid", err)
	}
	msg := err.Error()
	for _, i := range []string{"rule 1 ", "rule 2 ", "rule 3 ", "rule 4 ", "rule 5 ", "rule 6 ", "rule 7 ", "rule 8 ", "rule 9 "} {
		if !strings.Contains(msg, i) {
			t.Errorf("error does not report %q:\n%s", i, msg)
		}
	}
	for _, i := range []string{"rule 0 ", "rule 10 "} {
		if strings.Contains(msg, i) {
			t.Errorf("error reports the good %q:\n%s", i, msg)
		}
	}
	if strings.Count(msg, "rule 9 ") != 2 {
		t.Errorf("rule 9 has two problems, reported %d times:\n%s", strings.Count(msg, "rule 9 "), msg)
	}
}

func TestValidateRulesAcceptsGood(t *testing.T) {
	t.Parallel()
	preset, err := scrub.Preset("openedx")
	if err != nil {
		t.Fatal(err)
	}
	if err := scrub.ValidateRules(preset); err != nil {
		t.Errorf("the openedx preset does not validate: %v", err)
	}
	if err := scrub.ValidateRules(nil); err != nil {
		t.Errorf("no rules: %v", err)
	}
	custom := []scrub.Rule{{Service: "mysql", Table: "t", Column: "c", Action: "email", Value: "qa+{{id}}@scrub.example.org"}}
	if err := scrub.ValidateRules(custom); err != nil {
		t.Errorf("custom email template: %v", err)
	}
}

func TestPresetUnknown(t *testing.T) {
	t.Parallel()
	_, err := scrub.Preset("moodle")
	if !errors.Is(err, termshift.ErrNotFound) || !strings.Contains(err.Error(), "openedx") {
		t.Errorf("error %v, want ErrNotFound listing openedx", err)
	}
}
